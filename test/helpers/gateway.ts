import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { issueKey, type KeySpec } from '../../src/clientauth/api-key/issue.js';
import { validate } from '../../src/config/load.js';

export interface TestGateway {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Every listener's address (main, and `tls` / `metrics` when configured). */
  addresses: Awaited<ReturnType<App['listen']>>;
  app: App;
  /** Every JSON log line the gateway wrote. */
  logs: string[];
  /** A temp folder for this gateway (its SQLite file lives here). */
  dir: string;
  /** Issues a key (default: developer, unscoped) and returns the full key string. */
  key(spec?: Partial<KeySpec>): Promise<string>;
  issued(spec?: Partial<KeySpec>): Promise<{ key: string; id: string }>;
  /** Waits for the log lines and audit rows of finished requests to be written. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a whole gateway in this process on 127.0.0.1:0 from a config object (validated like a
 * file), with its SQLite store in a temp folder and its logs captured.
 */
export async function startGateway(config: Record<string, unknown>, options: { dir?: string } = {}): Promise<TestGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'llmproxy-test-'));
  const raw = {
    ...config,
    server: { host: '127.0.0.1', port: 0, ...(config['server'] as object | undefined) },
    // The SQLite file always lives in the temp folder; a test may add `postgres` / `redis`.
    storage: { ...(config['storage'] as object | undefined), sqlite: { path: join(dir, 'llmproxy.db') } },
  };
  const logs: string[] = [];
  const app = await createApp({
    loaded: { config: validate(raw, 'test config'), source: 'test config', baseDir: dir },
    logDestination: { write: (line: string) => void logs.push(line) },
  });
  const addresses = await app.listen();
  const port = addresses.main.port;
  const issued = async (spec: Partial<KeySpec> = {}) => {
    const r = await issueKey(app.store.keys, { name: 'test', ...spec });
    return { key: r.key, id: r.record.id };
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    addresses,
    app,
    logs,
    dir,
    issued,
    key: async (spec) => (await issued(spec)).key,
    async settle() {
      await new Promise((r) => setTimeout(r, 20));
      await app.audit.flush();
    },
    async close() {
      await app.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Parsed log lines whose `msg` is `request`. */
export function requestLogs(gw: TestGateway): Array<Record<string, unknown>> {
  return gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'request');
}
