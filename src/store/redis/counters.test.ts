import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freshRedisPrefix, requireService } from '../../../test/helpers/services.js';
import { startFaultProxy } from '../../../test/helpers/tcp.js';
import { until } from '../../../test/helpers/wait.js';
import { CounterStoreUnavailable, openRedisCounterStore, type RedisCounterStore } from './counters.js';
import { RedisFleetEvents } from './events.js';
import { capturingLogger } from '../../governance/test-support.js';

const redis = await requireService('redis');

/** A window so long that no test run crosses its boundary (the next one is years away). */
const LONG_WINDOW = 1e12;

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

/** `n` stores (each its own Redis connection) sharing a key prefix no other test uses. */
async function stores(n: number): Promise<{ stores: RedisCounterStore[]; prefix: string; close(): Promise<void> }> {
  const { prefix, cleanup } = freshRedisPrefix();
  cleanups.push(cleanup);
  const list = await Promise.all(Array.from({ length: n }, () => openRedisCounterStore(redis.url, { keyPrefix: prefix })));
  return { stores: list, prefix, close: async () => void (await Promise.all(list.map((s) => s.close()))) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RedisCounterStore', { skip: redis.skip }, () => {
  test('tryAdd: 200 concurrent calls from two connections admit exactly the limit', async () => {
    const { stores: [a, b], close } = await stores(2);
    try {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a! : b!).tryAdd('rpm:key:k1', 1, 37, LONG_WINDOW)));
      const admitted = results.filter((r) => r.admitted);
      assert.equal(admitted.length, 37);
      // Every admitted call saw a distinct running total 1..37; every refusal saw the full window.
      assert.deepEqual(admitted.map((r) => r.total).sort((x, y) => x - y), Array.from({ length: 37 }, (_, i) => i + 1));
      assert.ok(results.filter((r) => !r.admitted).every((r) => r.total === 37));
      assert.equal(new Set(results.map((r) => r.resetAt)).size, 1, 'one window for both replicas');
      // Token-sized amounts: what would pass the limit is refused, what fits is admitted.
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a! : b!).tryAdd('tpm:key:k1', 300, 1000, LONG_WINDOW)));
      assert.equal(tokens.filter((r) => r.admitted).length, 3);
    } finally {
      await close();
    }
  });

  test('tryAdd: a new window starts from zero; the key is named by its window start and expires with it', async () => {
    const { stores: [a], prefix, close } = await stores(1);
    const inspect = new Redis(redis.url);
    try {
      const windowMs = 1000;
      // Fill a window, then wait (bounded) for the next one.
      let first = await a!.tryAdd('rpm:key:k2', 2, 2, windowMs);
      if (first.resetAt - Date.now() < 200) {
        // Too close to the edge to observe a full window; start in the next one.
        await sleep(Math.max(0, first.resetAt - Date.now()) + 20);
        first = await a!.tryAdd('rpm:key:k2', 2, 2, windowMs);
      }
      assert.equal(first.admitted, true);
      // (A previous window's key may still be there, lapsing: keys are per window.)
      const key = `${prefix}rate:{rpm:key:k2}:${first.resetAt - windowMs}`;
      assert.ok((await inspect.keys(`${prefix}*`)).includes(key), 'the counter is keyed by its window start');
      assert.equal(await inspect.get(key), '2');
      const ttl = await inspect.pttl(key);
      assert.ok(ttl > 0 && ttl <= windowMs + 1000, `expires with its window (pttl ${ttl})`);

      const refused = await a!.tryAdd('rpm:key:k2', 1, 2, windowMs);
      if (refused.resetAt === first.resetAt) {
        assert.equal(refused.admitted, false);
        assert.equal(refused.total, 2);
      }
      await sleep(Math.max(0, first.resetAt - Date.now()) + 20);
      const next = await a!.tryAdd('rpm:key:k2', 1, 2, windowMs);
      assert.equal(next.admitted, true);
      assert.equal(next.total, 1);
      assert.ok(next.resetAt >= first.resetAt + windowMs);
    } finally {
      inspect.disconnect();
      await close();
    }
  });

  test('add corrects a window unconditionally (negative too); decimal amounts (budgets) add up exactly', async () => {
    const { stores: [a, b], close } = await stores(2);
    try {
      assert.equal((await a!.tryAdd('tpm:key:k3', 500, 1000, LONG_WINDOW)).total, 500);
      // The response used fewer tokens than estimated: give some back.
      const corrected = await b!.add('tpm:key:k3', -350, LONG_WINDOW);
      assert.equal(corrected.total, 150);
      assert.equal((await a!.add('tpm:key:k3', 2000, LONG_WINDOW)).total, 2150, 'add ignores limits');
      assert.equal((await a!.tryAdd('tpm:key:k3', 1, 1000, LONG_WINDOW)).admitted, false);

      for (let i = 0; i < 4; i++) assert.equal((await a!.tryAdd('usd:key:k3', 0.25, 1, LONG_WINDOW)).admitted, true);
      const over = await b!.tryAdd('usd:key:k3', 0.25, 1, LONG_WINDOW);
      assert.equal(over.admitted, false);
      assert.equal(over.total, 1);
    } finally {
      await close();
    }
  });

  test('acquire / release: an in-flight gauge shared by replicas; release frees only its own slot', async () => {
    const { stores: [a, b], close } = await stores(2);
    try {
      const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a! : b!).acquire('inflight:key:race', 3, 60_000)));
      assert.equal(taken.filter(Boolean).length, 3, 'concurrent acquires never overfill the gauge');

      assert.equal(await a!.acquire('inflight:key:k4', 3, 60_000), true);
      assert.equal(await a!.acquire('inflight:key:k4', 3, 60_000), true);
      assert.equal(await b!.acquire('inflight:key:k4', 3, 60_000), true);
      assert.equal(await b!.acquire('inflight:key:k4', 3, 60_000), false, 'full');
      // b holds one slot: its second release is a no-op and must not free one of a's.
      await b!.release('inflight:key:k4');
      await b!.release('inflight:key:k4');
      assert.equal(await a!.acquire('inflight:key:k4', 3, 60_000), true);
      assert.equal(await b!.acquire('inflight:key:k4', 3, 60_000), false, 'a still holds three');
      await a!.release('inflight:key:k4');
      assert.equal(await b!.acquire('inflight:key:k4', 3, 60_000), true);
    } finally {
      await close();
    }
  });

  test('a slot never released lapses after its ttl; releasing a lapsed slot does not free another replica\'s', async () => {
    const { stores: [a, b], close } = await stores(2);
    try {
      assert.equal(await a!.acquire('inflight:key:k5', 1, 300), true);
      assert.equal(await b!.acquire('inflight:key:k5', 1, 60_000), false);
      // Bounded wait for the lapse (the ttl is 300 ms; allow up to 5 s on a slow machine).
      const deadline = Date.now() + 5000;
      let got = false;
      while (!got && Date.now() < deadline) {
        await sleep(50);
        got = await b!.acquire('inflight:key:k5', 1, 60_000);
      }
      assert.equal(got, true, 'the lapsed slot was reclaimed');
      // a's release (of its lapsed slot) must not remove b's live one.
      await a!.release('inflight:key:k5');
      assert.equal(await a!.acquire('inflight:key:k5', 1, 60_000), false);
    } finally {
      await close();
    }
  });

  test('key prefixes isolate gateways sharing one Redis', async () => {
    const one = await stores(1);
    const two = await stores(1);
    try {
      assert.equal((await one.stores[0]!.tryAdd('rpm:key:same', 1, 1, LONG_WINDOW)).admitted, true);
      assert.equal((await one.stores[0]!.tryAdd('rpm:key:same', 1, 1, LONG_WINDOW)).admitted, false);
      assert.equal((await two.stores[0]!.tryAdd('rpm:key:same', 1, 1, LONG_WINDOW)).admitted, true, 'another prefix counts on its own');
      assert.equal(await one.stores[0]!.acquire('g', 1, 60_000), true);
      assert.equal(await two.stores[0]!.acquire('g', 1, 60_000), true);
    } finally {
      await one.close();
      await two.close();
    }
  });

  test('operations fail once closed; close is idempotent; ping answers while open', async () => {
    const { stores: [a] } = await stores(1);
    await a!.ping();
    await a!.close();
    await a!.close();
    await assert.rejects(a!.tryAdd('x', 1, 1, 1000), /closed/);
    await assert.rejects(a!.ping(), /closed/);
  });

  test('a connection failure names no password and no URL', async () => {
    const password = 'redis-secret-password-4b7a91';
    const url = `redis://:${password}@127.0.0.1:1/0`;
    const err = await openRedisCounterStore(url, { connectTimeoutMs: 2000 }).then(
      (s) => (void s.close(), assert.fail('connected to a closed port')),
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /cannot open the Redis counter store/);
    assert.ok(!err.message.includes(password) && !(err.stack ?? '').includes(password));
    assert.ok(!err.message.includes(url));
  });

  test('budget counters: concurrent charges from two connections add up exactly; reconcile only raises', async () => {
    const { stores: [a, b], close } = await stores(2);
    const month = Date.UTC(2026, 0, 1);
    try {
      await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a! : b!).budgetCharge(month, ['g', 'k:k1', i % 4 === 0 ? 'u:alice' : 'u:bob'], 1500)));
      assert.deepEqual(await a!.budgetSpent(month, ['g', 'k:k1', 'u:alice', 'u:bob', 'k:none']), [150_000, 150_000, 37_500, 112_500, 0]);
      // The usage rows say more for k1 (charges lost while Redis was away) and less for the total (rows not yet written).
      await b!.budgetReconcile(month, new Map([['g', 100_000], ['k:k1', 200_000], ['u:carol', 5]]));
      assert.deepEqual(await a!.budgetSpent(month, ['g', 'k:k1', 'u:carol']), [150_000, 200_000, 5]);
      assert.deepEqual(await a!.budgetSpent(Date.UTC(2026, 1, 1), ['g']), [0], 'each month has its own counters');
      await a!.budgetCharge(month, ['g'], 0);
      assert.deepEqual(await a!.budgetSpent(month, ['g']), [150_000], 'a free request charges nothing');
    } finally {
      await close();
    }
  });

  test('a Redis cut off by the network fails the first command at command_timeout and the next ones at once, then recovers by itself', async () => {
    const { prefix, cleanup } = freshRedisPrefix();
    cleanups.push(cleanup);
    const target = new URL(redis.url);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 6379) });
    const health: boolean[] = [];
    const store = await openRedisCounterStore(`redis://127.0.0.1:${proxy.port}`, { keyPrefix: prefix, commandTimeoutMs: 300, onHealth: (up) => health.push(up) });
    try {
      assert.equal((await store.tryAdd('k', 1, 10, LONG_WINDOW)).admitted, true);
      proxy.cut({ mode: 'blackhole' });
      const first = await store.tryAdd('k', 1, 10, LONG_WINDOW).then(() => assert.fail('admitted through a cut link'), (e: unknown) => e);
      assert.ok(first instanceof CounterStoreUnavailable);
      assert.ok(first.cause !== undefined, 'the first failure is the command that timed out');
      assert.equal(store.up, false);
      const next = await store.budgetSpent(1, ['g']).then(() => assert.fail('read through a cut link'), (e: unknown) => e);
      assert.ok(next instanceof CounterStoreUnavailable);
      assert.equal(next.cause, undefined, 'while known to be down, commands fail without a round trip');
      assert.deepEqual(health, [true, false]);
      proxy.restore();
      await until('the store to notice Redis answering again', () => store.up, 10_000);
      assert.deepEqual(health, [true, false, true]);
      assert.equal((await store.tryAdd('k', 1, 10, LONG_WINDOW)).total, 2);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  test('fleet events: a published change reaches every subscriber; trust ends while the channel is cut and restarts after it', async () => {
    const { stores: [a, b], close } = await stores(2);
    const target = new URL(redis.url);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 6379) });
    const { prefix } = freshRedisPrefix();
    const viaProxy = await openRedisCounterStore(`redis://127.0.0.1:${proxy.port}`, { keyPrefix: prefix, commandTimeoutMs: 300 });
    const local = await openRedisCounterStore(redis.url, { keyPrefix: prefix });
    const ea = await RedisFleetEvents.open(a!, capturingLogger().logger);
    const eb = await RedisFleetEvents.open(b!, capturingLogger().logger);
    const far = await RedisFleetEvents.open(viaProxy, capturingLogger().logger);
    const near = await RedisFleetEvents.open(local, capturingLogger().logger);
    try {
      const heard: string[] = [];
      eb.on((e) => heard.push(e.kind === 'key' ? `key:${e.id}` : e.kind));
      await ea.publish({ kind: 'key', id: 'k1' });
      await ea.publish({ kind: 'lockdown' });
      await until('both events', () => heard.length === 2, 5000);
      assert.deepEqual(heard, ['key:k1', 'lockdown']);

      const before = far.trustedSince();
      assert.ok(before !== undefined && before <= Date.now());
      proxy.cut({ mode: 'blackhole' });
      await until('the heartbeat to notice the silent channel', () => far.trustedSince() === undefined, 10_000);
      const farHeard: string[] = [];
      far.on((e) => farHeard.push(e.kind));
      await near.publish({ kind: 'lockdown' }); // lost for `far`: it must not claim to have heard everything
      proxy.restore();
      await until('the channel to be trusted again', () => far.trustedSince() !== undefined, 10_000);
      assert.ok(far.trustedSince()! > before!, 'trust restarts after the gap, never from before it');
      await near.publish({ kind: 'key', id: 'k2' });
      await until('an event after recovery', () => farHeard.includes('key'), 5000);
    } finally {
      await Promise.all([ea.close(), eb.close(), far.close(), near.close()]);
      await Promise.all([viaProxy.close(), local.close()]);
      await close();
      await proxy.close();
    }
  });
});
