import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { FailedAttemptThrottle } from './throttle.js';

/** A throttle on a clock the test moves by hand. */
function throttle(limit: number, windowMs: number, concurrency = { perClient: 4, total: 32 }) {
  const clock = { now: 1_000_000 };
  const t = new FailedAttemptThrottle({ limit, windowMs, concurrency, now: () => clock.now });
  return { t, clock, failTimes: (address: string, n: number) => Array.from({ length: n }, () => t.fail(address)) };
}

describe('FailedAttemptThrottle', () => {
  test('an address with no failures is not blocked', () => {
    const { t } = throttle(3, 60_000);
    assert.equal(t.blockedFor('192.0.2.1'), 0);
  });

  test('is not blocked below the limit, and blocked at it, for the rest of the window', () => {
    const { t, clock, failTimes } = throttle(3, 60_000);
    failTimes('192.0.2.1', 2);
    assert.equal(t.blockedFor('192.0.2.1'), 0);
    clock.now += 10_000;
    t.fail('192.0.2.1');
    // The window started at the first failure, so 50 s of it remain.
    assert.equal(t.blockedFor('192.0.2.1'), 50_000);
    clock.now += 20_000;
    assert.equal(t.blockedFor('192.0.2.1'), 30_000);
  });

  test('further failures while blocked do not extend the block', () => {
    const { t, clock, failTimes } = throttle(2, 60_000);
    failTimes('192.0.2.1', 2);
    clock.now += 30_000;
    failTimes('192.0.2.1', 5);
    assert.equal(t.blockedFor('192.0.2.1'), 30_000);
  });

  test('the block ends when the window expires, and counting starts afresh', () => {
    const { t, clock, failTimes } = throttle(3, 60_000);
    failTimes('192.0.2.1', 3);
    clock.now += 59_999;
    assert.equal(t.blockedFor('192.0.2.1'), 1);
    clock.now += 1;
    assert.equal(t.blockedFor('192.0.2.1'), 0);
    // A new window: one failure is far from the limit.
    t.fail('192.0.2.1');
    assert.equal(t.blockedFor('192.0.2.1'), 0);
    failTimes('192.0.2.1', 2);
    assert.equal(t.blockedFor('192.0.2.1'), 60_000);
  });

  test('failures in an expired window do not count towards the next', () => {
    const { t, clock, failTimes } = throttle(3, 60_000);
    failTimes('192.0.2.1', 2);
    clock.now += 60_000;
    failTimes('192.0.2.1', 2);
    assert.equal(t.blockedFor('192.0.2.1'), 0);
  });

  test('a limit of one blocks after the first failure', () => {
    const { t } = throttle(1, 1_000);
    t.fail('192.0.2.1');
    assert.equal(t.blockedFor('192.0.2.1'), 1_000);
  });

  test('IPv4 addresses are counted separately', () => {
    const { t, failTimes } = throttle(2, 60_000);
    failTimes('192.0.2.1', 2);
    assert.ok(t.blockedFor('192.0.2.1') > 0);
    assert.equal(t.blockedFor('192.0.2.2'), 0);
    assert.equal(t.blockedFor('192.0.2.10'), 0);
  });

  test('IPv6 addresses in the same /64 share a bucket, whatever their spelling', () => {
    const { t, failTimes } = throttle(3, 60_000);
    t.fail('2001:db8:1:2::1');
    t.fail('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    t.fail('2001:db8:1:2:0:0:0:ffff');
    for (const sameNet of ['2001:db8:1:2::1', '2001:db8:1:2::9', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::']) {
      assert.equal(t.blockedFor(sameNet), 60_000, sameNet);
    }
    for (const otherNet of ['2001:db8:1:3::1', '2001:db8:1::1', '2001:db8::1', '2001:db9:1:2::1']) {
      assert.equal(t.blockedFor(otherNet), 0, otherNet);
    }
    failTimes('::1', 3);
    assert.ok(t.blockedFor('::2') > 0, '::1 and ::2 are both in ::/64');
  });

  test('an IPv6 /64 does not share a bucket with an IPv4 address', () => {
    const { t, failTimes } = throttle(2, 60_000);
    failTimes('2001:db8::1', 2);
    assert.equal(t.blockedFor('192.0.2.1'), 0);
  });
});

/** The 429 a refused reservation throws. */
function refusedWith(retryAfterS: number) {
  return (err: unknown) => err instanceof GatewayError && err.code === 'too_many_auth_failures' && err.retryAfter === retryAfterS;
}

describe('FailedAttemptThrottle reservations: an attempt counts when it starts', () => {
  const A = '192.0.2.1';

  test('limit checks in flight fill the window: the next is refused with 429 and the window\'s Retry-After', () => {
    const { t } = throttle(3, 60_000);
    const attempts = [t.attempt(A), t.attempt(A), t.attempt(A)];
    for (const a of attempts) a.reserve();
    assert.throws(() => t.attempt(A).reserve(), refusedWith(60));
    assert.deepEqual({ reserved: t.load(A).reserved, failures: t.load(A).failures }, { reserved: 3, failures: 0 });
    // Checks in flight do not block: a cheap check (a cached key) of the same address still goes on.
    assert.equal(t.blockedFor(A), 0);
  });

  test('of 150 attempts started at once, exactly `limit` get a slot', () => {
    const { t } = throttle(20, 60_000);
    let reserved = 0;
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      try {
        t.attempt(A).reserve();
        reserved++;
      } catch (err) {
        assert.ok(refusedWith(60)(err));
        refused++;
      }
    }
    assert.deepEqual([reserved, refused], [20, 130]);
  });

  test('a success gives the slot back; a guess failure keeps it as a failure', () => {
    const { t } = throttle(2, 60_000);
    const first = t.attempt(A);
    const second = t.attempt(A);
    first.reserve();
    second.reserve();
    first.settle(false);
    assert.deepEqual({ reserved: t.load(A).reserved, failures: t.load(A).failures }, { reserved: 1, failures: 0 });
    const third = t.attempt(A);
    third.reserve();
    second.settle(true);
    third.settle(true);
    assert.deepEqual({ reserved: t.load(A).reserved, failures: t.load(A).failures }, { reserved: 0, failures: 2 });
    assert.equal(t.blockedFor(A), 60_000);
  });

  test('successful logins never lock anyone out', () => {
    const { t } = throttle(2, 60_000);
    for (let i = 0; i < 50; i++) {
      const a = t.attempt(A);
      a.reserve();
      a.settle(false);
    }
    assert.equal(t.blockedFor(A), 0);
    assert.doesNotThrow(() => t.attempt(A).reserve());
  });

  test('a cheap guess that reserved nothing counts when it is settled as a guess; a non-guess that reserved nothing counts nothing', () => {
    const { t } = throttle(5, 60_000);
    t.attempt(A).settle(true);
    t.attempt(A).settle(false);
    assert.deepEqual({ reserved: t.load(A).reserved, failures: t.load(A).failures }, { reserved: 0, failures: 1 });
  });

  test('reserve and settle take effect once per attempt', () => {
    const { t } = throttle(5, 60_000);
    const a = t.attempt(A);
    a.reserve();
    a.reserve();
    assert.equal(t.load(A).reserved, 1);
    a.settle(true);
    a.settle(true);
    a.settle(false);
    a.reserve();
    assert.deepEqual({ reserved: t.load(A).reserved, failures: t.load(A).failures }, { reserved: 0, failures: 1 });
  });

  test('reservations of one address leave other addresses alone', () => {
    const { t } = throttle(1, 60_000);
    t.attempt(A).reserve();
    assert.throws(() => t.attempt(A).reserve(), refusedWith(60));
    assert.doesNotThrow(() => t.attempt('192.0.2.2').reserve());
    assert.doesNotThrow(() => t.attempt('2001:db8::1').reserve());
  });

  test('checks in flight carry over into the next window, and their failures count there', () => {
    const { t, clock } = throttle(2, 60_000);
    const a = t.attempt(A);
    const b = t.attempt(A);
    a.reserve();
    b.reserve();
    clock.now += 60_000;
    // A new window, but both checks still run: no third slot.
    assert.throws(() => t.attempt(A).reserve(), refusedWith(60));
    a.settle(true);
    clock.now += 10_000;
    b.settle(true);
    // Both failures fall in the window that began when the old one expired.
    assert.equal(t.blockedFor(A), 50_000);
  });

  test('an address blocked by failures refuses reservations with the remaining window', () => {
    const { t, clock, failTimes } = throttle(2, 60_000);
    failTimes(A, 2);
    clock.now += 15_000;
    assert.throws(() => t.attempt(A).reserve(), refusedWith(45));
  });

  test('slow checks of one address run at most max_concurrent_per_client at once, the rest in arrival order', async () => {
    const { t } = throttle(20, 60_000, { perClient: 2, total: 32 });
    const gates = Array.from({ length: 5 }, () => deferred());
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      t.attempt(A).slow(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await settleMicrotasks();
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual([t.load(A).clientRunning, t.load(A).clientWaiting], [2, 3]);
    gates[1]!.resolve();
    await settleMicrotasks();
    assert.deepEqual(started, [0, 1, 2]);
    for (const g of gates) g.resolve();
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.deepEqual(t.load(A), { running: 0, waiting: 0, clientRunning: 0, clientWaiting: 0, buckets: 0, reserved: 0, failures: 0 });
  });

  test('a client\'s queue holds at least `limit` waiters, so guesses in flight are refused by the throttle, not by a full queue', async () => {
    const { t } = throttle(10, 60_000, { perClient: 1, total: 32 });
    const gate = deferred();
    const runs = Array.from({ length: 11 }, () => t.attempt(A).slow(() => gate.promise));
    await settleMicrotasks();
    assert.deepEqual([t.load(A).clientRunning, t.load(A).clientWaiting], [1, 10]);
    await assert.rejects(t.attempt(A).slow(() => gate.promise), (err: unknown) => err instanceof GatewayError && err.code === 'rate_limited');
    gate.resolve();
    await Promise.all(runs);
  });

  test('a slow check that throws gives its place back', async () => {
    const { t } = throttle(20, 60_000, { perClient: 1, total: 1 });
    await assert.rejects(t.attempt(A).slow(() => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await t.attempt(A).slow(() => Promise.resolve('ran')), 'ran');
    assert.equal(t.load(A).running, 0);
  });
});

describe('FailedAttemptThrottle buckets: one bucket per client, whatever the spelling', () => {
  const same: Array<[string, string]> = [
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::9'],
    ['2001:DB8:1:2:FFFF::', '2001:db8:1:2::1'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4'],
    ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
    ['0:0:0:0:0:FFFF:0102:0304', '1.2.3.4'],
    ['fe80::1%eth0', 'fe80::2'],
    ['fe80::1%eth0', 'fe80::1%eth1'],
  ];
  const different: Array<[string, string]> = [
    ['::ffff:1.2.3.4', '1.2.3.5'],
    ['::1.2.3.4', '1.2.3.4'],
    ['::ffff:0:1.2.3.4', '1.2.3.4'],
    ['2001:db8:1:2::1', '2001:db8:1:3::1'],
    ['2001:db8::1', '2001:db9::1'],
  ];

  for (const [first, second] of same) {
    test(`${first} and ${second} share a bucket`, () => {
      const { t, failTimes } = throttle(2, 60_000);
      failTimes(first, 2);
      assert.equal(t.blockedFor(second), 60_000);
      assert.throws(() => t.attempt(second).reserve(), refusedWith(60));
    });
  }
  for (const [first, second] of different) {
    test(`${first} and ${second} are counted apart`, () => {
      const { t, failTimes } = throttle(2, 60_000);
      failTimes(first, 2);
      assert.equal(t.blockedFor(second), 0);
      assert.doesNotThrow(() => t.attempt(second).reserve());
    });
  }

  test('reservations and slow-check places use the same canonical bucket', async () => {
    const { t } = throttle(1, 60_000, { perClient: 1, total: 32 });
    t.attempt('::FFFF:198.51.100.7').reserve();
    assert.throws(() => t.attempt('198.51.100.7').reserve(), refusedWith(60));
    const gate = deferred();
    const first = t.attempt('::ffff:c633:6407').slow(() => gate.promise);
    await settleMicrotasks();
    assert.deepEqual([t.load('198.51.100.7').clientRunning, t.load('198.51.100.7').clientWaiting], [1, 0]);
    const second = t.attempt('198.51.100.7').slow(() => Promise.resolve());
    assert.equal(t.load('0:0:0:0:0:ffff:198.51.100.7').clientWaiting, 1);
    gate.resolve();
    await Promise.all([first, second]);
  });
});

/** Lets queued promise callbacks run (bounded: a fixed number of turns). */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
