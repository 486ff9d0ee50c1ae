import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, runCliJson, startServe, tempDir, type ServeProcess } from './cli.js';
import { freshDatabase, freshRedisPrefix, SERVICE_URLS } from './services.js';
import { startBalancer, type Balancer, type FaultProxy } from './tcp.js';

/**
 * A real replica fleet: N `llmproxy serve` child processes on one fresh PostgreSQL database and
 * one Redis key prefix, behind a round-robin TCP balancer (test/helpers/tcp.ts). Nothing is
 * in-process: tests talk HTTP to the balancer or to one replica, and kill replicas with real
 * signals.
 *
 * Before the replicas start, an admin key is created with the CLI (which also migrates the
 * database), and `auth.api_keys.bootstrap_admin` is off, so no replica prints a key banner.
 * The connection URLs are written to files the config names as `${file:...}`, as a mounted
 * Kubernetes Secret would hold them; with `via`, they point at fault proxies instead of the
 * servers, so a test can cut the whole fleet from PostgreSQL or Redis.
 *
 * Children never outlive the test process: `close()` stops them (SIGTERM, then SIGKILL), an
 * exit hook SIGKILLs any left, and each child ends itself if its parent disappears (a preload
 * that watches its parent pid, for a test runner killed with SIGKILL).
 *
 * @example
 * const fleet = await startFleet({ replicas: 3, config: { limits: { default: { rpm: 100 } } } });
 * try {
 *   const { key } = await fleet.createKey({ name: 'app', rpm: 10 });
 *   await fetch(`${fleet.url}/openai/demo/chat/completions`, { ... });
 *   fleet.replicas[1]!.kill('SIGKILL');
 * } finally {
 *   await fleet.close();
 * }
 */
export interface FleetOptions {
  /** How many `llmproxy serve` processes (default 3). */
  replicas?: number;
  /** Deep-merged over the fleet's base config (a demo instance, PostgreSQL + Redis storage, no bootstrap key). */
  config?: Record<string, unknown>;
  /** Added to (or, as undefined, removed from) each child's environment. */
  env?: Record<string, string | undefined>;
  /** Folder for the config and URL files (default: a fresh temp folder, removed on close). */
  dir?: string;
  /** Fault proxies the replicas reach PostgreSQL / Redis through (shared by all replicas). */
  via?: { postgres?: FaultProxy; redis?: FaultProxy };
  /** Bound for each replica to log `gateway listening` and then answer `/ready` 200 (default 30 s). */
  startTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Replica {
  /** Position in `fleet.replicas` and target index in the balancer. */
  readonly index: number;
  /** `http://127.0.0.1:<port>` of this replica, bypassing the balancer. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly process: ServeProcess;
  /** Everything the child wrote so far, stdout then stderr (JSON log lines; never a key or URL). */
  logs(): string;
  /** Parsed JSON log lines (stdout). */
  jsonLogs(): Array<Record<string, unknown>>;
  /** Sends `signal` (default SIGTERM) if the child is still running. */
  kill(signal?: NodeJS.Signals): void;
  readonly exited: Promise<ExitStatus>;
  /** Whether the child has not exited yet. */
  alive(): boolean;
}

export interface CreatedKey {
  id: string;
  key: string;
  [field: string]: unknown;
}

export interface AdminAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface Fleet {
  /** The balancer's base URL. */
  readonly url: string;
  readonly balancer: Balancer;
  readonly replicas: Replica[];
  /** An admin API key (created with the CLI before the replicas started). */
  readonly adminKey: string;
  readonly adminKeyId: string;
  /** The fleet's database URL (direct, never through a proxy) and name, for cross-checks with `pg`. */
  readonly database: { url: string; name: string };
  readonly redisPrefix: string;
  /** The config file every replica runs with. */
  readonly configFile: string;
  readonly dir: string;
  /** Calls the admin API (`/admin/v1/<path>`) with the admin key, through the balancer or on `replica`. */
  admin(method: string, path: string, body?: unknown, replica?: Replica): Promise<AdminAnswer>;
  /** Creates a key through the admin API (`POST /admin/v1/keys`; fields as it takes them: name, role, rpm, tpm, budget_usd, ...). */
  createKey(spec: Record<string, unknown> & { name: string }): Promise<CreatedKey>;
  /** Starts a fresh process in slot `index` (after the old one exited or was killed) and puts it back behind the balancer. */
  restart(index: number): Promise<Replica>;
  /** The last `tail` characters of each replica's output, for assertion messages. */
  describe(tail?: number): string;
  /** SIGTERM every replica (SIGKILL after a bounded wait), close the balancer, drop the database and Redis keys. */
  close(): Promise<void>;
}

const live = new Set<ServeProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.kill();
  });
}

/**
 * Run in each child (`--import`): ends the replica (SIGTERM, a normal drain) once its parent is
 * gone, so a test runner killed outright leaves no gateway behind. The timer is unref'd: it
 * never keeps the process alive.
 */
const WATCHDOG = `const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM'); }, 500).unref();
`;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/** `url` with its host and port replaced by the proxy's loopback address. */
function through(url: string, proxy: FaultProxy | undefined): string {
  if (!proxy) return url;
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

async function waitReady(url: string, process: ServeProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (process.child.exitCode !== null || process.child.signalCode !== null) throw new Error(`replica ${url} exited before /ready answered 200`);
    try {
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`replica ${url} not ready within ${timeoutMs} ms (last /ready: ${last.slice(0, 500)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const count = options.replicas ?? 3;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? tempDir('llmproxy-fleet-');
  const db = await freshDatabase();
  const redisPrefix = freshRedisPrefix();
  const replicas: Replica[] = [];
  let balancer: Balancer | undefined;
  installExitHook();

  const cleanup = async () => {
    await balancer?.close();
    await Promise.all(
      replicas.map(async (r) => {
        try {
          await r.process.stop(10_000);
        } catch {
          // stop() has SIGKILLed it; wait for the exit so no handle stays open.
          await r.process.waitForExit(5000).catch(() => undefined);
        } finally {
          live.delete(r.process);
        }
      }),
    );
    await db.drop().catch(() => undefined);
    await redisPrefix.cleanup().catch(() => undefined);
    if (ownDir) removeDir(dir);
  };

  try {
    const postgresFile = join(dir, 'postgres-url');
    const redisFile = join(dir, 'redis-url');
    writeFileSync(postgresFile, `${through(db.url, options.via?.postgres)}\n`, { mode: 0o600 });
    writeFileSync(redisFile, `${through(SERVICE_URLS.redis, options.via?.redis)}\n`, { mode: 0o600 });
    const watchdogFile = join(dir, 'watchdog.mjs');
    writeFileSync(watchdogFile, WATCHDOG);

    const base: Record<string, unknown> = {
      server: { host: '127.0.0.1', shutdown_timeout: '5s' },
      instances: { demo: { type: 'demo' } },
      storage: {
        postgres: { url: `\${file:${postgresFile}}`, pool_size: 4 },
        redis: { url: `\${file:${redisFile}}`, key_prefix: redisPrefix.prefix },
      },
      auth: { api_keys: { bootstrap_admin: false } },
    };
    const config = deepMerge(base, options.config ?? {});
    const configFile = join(dir, 'llmproxy.yaml');
    writeFileSync(configFile, JSON.stringify(config, null, 2));

    const admin = await runCliJson<{ id: string; key: string }>(['keys', 'create', '--name', 'fleet-admin', '--role', 'admin', '--json', '--config', configFile], { cwd: dir });
    const env = { ...options.env, NODE_OPTIONS: `--import=${watchdogFile}` };

    const startReplica = async (index: number): Promise<Replica> => {
      const proc = await startServe(['--config', configFile, '--host', '127.0.0.1', '--port', '0'], { cwd: dir, env, timeoutMs: startTimeoutMs });
      live.add(proc);
      void proc.exited.then(() => live.delete(proc));
      await waitReady(proc.url, proc, startTimeoutMs).catch((err: unknown) => {
        proc.kill();
        throw new Error(`${(err as Error).message}\n${proc.stdout().slice(-4000)}\n${proc.stderr().slice(-4000)}`);
      });
      return {
        index,
        url: proc.url,
        port: proc.port,
        pid: proc.child.pid!,
        process: proc,
        logs: () => proc.stdout() + proc.stderr(),
        jsonLogs: () => proc.logs(),
        kill(signal = 'SIGTERM') {
          if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
        },
        exited: proc.exited,
        alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
      };
    };

    // Started together, as a rollout would.
    const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startReplica(i)));
    for (const s of started) if (s.status === 'fulfilled') replicas.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    replicas.sort((a, b) => a.index - b.index);
    balancer = await startBalancer(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
    const lb = balancer;

    const adminCall = async (method: string, path: string, body?: unknown, replica?: Replica): Promise<AdminAnswer> => {
      const res = await fetch(`${replica?.url ?? lb.url}/admin/v1/${path}`, {
        method,
        headers: { authorization: `Bearer ${admin.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { text };
      }
      return { status: res.status, body: parsed };
    };

    return {
      url: lb.url,
      balancer: lb,
      replicas,
      adminKey: admin.key,
      adminKeyId: admin.id,
      database: { url: db.url, name: db.name },
      redisPrefix: redisPrefix.prefix,
      configFile,
      dir,
      admin: adminCall,
      async createKey(spec) {
        const answer = await adminCall('POST', 'keys', spec);
        if (answer.status !== 201) throw new Error(`creating key ${spec.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
        return answer.body as CreatedKey;
      },
      async restart(index) {
        const old = replicas[index];
        if (old?.alive()) throw new Error(`replica ${index} is still running; kill it first`);
        const replica = await startReplica(index);
        replicas[index] = replica;
        lb.setTargets(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
        return replica;
      },
      describe(tail = 3000) {
        return replicas.map((r) => `--- replica ${r.index} (pid ${r.pid}, ${r.alive() ? 'running' : 'exited'}) ---\n${r.logs().slice(-tail)}`).join('\n');
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
