import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { watchChild } from '../helpers/cli.js';
import type { ImageModel } from './image-model.js';

/**
 * Runs the assembled runtime file system the way a container runtime would, with util-linux
 * only (root needed): new mount, PID and network namespaces; the tree bind-mounted read-only
 * with the data folder mounted read-write at the image's VOLUME; `/proc` and `/dev`; then
 * `unshare --root --wd --setuid --setgid` into the Dockerfile's WORKDIR as its USER, exec'ing its
 * ENTRYPOINT + CMD with its ENV. The entrypoint is PID 1 of its namespace, as in a container,
 * and has only a loopback interface, so `HOST=0.0.0.0` reaches nothing outside it.
 *
 * @example
 * const p = startInLayout(image, root, data, [...image.entrypoint, ...image.cmd], {});
 * const pid = await p.pid();
 * probe(pid, 'http://127.0.0.1:8080/health');
 */
export interface LayoutProcess {
  /** The outer `unshare`; it exits with the entrypoint's status. */
  readonly outer: ChildProcess;
  /** The entrypoint's PID on this machine (PID 1 in its namespace). */
  pid(): Promise<number>;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForStdout(predicate: (s: string) => boolean, timeoutMs: number): Promise<void>;
  kill(): void;
}

export interface LayoutOptions {
  /** Added to (or replacing) the image's environment. */
  env?: Record<string, string>;
  /** Bind-mounted read-only at /etc/llmproxy, as a ConfigMap or `-v cfg:/etc/llmproxy:ro` would be. */
  configDir?: string;
}

// Positional: root, data, volume, config dir ('' = none), workdir, uid, gid, then the argv.
const SCRIPT = `set -e
R="$1"; D="$2"; V="$3"; C="$4"; W="$5"; U="$6"; G="$7"; shift 7
ip link set lo up
mount --bind "$R" "$R"
mount --bind "$D" "$R$V"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
if [ -n "$C" ]; then mount --bind "$C" "$R/etc/llmproxy"; mount -o remount,bind,ro "$R/etc/llmproxy"; fi
mount -o remount,bind,ro "$R"
exec unshare --root="$R" --wd="$W" --setgid="$G" --setuid="$U" -- "$@"
`;

/** The environment a container of this image starts with (Docker adds HOME from the user's passwd entry). */
export function containerEnv(image: ImageModel, extra: Record<string, string> = {}): Record<string, string> {
  return { HOME: '/home/nonroot', ...image.env, ...extra };
}

export function startInLayout(image: ImageModel, root: string, dataDir: string, argv: string[], options: LayoutOptions): LayoutProcess {
  const volume = image.volumes[0];
  if (volume === undefined) throw new Error('the image declares no VOLUME');
  const outer = spawn(
    'unshare',
    [
      '--mount', '--pid', '--net', '--fork', '--kill-child', '--propagation', 'private', '--',
      'sh', '-c', SCRIPT, 'sh', root, dataDir, volume, options.configDir ?? '', image.workdir, String(image.uid), String(image.gid), ...argv,
    ],
    { env: containerEnv(image, options.env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const watch = watchChild(outer, 'the layout');
  let found: number | undefined;
  return {
    outer,
    async pid() {
      // `unshare --fork`'s child becomes the entrypoint by exec: the one process whose parent is the outer unshare.
      await watch.waitFor('the entrypoint process', () => (found ??= childOf(outer.pid!)) !== undefined, 10_000);
      return found!;
    },
    stdout: () => watch.stdout(),
    stderr: () => watch.stderr(),
    exited: watch.exited,
    waitForStdout: (predicate, timeoutMs) => watch.waitFor('the expected output', () => predicate(watch.stdout()), timeoutMs),
    kill: () => {
      if (!watch.exitStatus()) outer.kill('SIGKILL'); // --kill-child takes the namespace with it
    },
  };
}

function childOf(ppid: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `docker exec`: `argv` inside the running layout's namespaces and root, as the image's USER, with the image's environment. */
export function execInLayout(image: ImageModel, pid: number, argv: string[], env: Record<string, string> = {}): ExecResult {
  const r = spawnSync(
    'nsenter',
    // --root and --wd without a value: the target's root and working directory (the WORKDIR).
    ['--target', String(pid), '--mount', '--net', '--pid', '--root', '--wd', `--setgid=${image.gid}`, `--setuid=${image.uid}`, '--', ...argv],
    { env: containerEnv(image, env), encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

export interface ProbeResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * An HTTP request from inside the layout's network namespace (this test's Node, as root, on this
 * machine's file system): how the test reaches 127.0.0.1:8080 of the "container".
 */
export function probe(pid: number, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): ProbeResult {
  const script = `const [url, init] = JSON.parse(process.argv[1]);
try {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(15000) });
  console.log(JSON.stringify({ status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() }));
} catch (err) { console.log(JSON.stringify({ status: 0, headers: {}, body: String(err && err.cause || err) })); }`;
  const r = spawnSync('nsenter', ['--target', String(pid), '--net', '--', process.execPath, '--input-type=module', '-e', script, JSON.stringify([url, init])], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`probe ${url} failed: ${r.stderr}${r.error ? String(r.error) : ''}`);
  return JSON.parse(r.stdout.trim()) as ProbeResult;
}

/** Uid, Gid, Groups, CapEff, NoNewPrivs... of a process, from /proc/<pid>/status. */
export function processStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
