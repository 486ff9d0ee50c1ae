import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireTool, type ToolGate } from '../helpers/tools.js';
import { DockerIgnore, parseDockerfile } from './image-dockerfile.js';
import { readImageModel, REPO_ROOT } from './image-model.js';
import { assembleRootfs, nodeForImage, snapshot, writeContainerContext, type Rootfs } from './image-rootfs.js';
import { execInLayout, probe, processStatus, startInLayout, type LayoutProcess } from './image-run.js';

/**
 * The container image, proven without a registry:
 *
 * 1. the Dockerfile's required properties, read from the file itself (distroless Node LTS,
 *    numeric non-root USER, VOLUME /data, EXPOSE, STOPSIGNAL, exec-form ENTRYPOINT/CMD...);
 * 2. the runtime layout: the runtime stage's file system assembled on this machine (see
 *    image-rootfs.ts), checked for production dependencies only and for imports that resolve,
 *    then run the way a container runtime runs it (image-run.ts: read-only root, only /data
 *    writable, uid/gid 65532 without capabilities, PID 1, own network namespace, the Dockerfile's
 *    ENV/WORKDIR/ENTRYPOINT/CMD): the demo with its printed key, a mounted config with a key
 *    made by the CLI, /health, a chat completion, the HEALTHCHECK, SIGTERM -> exit 0, and
 *    nothing written outside /data;
 * 3. where podman can run containers: the same tree built into an image `FROM scratch` with the
 *    runtime stage's configuration lines, run `--read-only` with a named volume and a published
 *    loopback port. Optional: skipped with the reason where podman is missing or cannot run
 *    containers, even under CI=true (the layout test is the required proof).
 */

const image = readImageModel();
const KEY_SHAPE = /llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/g;

describe('Dockerfile and .dockerignore', () => {
  test('the runtime stage is distroless Node 22 or 24 on Debian 12, built by stages on the same Node major and Debian release', () => {
    assert.match(image.runtime.from, /^gcr\.io\/distroless\/nodejs(22|24)-debian12\b/);
    assert.ok([22, 24].includes(image.nodeMajor), `Node ${image.nodeMajor} is not a maintained LTS for the image`);
    for (const [stage, from] of image.stageFrom) {
      // Native addons (better-sqlite3) are built in these stages for the runtime's Node ABI and glibc.
      assert.match(from, new RegExp(`^node:${image.nodeMajor}(\\.[\\d.]+)?-bookworm(-slim)?(@sha256:[0-9a-f]{64})?$`), `stage ${stage}: ${from}`);
    }
  });

  test('runs as uid/gid 65532, stops on SIGTERM, exposes the gateway ports, and /data is the one volume', () => {
    assert.equal(image.uid, 65532);
    assert.equal(image.gid, 65532);
    assert.equal(image.stopSignal, 'SIGTERM');
    assert.deepEqual(image.volumes, ['/data']);
    // 8080 and 8443 are the config's default HTTP and TLS ports (src/config/schema.ts).
    assert.ok(image.expose.includes('8080') && image.expose.includes('8443'), `EXPOSE ${image.expose.join(' ')}`);
    assert.ok(image.expose.every((p) => /^\d+(\/tcp)?$/.test(p)));
  });

  test('ENTRYPOINT runs the CLI with distroless node (exec form), CMD is serve, and the HEALTHCHECK needs no shell', () => {
    assert.deepEqual(image.entrypoint, ['/nodejs/bin/node', `${image.workdir}/dist/src/cli/main.js`]);
    assert.deepEqual(image.cmd, ['serve']);
    assert.equal(image.workdir, '/app');
    assert.ok(image.healthcheck && image.healthcheck !== 'NONE', 'a HEALTHCHECK');
    assert.equal(image.healthcheck.command[0], '/nodejs/bin/node');
    assert.match(image.healthcheck.command.join(' '), /\/health\b/);
    // HOST/PORT for the listener only: LLMPROXY_CONFIG in the image would break the demo without a mounted file.
    assert.equal(image.env['LLMPROXY_CONFIG'], undefined);
    assert.equal(image.env['PORT'], undefined, 'an image PORT would override the port of a mounted config (environment > file)');
    assert.equal(image.labels['org.opencontainers.image.licenses'], JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).license);
  });

  test('.dockerignore admits only what the build copies: no secrets, data, dependencies, build output or tests', () => {
    for (const path of ['.env', '.env.local', 'llmproxy.yaml', 'data/llmproxy.db', 'node_modules/zod/package.json', 'dist/src/cli/main.js', '.git/config', 'test/helpers/tools.ts', 'bench/run.ts', 'src/config/load.test.ts', 'src/governance/test-support.ts', 'deploy/kubernetes/base/deployment.yaml', 'key.pem']) {
      assert.ok(image.ignore.excludes(path), `${path} must stay out of the build context`);
    }
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'LICENSE', 'src/cli/main.ts', 'src/providers/demo/index.ts']) {
      assert.ok(!image.ignore.excludes(path), `${path} must be in the build context`);
    }
  });

  test('the parsers read continuation lines, comments inside them, exec forms and .dockerignore negation', () => {
    const stages = parseDockerfile('FROM a AS One\n# c\nRUN x \\\n# inside\n  && y\nCMD ["p", "q r"]\n');
    assert.deepEqual(stages.map((s) => [s.from, s.name]), [['a', 'one']]);
    assert.deepEqual(stages[0]!.instructions.map((i) => [i.keyword, i.args, i.line]), [['RUN', 'x && y', 3], ['CMD', '["p", "q r"]', 6]]);
    const ignore = new DockerIgnore('*\n!src\n**/*.test.ts\n');
    assert.deepEqual(['x', 'src/a.ts', 'src/b/c.test.ts', 'other/src/a.ts'].map((p) => ignore.excludes(p)), [true, false, true, true]);
  });
});

// ---------------------------------------------------------------------------------------------

const layoutGate = await layoutTools();

async function layoutTools(): Promise<string | false> {
  if (process.platform !== 'linux') return 'the runtime layout test needs Linux namespaces';
  if (process.getuid?.() !== 0) {
    const reason = 'the runtime layout test needs root (mount/PID/network namespaces, uid switch); run as root or in CI';
    if (process.env['CI'] === 'true') test('root for the runtime layout test (required under CI=true)', () => assert.fail(reason));
    return reason;
  }
  const gates: ToolGate[] = [
    await requireTool({ bin: 'unshare', apt: ['util-linux'] }),
    await requireTool({ bin: 'nsenter', apt: ['util-linux'] }),
    await requireTool({ bin: 'ip', apt: ['iproute2'] }),
    await requireTool({ bin: 'ldd', apt: ['libc-bin'] }),
    await requireTool({ bin: 'make', apt: ['make'] }),
    await requireTool({ bin: 'g++', apt: ['g++'] }),
    await requireTool({ bin: 'python3', apt: ['python3'] }),
  ];
  return gates.find((g) => g.skip !== false)?.skip ?? false;
}

let work: string;
let rootfs: Rootfs | undefined;
let rootfsError: unknown;

/** Assembled once for the layout and podman tests (the first run compiles better-sqlite3 for the image's Node). */
async function ensureRootfs(): Promise<Rootfs> {
  if (rootfs) return rootfs;
  if (rootfsError) throw rootfsError;
  try {
    work = mkdtempSync(join(tmpdir(), 'llmproxy-image-'));
    chmodSync(work, 0o755);
    const started = Date.now();
    const node = nodeForImage(image.nodeMajor);
    rootfs = assembleRootfs(image, node, join(work, 'rootfs'));
    rootfs.notes.push(`assembled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return rootfs;
  } catch (err) {
    rootfsError = err;
    throw err;
  }
}

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A folder for the data volume: empty, owned by the image's user, as a fresh volume gets it from the image's /data. */
function dataVolume(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const st = statSync(join(rootfs!.root, image.volumes[0]!));
  chownSync(dir, st.uid, st.gid);
  chmodSync(dir, st.mode & 0o7777);
  return dir;
}

function configFolder(name: string, yaml: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'llmproxy.yaml'), yaml, { mode: 0o644 });
  return dir;
}

const CONFIG_YAML = `# A config mounted from outside the image, as a ConfigMap would be.
server: { host: 0.0.0.0, port: 8080 }
storage: { sqlite: { path: /data/llmproxy.db } }
auth: { api_keys: { bootstrap_admin: false } }
instances: { demo: { type: demo } }
model_aliases: { demo-echo: demo/demo-echo }
`;

function chatBody(word: string): string {
  return JSON.stringify({ model: 'demo-echo', messages: [{ role: 'user', content: word }] });
}

function assertChat(res: { status: number; body: string }, word: string): void {
  assert.equal(res.status, 200, res.body);
  const completion = JSON.parse(res.body) as { object: string; choices: Array<{ message: { content: string } }> };
  assert.equal(completion.object, 'chat.completion');
  assert.match(completion.choices[0]?.message.content ?? '', new RegExp(`^You said: "${word}"`));
}

function listening(out: string): Record<string, unknown> | undefined {
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const log = JSON.parse(line) as Record<string, unknown>;
      if (log['msg'] === 'gateway listening') return log;
    } catch {
      // the key banner, not a log line
    }
  }
  return undefined;
}

/** SIGTERM (the image's STOPSIGNAL) to the entrypoint; the exit, at most `ms` later. */
async function stopWithin(p: LayoutProcess, pid: number, ms: number): Promise<{ code: number | null; elapsedMs: number }> {
  const signal = image.stopSignal as NodeJS.Signals;
  const t0 = Date.now();
  process.kill(pid, signal);
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within ${ms} ms of ${signal}\n${p.stdout().slice(-1500)}`)), ms).unref());
  const { code } = await Promise.race([p.exited, timer]);
  return { code, elapsedMs: Date.now() - t0 };
}

describe('the runtime layout, run as the image runs it (read-only root, uid 65532, only /data writable)', { skip: layoutGate }, () => {
  const running: LayoutProcess[] = [];
  before(async () => {
    const r = await ensureRootfs();
    for (const note of r.notes) process.stdout.write(`# layout: ${note}\n`);
  });
  after(() => {
    for (const p of running) p.kill();
  });

  test('holds the production dependencies only, dist/src without tests, package.json and LICENSE', () => {
    const app = join(rootfs!.root, 'app');
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean; optional?: boolean }> };
    const present = (p: string) => existsSync(join(app, p, 'package.json'));
    const devOnly = Object.entries(lock.packages).filter(([p, e]) => p !== '' && e.dev === true);
    const leaked = devOnly.filter(([p]) => present(p)).map(([p]) => p);
    assert.deepEqual(leaked, [], 'dev dependencies in the image');
    for (const name of ['typescript', 'openai', '@anthropic-ai/sdk', 'fast-check', 'oidc-provider', 'autocannon']) assert.ok(!present(`node_modules/${name}`), `${name} is a dev dependency`);
    const missing = Object.entries(lock.packages).filter(([p, e]) => p !== '' && !e.dev && !e.optional && !present(p)).map(([p]) => p);
    assert.deepEqual(missing, [], 'production dependencies missing from the image');
    for (const name of ['better-sqlite3', 'argon2', 'zod', 'pino']) assert.ok(present(`node_modules/${name}`));
    assert.ok(existsSync(join(app, 'dist/src/cli/main.js')));
    assert.ok(existsSync(join(app, 'dist/console/index.html')), 'the console bundle');
    assert.ok(readdirSync(join(app, 'dist/console/assets')).some((f) => /^app-\w+\.js$/.test(f)), 'the console script');
    assert.ok(!existsSync(join(app, 'dist/test')) && !existsSync(join(app, 'dist/bench')), 'no compiled tests or benchmarks');
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)]));
    const testFiles = files(join(app, 'dist/src')).filter((f) => /\.test\.js$|test-support\.js$/.test(f));
    assert.deepEqual(testFiles, []);
    assert.equal(readFileSync(join(app, 'LICENSE'), 'utf8'), readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8'));
    assert.equal(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).name, 'llm-proxy-auth');
  });

  test('every import in dist/src resolves inside the image: relative files exist, packages are production dependencies', () => {
    const app = join(rootfs!.root, 'app');
    const problems: string[] = [];
    const walk = (dir: string) => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.name.endsWith('.js')) {
          const text = readFileSync(p, 'utf8');
          // static imports/re-exports, side-effect imports and literal dynamic imports (the lazily loaded cloud SDKs)
          const specs = [
            ...text.matchAll(/^\s*(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm),
            ...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
            ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
          ].map((m) => m[1]!);
          for (const spec of specs) {
            if (spec.startsWith('node:')) continue;
            if (spec.startsWith('.')) {
              if (!existsSync(posix.resolve(posix.dirname(p), spec))) problems.push(`${p.slice(app.length)}: ${spec} does not exist`);
              continue;
            }
            const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
            if (!existsSync(join(app, 'node_modules', pkg, 'package.json'))) problems.push(`${p.slice(app.length)}: ${pkg} is not a production dependency`);
          }
        }
      }
    };
    walk(join(app, 'dist/src'));
    assert.deepEqual(problems, []);
  });

  test('the demo: first start prints a key, /health and a chat completion answer, the HEALTHCHECK passes, SIGTERM exits 0, nothing is written outside /data', async () => {
    const root = rootfs!.root;
    const skip = ['proc', 'dev', 'sys', image.volumes[0]!.slice(1)];
    const before = snapshot(root, skip);
    const data = dataVolume('demo-data');
    const p = startInLayout(image, root, data, [...image.entrypoint, ...image.cmd], {});
    running.push(p);
    await p.waitForStdout((s) => /Key id \w+:\n\s+llmp_\S+\n[\s\S]*={20,}/.test(s) && listening(s) !== undefined, 30_000);
    const keys = p.stdout().match(KEY_SHAPE) ?? [];
    assert.equal(keys.length, 1, 'one bootstrap key printed');
    const key = keys[0]!;
    const log = listening(p.stdout())!;
    assert.equal(log['config'], 'built-in demo');
    // The demo config says 127.0.0.1; the image's ENV HOST=0.0.0.0 (environment > file) makes a published port reach it.
    assert.equal(log['listen'], 'http://0.0.0.0:8080');

    const pid = await p.pid();
    const status = processStatus(pid);
    assert.equal(status['Uid'], '65532\t65532\t65532\t65532');
    assert.equal(status['Gid'], '65532\t65532\t65532\t65532');
    assert.equal(status['Groups'], '');
    assert.equal(status['CapEff'], '0000000000000000');
    assert.match(status['NSpid'] ?? '', /\t1$/, 'PID 1 in its namespace, as in a container');

    const health = probe(pid, 'http://127.0.0.1:8080/health');
    assert.equal(health.status, 200, health.body);
    const consolePage = probe(pid, 'http://127.0.0.1:8080/console/');
    assert.equal(consolePage.status, 200, 'the console is served from the image');
    assert.match(consolePage.body, /<script type="module" src="assets\/app-\w+\.js"/);
    assert.equal(probe(pid, 'http://127.0.0.1:8080/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('no key') }).status, 401);
    assertChat(probe(pid, 'http://127.0.0.1:8080/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: chatBody('Hello container') }), 'Hello container');

    const hc = image.healthcheck as { command: string[] };
    const healthy = execInLayout(image, pid, hc.command);
    assert.equal(healthy.code, 0, `HEALTHCHECK: ${healthy.stderr}`);
    const unhealthy = execInLayout(image, pid, hc.command, { PORT: '1' });
    assert.equal(unhealthy.code, 1, 'the HEALTHCHECK fails when nothing answers');

    const { code, elapsedMs } = await stopWithin(p, pid, 15_000);
    process.stdout.write(`# layout: ${image.stopSignal} -> exit ${code} in ${elapsedMs} ms\n`);
    assert.equal(code, 0, p.stderr());
    assert.doesNotMatch(p.stdout() + p.stderr(), /EROFS|EACCES|read-only file system/i);

    const db = statSync(join(data, 'llmproxy.db'));
    assert.equal(db.uid, 65532, 'the store is written by the image user, on the volume');
    assert.deepEqual(diff(before, snapshot(root, skip)), [], 'nothing outside /data changed');
  });

  test('a mounted config (LLMPROXY_CONFIG=/etc/llmproxy/llmproxy.yaml, store in /data): the CLI creates a key, serve accepts it', async () => {
    const root = rootfs!.root;
    const data = dataVolume('config-data');
    const configDir = configFolder('config', CONFIG_YAML);
    const env = { LLMPROXY_CONFIG: '/etc/llmproxy/llmproxy.yaml' };

    const cli = startInLayout(image, root, data, [...image.entrypoint, 'keys', 'create', '--name', 'layout', '--json'], { env, configDir });
    running.push(cli);
    const cliExit = await cli.exited;
    assert.equal(cliExit.code, 0, cli.stderr());
    const { key } = JSON.parse(cli.stdout()) as { key: string };
    assert.match(key, KEY_SHAPE);

    const p = startInLayout(image, root, data, [...image.entrypoint, ...image.cmd], { env, configDir });
    running.push(p);
    await p.waitForStdout((s) => listening(s) !== undefined, 30_000);
    assert.equal(listening(p.stdout())!['config'], '/etc/llmproxy/llmproxy.yaml');
    assert.doesNotMatch(p.stdout(), /First start/, 'bootstrap_admin: false prints no key');
    const pid = await p.pid();
    assertChat(probe(pid, 'http://127.0.0.1:8080/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: chatBody('mounted config') }), 'mounted config');
    const { code } = await stopWithin(p, pid, 15_000);
    assert.equal(code, 0, p.stderr());
    assert.ok(existsSync(join(data, 'llmproxy.db')));
  });
});

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} -> ${b.get(k) ?? 'gone'}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`${k}: new`);
  return out;
}

// ---------------------------------------------------------------------------------------------

interface Podman {
  bin: string;
  /** Extra `podman run` flags this machine needs (see PODMAN_WORKAROUNDS). */
  flags: string[];
  /** What was tried, for the report. */
  notes: string[];
}

/**
 * Flags some hosts need, tried only when a plain `podman run` fails (this VM: crun refuses hybrid
 * cgroups, netavark has no iptables, and without CAP_SYS_RESOURCE podman's default 1048576
 * rlimits cannot be set).
 */
const PODMAN_WORKAROUNDS: string[][] = [
  [],
  ['--runtime=runc', '--network=slirp4netns', '--ulimit=nofile=4096:4096', '--ulimit=nproc=4096:4096'],
  ['--network=slirp4netns', '--ulimit=nofile=4096:4096', '--ulimit=nproc=4096:4096'],
];

function podmanCmd(args: string[], timeoutMs = 120_000): { code: number | null; out: string; err: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('podman: the layout built into an image FROM scratch and run --read-only (optional)', { skip: layoutGate }, () => {
  const tag = `localhost/llm-proxy-auth-test:${process.pid}`;
  const cleanup: string[][] = [];
  let podman: Podman | string = 'not set up';

  before(async () => {
    if (!onPath('podman')) {
      podman = 'podman is not installed (apt-get install podman runc slirp4netns to run this part)';
      return;
    }
    const r = await ensureRootfs();
    const context = join(work, 'podman-context');
    writeContainerContext(image, r, context);
    const t0 = Date.now();
    const built = podmanCmd(['build', '--format', 'docker', '--pull=never', '-t', tag, context], 600_000);
    if (built.code !== 0) {
      podman = `podman build failed: ${built.err.trim().split('\n').slice(-3).join(' | ')}`;
      return;
    }
    cleanup.push(['rmi', '-f', tag]);
    const notes = [`podman build FROM scratch: ${((Date.now() - t0) / 1000).toFixed(1)} s`];
    const errors: string[] = [];
    for (const flags of PODMAN_WORKAROUNDS) {
      if (flags.includes('--runtime=runc') && !onPath('runc')) continue;
      const smoke = podmanCmd(['run', '--rm', ...flags, '--entrypoint', '/nodejs/bin/node', tag, '-e', 'process.exit(process.getuid() === 65532 ? 0 : 3)']);
      if (smoke.code === 0) {
        podman = { bin: 'podman', flags, notes: [...notes, flags.length ? `needed ${flags.join(' ')} (${errors.join(' | ')})` : 'default runtime flags'] };
        return;
      }
      errors.push(`${flags.length ? flags.join(' ') : 'defaults'}: ${smoke.err.trim().split('\n').at(-1)}`);
    }
    podman = `podman cannot run containers here: ${errors.join(' | ')}`;
  });

  after(() => {
    for (const args of cleanup.reverse()) podmanCmd(args);
  });

  test('the image config is the Dockerfile runtime stage\'s (user, ports, volume, stop signal, entrypoint, healthcheck)', (t) => {
    if (typeof podman === 'string') return t.skip(podman);
    for (const n of podman.notes) t.diagnostic(n);
    const inspected = JSON.parse(podmanCmd(['image', 'inspect', tag]).out) as Array<{ Config: Record<string, unknown>; Healthcheck?: { Test: string[] } }>;
    const config = inspected[0]!.Config as { User: string; ExposedPorts: Record<string, unknown>; Volumes: Record<string, unknown>; StopSignal: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string };
    assert.equal(config.User, `${image.uid}:${image.gid}`);
    assert.deepEqual(Object.keys(config.ExposedPorts).sort(), image.expose.map((p) => (p.includes('/') ? p : `${p}/tcp`)).sort());
    assert.deepEqual(Object.keys(config.Volumes), image.volumes);
    assert.equal(config.StopSignal, image.stopSignal);
    assert.deepEqual(config.Entrypoint, image.entrypoint);
    assert.deepEqual(config.Cmd, image.cmd);
    assert.equal(config.WorkingDir, image.workdir);
    assert.deepEqual(inspected[0]!.Healthcheck?.Test, ['CMD', ...(image.healthcheck as { command: string[] }).command]);
  });

  const hardened = ['--read-only', '--read-only-tmpfs=false', '--cap-drop=ALL', '--security-opt=no-new-privileges'];

  test('the demo in a container: key printed, /health through the published port, a chat completion from inside, podman healthcheck, podman stop -> exit 0', async (t) => {
    if (typeof podman === 'string') return t.skip(podman);
    const name = `llmproxy-demo-${process.pid}`;
    const volume = `llmproxy-demo-data-${process.pid}`;
    cleanup.push(['volume', 'rm', '-f', volume], ['rm', '-f', name]);
    const port = await freePort();
    const run = podmanCmd(['run', '-d', '--name', name, ...hardened, ...podman.flags, '-v', `${volume}:/data`, '-p', `127.0.0.1:${port}:8080`, tag]);
    assert.equal(run.code, 0, run.err);
    let logs = '';
    for (let i = 0; i < 300 && !/Key id \w+:\n\s+llmp_\S+\n[\s\S]*={20,}/.test(logs); i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = podmanCmd(['logs', name]).out;
    }
    const key = (logs.match(KEY_SHAPE) ?? [])[0];
    assert.ok(key, `no key printed:\n${logs.slice(-2000)}`);
    const inside = (path: string, init: Record<string, unknown> = {}) => {
      const script = `const r = await fetch('http://127.0.0.1:8080${path}', ${JSON.stringify(init)}); console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
      const r = podmanCmd(['exec', name, '/nodejs/bin/node', '--input-type=module', '-e', script]);
      assert.equal(r.code, 0, r.err);
      return JSON.parse(r.out.trim()) as { status: number; body: string };
    };
    assert.equal(inside('/health').status, 200);
    assert.equal(await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status), 200, 'the demo through the published port');
    assertChat(inside('/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: chatBody('Hello podman') }), 'Hello podman');
    const uid = podmanCmd(['exec', name, '/nodejs/bin/node', '-e', 'console.log(process.getuid(), process.getgid())']);
    assert.equal(uid.out.trim(), '65532 65532');
    const hc = podmanCmd(['healthcheck', 'run', name]);
    assert.equal(hc.code, 0, `podman healthcheck run: ${hc.out}${hc.err}`);
    const t0 = Date.now();
    const stop = podmanCmd(['stop', '-t', '20', name]);
    assert.equal(stop.code, 0, stop.err);
    const elapsed = Date.now() - t0;
    const exit = podmanCmd(['inspect', name, '--format', '{{.State.ExitCode}}']).out.trim();
    t.diagnostic(`podman stop: exit ${exit} after ${elapsed} ms`);
    assert.equal(exit, '0', `exit code after SIGTERM:\n${podmanCmd(['logs', name]).err.slice(-1500)}`);
    assert.ok(elapsed < 20_000, 'stopped by SIGTERM, not by the SIGKILL after the timeout');
  });

  test('a mounted config, a key made by the CLI in the image, and a chat completion through the published loopback port', async (t) => {
    if (typeof podman === 'string') return t.skip(podman);
    const name = `llmproxy-cfg-${process.pid}`;
    const volume = `llmproxy-cfg-data-${process.pid}`;
    cleanup.push(['volume', 'rm', '-f', volume], ['rm', '-f', name]);
    const configDir = configFolder('podman-config', CONFIG_YAML);
    const mounts = ['-v', `${volume}:/data`, '-v', `${configDir}:/etc/llmproxy:ro`, '-e', 'LLMPROXY_CONFIG=/etc/llmproxy/llmproxy.yaml'];
    const created = podmanCmd(['run', '--rm', ...hardened, ...podman.flags, ...mounts, tag, 'keys', 'create', '--name', 'podman', '--json']);
    assert.equal(created.code, 0, created.err);
    const { key } = JSON.parse(created.out) as { key: string };
    const port = await freePort();
    const run = podmanCmd(['run', '-d', '--name', name, ...hardened, ...podman.flags, ...mounts, '-p', `127.0.0.1:${port}:8080`, tag]);
    assert.equal(run.code, 0, run.err);
    let health = 0;
    for (let i = 0; i < 300 && health !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      health = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0);
    }
    assert.equal(health, 200, podmanCmd(['logs', name]).out.slice(-1500));
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: chatBody('published port') });
    assertChat({ status: res.status, body: await res.text() }, 'published port');
    const stop = podmanCmd(['stop', '-t', '20', name]);
    assert.equal(stop.code, 0, stop.err);
    assert.equal(podmanCmd(['inspect', name, '--format', '{{.State.ExitCode}}']).out.trim(), '0');
  });
});
