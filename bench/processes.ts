import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * What the load benchmarks (run.ts, streams.ts) share: the processes they start — emulators,
 * the gateway, the floor proxy — each pinned to its core when the machine allows, and all killed
 * when the benchmark exits, however it exits.
 *
 * Placement on a 2-core machine: the gateway (or the floor) alone on core 0, the emulators and
 * the load generator on core 1.
 */

export const PROVIDER_KEY = 'sk-bench-provider-key-0000000000000000';
export const AWS_KEY = { accessKeyId: 'AKIABENCHBENCHBENCH0', secretAccessKey: 'bench/secret/access/key/0000000000000000' };
const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'dist/src/cli/main.js');

/** cpus(), not availableParallelism(): a benchmark re-runs itself pinned to one core. */
export const pinning = cpus().length >= 2 && !spawnSync('taskset', ['-c', '0', 'true']).error;

/** The command line that runs `args` (node's) on `core` when pinning is possible. */
export function onCore(core: 0 | 1, args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', String(core), process.execPath, ...args]] : [process.execPath, args];
}

export interface Upstreams {
  openai: string;
  bedrock: string;
}

export class BenchProcesses {
  readonly scratch = mkdtempSync(join(tmpdir(), 'llmproxy-bench-'));
  /** The gateway's JSON log (one line per request), read by a benchmark before it exits. */
  readonly gatewayLog = join(this.scratch, 'gateway.log');
  /** The environment of every child: the credentials the emulators accept and the gateway sends. */
  readonly env: NodeJS.ProcessEnv = { ...process.env, BENCH_PROVIDER_KEY: PROVIDER_KEY, BENCH_AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId, BENCH_AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey };
  readonly #children: ChildProcess[] = [];
  #stopping = false;

  constructor() {
    process.once('exit', () => {
      for (const c of this.#children) c.kill('SIGKILL');
      rmSync(this.scratch, { recursive: true, force: true });
    });
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
  }

  /** The emulators (emulator-process.ts) on core 1, `extraEnv` shaping their answers; their URLs and pid. */
  async startEmulators(extraEnv: Record<string, string> = {}): Promise<Upstreams & { pid: number }> {
    const { value, pid } = await this.#startPrinting<Upstreams>(1, [join(root, 'dist/bench/emulator-process.js')], extraEnv, 'the emulators');
    return { ...value, pid };
  }

  /** The floor proxy (floor-proxy.ts) on core 0, accepting `clientKey` and forwarding to `upstreams`. */
  async startFloor(upstreams: Upstreams, clientKey: string): Promise<{ url: string; pid: number }> {
    const env = {
      FLOOR_CLIENT_KEY: clientKey,
      FLOOR_OPENAI_URL: upstreams.openai,
      FLOOR_PROVIDER_KEY: PROVIDER_KEY,
      FLOOR_BEDROCK_URL: upstreams.bedrock,
      FLOOR_AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId,
      FLOOR_AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey,
    };
    const { value, pid } = await this.#startPrinting<{ url: string }>(0, [join(root, 'dist/bench/floor-proxy.js')], env, 'the floor proxy');
    return { url: value.url, pid };
  }

  /** Writes the gateway's config (`yaml` lines after the server line), creates an API key, returns it. */
  configureGateway(port: number, serverExtra: string, instances: string[]): { config: string; key: string } {
    const config = join(this.scratch, 'llmproxy.yaml');
    writeFileSync(
      config,
      [
        `server: { host: 127.0.0.1, port: ${port}${serverExtra ? `, ${serverExtra}` : ''} }`,
        `storage: { sqlite: { path: ${JSON.stringify(join(this.scratch, 'llmproxy.db'))} } }`,
        'auth: { api_keys: { bootstrap_admin: false } }',
        'instances:',
        ...instances,
        '',
      ].join('\n'),
    );
    const created = spawnSync(process.execPath, [cli, 'keys', 'create', '--config', config, '--name', 'bench', '--json'], { encoding: 'utf8', env: this.env });
    if (created.status !== 0) throw new Error(`keys create failed: ${created.stderr}`);
    return { config, key: (JSON.parse(created.stdout) as { key: string }).key };
  }

  /** The gateway on core 0; its JSON log goes to a file, as in production (a pipe back here would load core 1). */
  startGateway(config: string, nodeArgs: string[] = []): ChildProcess {
    const logPath = this.gatewayLog;
    const logFd = openSync(logPath, 'a');
    const [cmd, args] = onCore(0, [...nodeArgs, cli, 'serve', '--config', config]);
    const child = spawn(cmd, args, { env: this.env, stdio: ['ignore', logFd, logFd] });
    this.#children.push(child);
    child.once('exit', (code, signal) => {
      if (!this.#stopping) {
        console.error(`gateway exited early (${code ?? signal}); its log:\n${readFileSync(logPath, 'utf8').slice(-4000)}`);
        process.exit(1);
      }
    });
    return child;
  }

  /** SIGTERM to every child (the emulators' stdout pipes would otherwise keep this process alive). */
  stop(): void {
    this.#stopping = true;
    for (const c of this.#children) c.kill('SIGTERM');
  }

  /** Starts a node script that prints one JSON line once ready; that line, and the pid (taskset execs node in place: the same pid). */
  async #startPrinting<T>(core: 0 | 1, script: string[], extraEnv: Record<string, string>, what: string): Promise<{ value: T; pid: number }> {
    const [cmd, args] = onCore(core, script);
    const stdio: StdioOptions = ['ignore', 'pipe', 'inherit'];
    const child = spawn(cmd, args, { env: { ...this.env, ...extraEnv }, stdio });
    this.#children.push(child);
    for await (const line of createInterface({ input: child.stdout! })) return { value: JSON.parse(line) as T, pid: child.pid! };
    throw new Error(`${what} exited before printing their address`);
  }
}

export async function waitForHealth(url: string, what = 'the gateway'): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not become healthy within 20 s`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Peak (VmHWM) and current (VmRSS) resident memory of a process, in MB. */
export function processMemory(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: round(kb('VmHWM') / 1024, 1), now: round(kb('VmRSS') / 1024, 1) };
}

/**
 * Milliseconds a process's threads (all of them: V8's GC helpers too) have run on a CPU and have
 * waited on a run queue for one, from /proc/<pid>/task/<tid>/schedstat (kernel schedstats). The
 * wait is what other processes on the same core cost it. Threads that ended are not counted.
 */
export function cpuTime(pid: number): { runMs: number; waitMs: number } {
  let run = 0;
  let wait = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [r, w] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      run += r ?? 0;
      wait += w ?? 0;
    } catch {
      // the thread ended meanwhile
    }
  }
  return { runMs: run / 1e6, waitMs: wait / 1e6 };
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The soft and hard limits on open files of a process (Infinity: unlimited). */
export function fileLimits(pid: number | 'self'): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  const value = (s: string | undefined) => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: value(line?.[1]), hard: value(line?.[2]) };
}

/** Values of unlabelled samples on the gateway's /metrics, by full name (NaN when absent). */
export async function gatewayMetrics(url: string, names: string[]): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Object.fromEntries(names.map((n) => [n, Number(new RegExp(`^${n} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)]));
}

export function positiveInt(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}
