import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { freshDatabase, requireService } from '../../../test/helpers/services.js';
import { startFaultProxy } from '../../../test/helpers/tcp.js';
import { openPostgresStore } from './index.js';

const postgres = await requireService('postgres');

describe('PostgreSQL store cut off by the network', { skip: postgres.skip }, () => {
  const drops: Array<() => Promise<void>> = [];
  after(async () => {
    await Promise.all(drops.map((d) => d()));
  });

  test('queries fail as 503 store_unavailable at query_timeout; a connection reset mid-transaction does not crash the process; it recovers', async () => {
    const db = await freshDatabase();
    drops.push(db.drop);
    const target = new URL(db.url);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const store = await openPostgresStore(url.toString(), { connectTimeoutMs: 1000, queryTimeoutMs: 500 });
    try {
      await store.ping();
      assert.equal(store.isUp(), true);
      proxy.cut({ mode: 'blackhole' });
      // A transaction holding a pooled connection when the link comes back reset: the error
      // arrives on a client the pool has lent out (an uncaught 'error' event would end this process).
      const inFlight = store.governance.usage
        .append([{ time: Date.now(), requestId: 'r1', keyId: null, user: null, principalKind: 'api-key', instance: 'demo', model: 'm', inputTokens: 1, outputTokens: 1, costMicros: 1, latencyMs: 1, status: 200 }])
        .then(
          () => 'written',
          (e: unknown) => (e instanceof GatewayError ? e.code : String(e)),
        );
      await new Promise((r) => setTimeout(r, 100));
      proxy.restore();
      assert.equal(await inFlight, 'store_unavailable');
      await store.ping().catch(() => undefined); // the pool may need a moment to replace the reset connection
      proxy.cut({ mode: 'blackhole' });
      const err = await store.keys.list().then(() => assert.fail('read through a cut link'), (e: unknown) => e);
      assert.ok(err instanceof GatewayError && err.code === 'store_unavailable', String(err));
      assert.match(err.message, /the store \(PostgreSQL\) cannot be reached; nothing was changed/);
      assert.equal(store.isUp(), false);
      proxy.restore();
      // The pool replaces the broken connections: the next use works.
      let answered = false;
      for (let i = 0; i < 50 && !answered; i++) {
        answered = await store.ping().then(() => true, () => false);
        if (!answered) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(answered, 'the store answers again after the link is restored');
      assert.equal(store.isUp(), true);
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});
