import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * The local PostgreSQL and Redis servers the storage tests use (DESIGN §5): 127.0.0.1:5432 as
 * user `postgres` and 127.0.0.1:6379, overridable with LLMPROXY_TEST_POSTGRES_URL /
 * LLMPROXY_TEST_REDIS_URL.
 *
 * `requireService` is the one place that decides what a missing server means: the tests that
 * need it are reported as skipped, naming the server, except under CI (`CI=true`), where a
 * failing test says the server is missing. Never a silent pass.
 *
 * @example
 * const postgres = await requireService('postgres');
 * describe('PostgreSQL store', { skip: postgres.skip }, () => { ... });
 */
export type ServiceKind = 'postgres' | 'redis';

export const SERVICE_URLS: Record<ServiceKind, string> = {
  postgres: process.env['LLMPROXY_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redis: process.env['LLMPROXY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
};

const NAMES: Record<ServiceKind, string> = { postgres: 'PostgreSQL', redis: 'Redis' };

export interface ServiceGate {
  /** For `describe`/`test` options: false when the server answered, else the skip reason. */
  skip: string | false;
  url: string;
}

const probes = new Map<ServiceKind, Promise<string | undefined>>();

/** Resolves to why `kind` is unusable, or undefined when it answered a query within 3 s. */
function probe(kind: ServiceKind): Promise<string | undefined> {
  let p = probes.get(kind);
  if (!p) {
    p = (kind === 'postgres' ? probePostgres() : probeRedis()).then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    probes.set(kind, p);
  }
  return p;
}

async function probePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: SERVICE_URLS.postgres, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function probeRedis(): Promise<void> {
  const redis = new Redis(SERVICE_URLS.redis, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined;
  redis.on('error', (err: Error) => void (cause ??= err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw cause ?? err;
  } finally {
    redis.disconnect();
  }
}

export async function requireService(kind: ServiceKind): Promise<ServiceGate> {
  const url = SERVICE_URLS[kind];
  const problem = await probe(kind);
  if (problem === undefined) return { skip: false, url };
  const where = `${NAMES[kind]} at ${hostOf(url)}`;
  if (process.env['CI'] === 'true') {
    test(`${where} is reachable (required under CI=true)`, () => {
      throw new Error(`${where} is not reachable: ${problem}`);
    });
  }
  return { skip: `${where} is not reachable (${problem})`, url };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Creates a database of its own on the local server for one test (or one store), so tests run
 * in parallel without seeing each other's rows. `drop()` removes it (forcing off connections
 * a failed test left open).
 */
export async function freshDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `llmproxy_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(SERVICE_URLS.postgres);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVICE_URLS.postgres, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A key prefix no other test uses, and a cleanup that deletes every key under it. */
export function freshRedisPrefix(): { prefix: string; cleanup(): Promise<void> } {
  const prefix = `llmproxy-test:${randomBytes(6).toString('hex')}:`;
  return {
    prefix,
    async cleanup() {
      const redis = new Redis(SERVICE_URLS.redis, { maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        // Bounded: a test writes a handful of keys; 1000 scan pages is far beyond that.
        for (let i = 0; i < 1000; i++) {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
          if (cursor === '0') break;
        }
      } finally {
        redis.disconnect();
      }
    },
  };
}
