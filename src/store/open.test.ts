import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freshDatabase, freshRedisPrefix, requireService } from '../../test/helpers/services.js';
import { validate } from '../config/load.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { openCounterStore, openStore } from './open.js';
import { PostgresStore } from './postgres/index.js';
import { RedisCounterStore } from './redis/counters.js';
import { SqliteStore } from './sqlite/index.js';

const postgres = await requireService('postgres');
const redis = await requireService('redis');

const dir = mkdtempSync(join(tmpdir(), 'llmproxy-open-store-'));
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(cleanups.map((c) => c()));
  rmSync(dir, { recursive: true, force: true });
});

const config = (storage: Record<string, unknown>) => validate({ storage, instances: { demo: { type: 'demo' } } }, 'test config');

describe('storage config', () => {
  test('PostgreSQL and Redis URLs must be secret references: a literal URL is refused, naming the field but not echoing the password', () => {
    for (const field of ['postgres', 'redis'] as const) {
      const url = field === 'postgres' ? 'postgres://app:hunter2-very-secret@db:5432/llmproxy' : 'redis://:hunter2-very-secret@cache:6379';
      assert.throws(
        () => config({ [field]: { url } }),
        (err: Error) => err.message.includes(`storage.${field}.url`) && /literal secret is refused/.test(err.message) && !err.message.includes('hunter2'),
      );
    }
  });

  test('defaults: pool of 10, key prefix llmproxy:, 10 s connect timeouts, 30 s queries, 1 s Redis commands; unknown fields are refused', () => {
    const c = config({ postgres: { url: '${env:PG_URL}' }, redis: { url: '${REDIS_URL}' } });
    assert.deepEqual(c.storage.postgres, { url: '${env:PG_URL}', pool_size: 10, connect_timeout: 10_000, query_timeout: 30_000 });
    assert.deepEqual(c.storage.redis, { url: '${REDIS_URL}', key_prefix: 'llmproxy:', connect_timeout: 10_000, command_timeout: 1000 });
    assert.throws(() => config({ postgres: { url: '${env:PG_URL}', pool: 5 } }), /storage\.postgres/);
    assert.throws(() => config({ postgres: { url: '${env:PG_URL}', pool_size: 0 } }), /storage\.postgres\.pool_size/);
    assert.equal(config({}).storage.postgres, undefined);
  });
});

describe('openStore / openCounterStore', () => {
  test('without postgres: the SQLite file (relative to the config folder); without redis: no counter store', async () => {
    const store = await openStore(config({ sqlite: { path: './data/x.db' } }), dir);
    try {
      assert.ok(store instanceof SqliteStore);
      assert.ok(existsSync(join(dir, 'data', 'x.db')));
    } finally {
      await store.close();
    }
    assert.equal(await openCounterStore(config({}), dir), undefined);
  });

  test('an unresolvable reference fails naming the field and the reference', async () => {
    const name = `LLMPROXY_TEST_UNSET_${process.pid}`;
    delete process.env[name];
    await assert.rejects(openStore(config({ postgres: { url: `\${env:${name}}` } }), dir), (err: Error) => err.message.startsWith(`storage.postgres.url: cannot resolve \${env:${name}}`));
    await assert.rejects(openCounterStore(config({ redis: { url: `\${env:${name}}` } }), dir), /^Error: storage\.redis\.url/);
  });

  test('with postgres: resolves the reference once, opens PostgreSQL, and teaches the scrubber the password', { skip: postgres.skip }, async () => {
    const db = await freshDatabase();
    cleanups.push(db.drop);
    // Trust auth ignores the password, so a URL with one still connects; the scrubber must learn it.
    const url = new URL(db.url);
    url.password = 'scrub-me-please-123';
    writeFileSync(join(dir, 'pg-url'), url.toString());
    const scrubber = new SecretScrubber();
    const store = await openStore(config({ postgres: { url: '${file:./pg-url}', pool_size: 2 } }), dir, { scrubber });
    try {
      assert.ok(store instanceof PostgresStore);
      await store.ping();
      assert.equal(scrubber.scrub(`connecting to ${url.toString()}`), 'connecting to [REDACTED]');
      assert.equal(scrubber.scrub('password scrub-me-please-123'), 'password [REDACTED]');
      assert.equal(existsSync(join(dir, 'data', 'llmproxy.db')), false, 'no SQLite file beside PostgreSQL');
    } finally {
      await store.close();
    }
  });

  test('with redis: a RedisCounterStore under the configured prefix', { skip: redis.skip }, async () => {
    const { prefix, cleanup } = freshRedisPrefix();
    cleanups.push(cleanup);
    writeFileSync(join(dir, 'redis-url'), redis.url);
    const counters = await openCounterStore(config({ redis: { url: '${file:./redis-url}', key_prefix: prefix } }), dir);
    assert.ok(counters instanceof RedisCounterStore);
    try {
      assert.equal((await counters.tryAdd('k', 1, 1, 60_000)).admitted, true);
    } finally {
      await counters.close();
    }
  });
});
