import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FailedAttemptThrottle } from './throttle.js';

/** A throttle on a clock the test moves by hand. */
function throttle(limit: number, windowMs: number) {
  const clock = { now: 1_000_000 };
  const t = new FailedAttemptThrottle(limit, windowMs, () => clock.now);
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
