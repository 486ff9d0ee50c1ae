import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry (`llmproxy` bin): dist/src/cli/main.js. */
export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The repository's package.json (for `llmproxy version`). */
export const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  /** Added to (or, as undefined, removed from) the environment the child gets. */
  env?: Record<string, string | undefined>;
  /** The child is killed after this long (default 30 s); the result then has `signal` set. */
  timeoutMs?: number;
}

/** A fresh temp folder, removed by `removeDir`. */
export function tempDir(prefix = 'llmproxy-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The environment a CLI child runs with: this process's, minus `LLMPROXY_CONFIG` and the
 * variables that override the config (`PORT`, `HOST`, `LOG_LEVEL`, `TLS_*_FILE`,
 * `LLMPROXY_SERVER_*`), so config is only ever chosen deliberately, plus `extra` (an undefined
 * value removes a variable).
 */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (/^(LLMPROXY_CONFIG|PORT|HOST|LOG_LEVEL|AUTH_ENABLED|TLS_CERT_FILE|TLS_KEY_FILE|LLMPROXY_SERVER_.*)$/.test(name)) delete env[name];
  delete env['NODE_OPTIONS'];
  delete env['NODE_TEST_CONTEXT'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  // On an alternate Node, scripts/run-tests.mjs preloads its addon redirect; a gateway without it
  // would load better-sqlite3 built for the machine's Node. Kept beside a test's own preloads.
  const preload = process.env['LLMPROXY_TEST_PRELOAD'];
  if (preload) env['NODE_OPTIONS'] = `--import=${preload}${env['NODE_OPTIONS'] ? ` ${env['NODE_OPTIONS']}` : ''}`;
  return env;
}

/** Runs `llmproxy <args>` to completion (bounded by `timeoutMs`). */
export function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: options.cwd, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `llmproxy <args>`, asserting exit 0, and parses its stdout as JSON. */
export async function runCliJson<T = Record<string, unknown>>(args: string[], options: CliOptions): Promise<T> {
  const r = await runCli(args, options);
  if (r.code !== 0) throw new Error(`llmproxy ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A running `llmproxy serve` child. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>`, from the `gateway listening` log line. */
  readonly url: string;
  readonly port: number;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines written to stdout so far (other text, such as the key banner, is skipped). */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit status once the child has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for the exit, at most `timeoutMs`; rejects if the child is still running then. */
  waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until `predicate` holds for stdout, at most `timeoutMs`. */
  waitForStdout(predicate: (stdout: string) => boolean, timeoutMs: number): Promise<void>;
  /** SIGTERM, then the exit (at most `timeoutMs`); SIGKILL if it does not come. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running (cleanup). */
  kill(): void;
}

/**
 * Starts `llmproxy serve <args>` and resolves once it logs `gateway listening` (at most
 * `timeoutMs`). Rejects, with what the child printed, if it exits or times out first.
 */
export async function startServe(args: string[], options: CliOptions): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI_MAIN, 'serve', ...args], { cwd: options.cwd, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const watch = watchChild(child, 'llmproxy serve');
  const stdout = () => watch.stdout();

  const parseLogs = () =>
    stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });

  const waitForStdout = (predicate: (s: string) => boolean, timeoutMs: number) => watch.waitFor('the expected output', () => predicate(stdout()), timeoutMs);
  const { waitForExit, exited } = watch;

  const kill = () => {
    if (!watch.exitStatus() && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };

  const isListening = (l: Record<string, unknown>) => l['msg'] === 'gateway listening' && typeof l['listen'] === 'string';
  try {
    await waitForStdout(() => parseLogs().some(isListening), options.timeoutMs ?? 30_000);
  } catch (err) {
    kill();
    throw err;
  }
  const url = parseLogs().find(isListening)!['listen'] as string;
  return {
    child,
    url,
    port: Number(new URL(url).port),
    stdout,
    stderr: () => watch.stderr(),
    logs: parseLogs,
    exited,
    waitForExit,
    waitForStdout,
    async stop(timeoutMs = 20_000) {
      const status = watch.exitStatus();
      if (status) return status;
      child.kill('SIGTERM');
      try {
        return await waitForExit(timeoutMs);
      } catch (err) {
        kill();
        throw err;
      }
    },
    kill,
  };
}

export type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

/** A child's output so far and its exit, with waits that fail (showing what it printed) when it exits first or the time runs out. */
export interface ChildWatch {
  stdout(): string;
  stderr(): string;
  exitStatus(): ExitStatus | undefined;
  readonly exited: Promise<ExitStatus>;
  /** Resolves once `predicate` holds (checked on each output and at exit), at most `timeoutMs`. */
  waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void>;
  /** Waits for the exit, at most `timeoutMs`; rejects if the child is still running then. */
  waitForExit(timeoutMs: number): Promise<ExitStatus>;
}

/** Collects `child`'s stdout and stderr (piped) and watches for its exit; `name` goes into error messages. */
export function watchChild(child: ChildProcess, name: string): ChildWatch {
  let stdout = '';
  let stderr = '';
  let status: ExitStatus | undefined;
  const watchers = new Set<() => void>();
  const notify = () => {
    for (const w of [...watchers]) w();
  };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    notify();
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      status = { code, signal };
      notify();
      resolve(status);
    });
  });
  const printed = () => `\nstdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`;
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exitStatus: () => status,
    exited,
    waitFor: (what, predicate, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (predicate()) return done(undefined);
          if (status) return done(new Error(`${name} exited (${status.code ?? status.signal}) before ${what}.${printed()}`));
        };
        const timer = setTimeout(() => done(new Error(`${name}: ${what} not seen within ${timeoutMs} ms.${printed()}`)), timeoutMs);
        const done = (err: Error | undefined) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (err) reject(err);
          else resolve();
        };
        watchers.add(check);
        check();
      }),
    waitForExit: (timeoutMs) =>
      new Promise<ExitStatus>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} still running after ${timeoutMs} ms.${printed()}`)), timeoutMs);
        void exited.then((s) => {
          clearTimeout(timer);
          resolve(s);
        });
      }),
  };
}

/** Resolves to whether a new TCP connection to 127.0.0.1:`port` is refused (bounded by `timeoutMs`). */
export function connectionRefused(port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (refused: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(refused);
    };
    socket.once('connect', () => finish(false));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED'));
  });
}

/** Polls `probe` until it returns true (at most `timeoutMs`, `intervalMs` apart); resolves to the last result. */
export async function pollUntil(probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
