import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startFleet } from './fleet.js';
import { requireService, SERVICE_URLS } from './services.js';
import { startFaultProxy } from './tcp.js';

/**
 * The fleet harness itself: replicas reach the stores through the fault proxies when asked,
 * a killed replica can be replaced behind the balancer, and close() leaves no process,
 * database, Redis key or folder behind.
 */

const postgres = await requireService('postgres');
const redis = await requireService('redis');
const skip = postgres.skip || redis.skip;

describe('startFleet', { skip }, () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  test('replicas reach PostgreSQL and Redis through the fault proxies; restart and close clean up', async () => {
    const pgUrl = new URL(SERVICE_URLS.postgres);
    const redisUrl = new URL(SERVICE_URLS.redis);
    const pgProxy = await startFaultProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    const redisProxy = await startFaultProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    cleanup.push(() => pgProxy.close(), () => redisProxy.close());
    const fleet = await startFleet({ replicas: 2, via: { postgres: pgProxy, redis: redisProxy } });
    let closed = false;
    cleanup.push(async () => {
      if (!closed) await fleet.close();
    });

    assert.ok(pgProxy.connections() > 0, 'the replicas hold PostgreSQL connections through the proxy');
    assert.ok(redisProxy.connections() > 0, 'the replicas hold Redis connections through the proxy');
    const { key } = await fleet.createKey({ name: 'harness' });
    const chat = (url: string) =>
      fetch(`${url}/openai/demo/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo-echo', messages: [{ role: 'user', content: 'hi' }] }),
      }).then(async (r) => (await r.arrayBuffer(), r.status));
    assert.equal(await chat(fleet.url), 200);
    assert.ok(!fleet.describe().includes(key), 'the replicas never print a key');
    assert.ok(!fleet.describe().includes('postgres://'), 'nor a connection URL');

    const [first] = fleet.replicas;
    first!.kill('SIGKILL');
    assert.equal((await first!.exited).signal, 'SIGKILL');
    // The balancer skips the dead target on connect.
    for (let i = 0; i < 4; i++) assert.equal(await chat(fleet.url), 200);
    const replacement = await fleet.restart(0);
    assert.notEqual(replacement.pid, first!.pid);
    assert.equal(await chat(replacement.url), 200);

    const pids = fleet.replicas.map((r) => r.pid);
    const { dir, database, redisPrefix } = fleet;
    closed = true;
    await fleet.close();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `replica ${pid} has exited`);
    assert.equal(existsSync(dir), false);
    const admin = new pg.Client({ connectionString: SERVICE_URLS.postgres });
    await admin.connect();
    try {
      assert.equal((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database.name])).rowCount, 0);
    } finally {
      await admin.end();
    }
    const r = new Redis(SERVICE_URLS.redis);
    try {
      assert.deepEqual(await r.keys(`${redisPrefix}*`), []);
    } finally {
      r.disconnect();
    }
  });
});
