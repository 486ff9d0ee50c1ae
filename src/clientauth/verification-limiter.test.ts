import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { DEFAULT_MAX_WAIT_MS, VerificationLimiter, type ReleasePlace } from './verification-limiter.js';

const isBusy = (err: unknown) => err instanceof GatewayError && err.code === 'rate_limited' && err.retryAfter === 1;

/** Lets queued promise callbacks run (bounded: a fixed number of turns). */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Starts `n` acquisitions for `bucket`, recording the order in which they are granted. */
function acquireMany(limiter: VerificationLimiter, bucket: string, n: number, granted: string[]): Array<Promise<ReleasePlace>> {
  return Array.from({ length: n }, (_, i) =>
    limiter.acquire(bucket).then((release) => {
      granted.push(`${bucket}#${i}`);
      return release;
    }),
  );
}

describe('VerificationLimiter', () => {
  test('waits for 3 s by default', () => {
    assert.equal(DEFAULT_MAX_WAIT_MS, 3_000);
  });

  test('per client: at most perClient at once; the queue is FIFO; a released place goes to the longest waiter', async () => {
    const limiter = new VerificationLimiter({ perClient: 2, total: 10 });
    const granted: string[] = [];
    const places = acquireMany(limiter, 'a', 4, granted);
    await settleMicrotasks();
    assert.deepEqual(granted, ['a#0', 'a#1']);
    assert.deepEqual(limiter.load('a'), { running: 2, waiting: 0, clientRunning: 2, clientWaiting: 2, buckets: 1 });
    (await places[1]!)();
    await settleMicrotasks();
    assert.deepEqual(granted, ['a#0', 'a#1', 'a#2']);
    (await places[0]!)();
    await settleMicrotasks();
    assert.deepEqual(granted, ['a#0', 'a#1', 'a#2', 'a#3']);
    for (const p of places) (await p)();
    assert.deepEqual(limiter.load('a'), { running: 0, waiting: 0, clientRunning: 0, clientWaiting: 0, buckets: 0 }, 'an idle bucket is forgotten');
  });

  test('a release called twice gives back one place', async () => {
    const limiter = new VerificationLimiter({ perClient: 1, total: 1 });
    const release = await limiter.acquire('a');
    const granted: string[] = [];
    const waiting = acquireMany(limiter, 'b', 2, granted);
    release();
    release();
    await settleMicrotasks();
    assert.deepEqual(granted, ['b#0']);
    (await waiting[0]!)();
    (await waiting[1]!)();
    assert.equal(limiter.load().running, 0);
  });

  test('overall: at most total at once, across clients', async () => {
    const limiter = new VerificationLimiter({ perClient: 4, total: 3 });
    const granted: string[] = [];
    const a = acquireMany(limiter, 'a', 2, granted);
    const b = acquireMany(limiter, 'b', 2, granted);
    await settleMicrotasks();
    assert.deepEqual(granted, ['a#0', 'a#1', 'b#0']);
    assert.deepEqual([limiter.load().running, limiter.load().waiting], [3, 1]);
    (await a[0]!)();
    await settleMicrotasks();
    assert.deepEqual(granted, ['a#0', 'a#1', 'b#0', 'b#1']);
    for (const p of [...a, ...b]) (await p)();
    assert.equal(limiter.load().running, 0);
  });

  test('fairness: a flooding address holds at most perClient of the overall queue, so another client waits behind only those', async () => {
    const limiter = new VerificationLimiter({ perClient: 2, total: 2, perClientQueue: 100 });
    const granted: string[] = [];
    const flood = acquireMany(limiter, 'attacker', 30, granted);
    await settleMicrotasks();
    // Two run; the other 28 wait in the attacker's own queue, none in the overall one.
    assert.deepEqual(limiter.load('attacker'), { running: 2, waiting: 0, clientRunning: 2, clientWaiting: 28, buckets: 1 });
    const honest = acquireMany(limiter, 'honest', 1, granted);
    await settleMicrotasks();
    assert.equal(limiter.load().waiting, 1, 'the honest check is first in the overall queue');
    (await flood[0]!)();
    await settleMicrotasks();
    assert.deepEqual(granted, ['attacker#0', 'attacker#1', 'honest#0'], 'the freed place goes to the honest client, not the flood');
    (await honest[0]!)();
    (await flood[1]!)();
    for (let i = 2; i < 30; i++) (await flood[i]!)();
    assert.equal(granted.length, 31);
    assert.equal(limiter.load().running, 0);
  });

  test('a full client queue refuses at once with rate_limited and Retry-After 1', async () => {
    const limiter = new VerificationLimiter({ perClient: 1, total: 10, perClientQueue: 2 });
    const granted: string[] = [];
    const held = acquireMany(limiter, 'a', 3, granted);
    await assert.rejects(limiter.acquire('a'), isBusy);
    assert.deepEqual(limiter.load('a'), { running: 1, waiting: 0, clientRunning: 1, clientWaiting: 2, buckets: 1 });
    // Another client is not affected.
    (await limiter.acquire('b'))();
    for (const p of held) (await p)();
  });

  test('a full overall queue refuses at once, and the client place it held is given back', async () => {
    const limiter = new VerificationLimiter({ perClient: 1, total: 1, totalQueue: 1 });
    const granted: string[] = [];
    const running = acquireMany(limiter, 'a', 1, granted);
    const queued = acquireMany(limiter, 'b', 1, granted);
    await settleMicrotasks();
    await assert.rejects(limiter.acquire('c'), isBusy);
    assert.deepEqual(limiter.load('c'), { running: 1, waiting: 1, clientRunning: 0, clientWaiting: 0, buckets: 2 });
    (await running[0]!)();
    (await queued[0]!)();
    assert.equal(limiter.load().buckets, 0);
  });

  test('a check that waits longer than maxWaitMs is refused and leaves both queues', async () => {
    const limiter = new VerificationLimiter({ perClient: 1, total: 1, maxWaitMs: 20 });
    const release = await limiter.acquire('a');
    const sameClient = limiter.acquire('a');
    const otherClient = limiter.acquire('b');
    await assert.rejects(sameClient, isBusy);
    await assert.rejects(otherClient, isBusy);
    assert.deepEqual(limiter.load('b'), { running: 1, waiting: 0, clientRunning: 0, clientWaiting: 0, buckets: 1 });
    release();
    assert.deepEqual(limiter.load(), { running: 0, waiting: 0, clientRunning: 0, clientWaiting: 0, buckets: 0 });
    (await limiter.acquire('b'))();
  });
});
