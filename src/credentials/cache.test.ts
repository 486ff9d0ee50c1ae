import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { GatewayError } from '../errors/gateway-error.js';
import { RefreshingCredential, type CredentialSource, type FetchListener, type RefreshPolicy } from './cache.js';
import type { Credential } from './types.js';

type Bearer = Extract<Credential, { type: 'bearer' }>;
type FetchResult = Parameters<FetchListener>[0];

const execFileAsync = promisify(execFile);

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * Long real-time delays on a frozen clock: the cache arms real `setTimeout`s (from the frozen
 * clock's arithmetic), and these must not fire while a test runs. Each test closes its cache.
 */
const POLICY: RefreshPolicy = {
  refreshWindowMs: 5 * MINUTE,
  minBackoffMs: 10_000,
  maxBackoffMs: 80_000,
  invalidateCooldownMs: 10_000,
  fetchTimeoutMs: HOUR,
};

/**
 * A credential source under the test's control. Each call is counted; the credential it returns
 * is `token-<call number>`, expiring `lifetimeMs` after the clock's time when the call completes
 * (never, if `lifetimeMs` is undefined). `failWith` makes calls reject; `hold()` makes calls wait
 * until `release()` (or until their signal aborts, unless `ignoreAbort`). What a held call does is
 * decided when it is released.
 */
class FakeSource implements CredentialSource<Bearer> {
  readonly method: string;
  calls = 0;
  readonly signals: AbortSignal[] = [];
  lifetimeMs: number | undefined = HOUR;
  failWith: unknown = undefined;
  ignoreAbort = false;
  readonly #now: () => number;
  #gate: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(now: () => number, method = 'assume_role') {
    this.#now = now;
    this.method = method;
  }

  hold(): void {
    if (this.#gate) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#gate = { promise, resolve };
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = undefined;
  }

  async fetch(signal: AbortSignal): Promise<Bearer> {
    const n = ++this.calls;
    this.signals.push(signal);
    if (this.#gate) await (this.ignoreAbort ? this.#gate.promise : releasedOrAborted(this.#gate.promise, signal));
    if (this.failWith !== undefined) throw this.failWith;
    const token: Bearer = { type: 'bearer', token: `token-${n}` };
    if (this.lifetimeMs !== undefined) token.expiresAt = this.#now() + this.lifetimeMs;
    return token;
  }
}

function releasedOrAborted(gate: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void gate.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** A cache over a fake source on a clock the test moves by hand; closed when the test ends. */
function setup(t: TestContext, policy: Partial<RefreshPolicy> = {}, method?: string) {
  const clock = { now: T0 };
  const source = new FakeSource(() => clock.now, method);
  const fetches: FetchResult[] = [];
  const cred = new RefreshingCredential(source, { policy: { ...POLICY, ...policy }, onFetch: (r) => fetches.push(r), now: () => clock.now });
  t.after(() => cred.close());
  return { clock, source, cred, fetches };
}

/** Lets every settled promise run its callbacks (the source's answers, the cache's bookkeeping). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Polls until `condition` holds; fails after `limitMs` of real time. */
async function until(condition: () => boolean, what: string, limitMs = 2_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await delay(5);
  }
}

/**
 * Awaits `promise`, failing after `limitMs` of real time. The cache's own timers are unref'd, so
 * a test waiting only on them needs this (ref'd) timer to keep the event loop running.
 */
async function within<T>(promise: Promise<T>, what: string, limitMs = 2_000): Promise<T> {
  const giveUp = new AbortController();
  const timeout = delay(limitMs, undefined, { signal: giveUp.signal }).then(() => assert.fail(`gave up waiting for ${what}`));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    giveUp.abort();
  }
}

/** Whether `promise` has settled by the time pending callbacks have run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await settle();
  return settled;
}

function isUnavailable(err: unknown): boolean {
  assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
  assert.equal(err.code, 'credential_unavailable');
  assert.equal(err.status, 503);
  return true;
}

describe('RefreshingCredential', () => {
  describe('prime and get', () => {
    test('before any fetch the state is pending', (t) => {
      const { cred, source } = setup(t, {}, 'web_identity');
      assert.deepEqual(cred.state, { method: 'web_identity', status: 'pending', lastRefreshAt: undefined, expiresAt: undefined, lastError: undefined });
      assert.equal(source.calls, 0);
    });

    test('prime() fetches once; get() answers from memory until the refresh window opens', async (t) => {
      const { cred, source, clock, fetches } = setup(t);
      await cred.prime();
      assert.equal(source.calls, 1);
      const first = await cred.get();
      assert.equal(first.token, 'token-1');
      assert.equal(first.expiresAt, T0 + HOUR);
      assert.deepEqual(cred.state, { method: 'assume_role', status: 'ok', lastRefreshAt: T0, expiresAt: T0 + HOUR, lastError: undefined });

      for (const at of [T0 + 1, T0 + 30 * MINUTE, T0 + HOUR - POLICY.refreshWindowMs - 1]) {
        clock.now = at;
        const got = await Promise.all(Array.from({ length: 20 }, () => cred.get()));
        for (const c of got) assert.equal(c, first);
      }
      assert.equal(source.calls, 1);
      assert.deepEqual(fetches, [{ method: 'assume_role', ok: true }]);
    });

    test('prime() rejects with the source error when the first fetch fails', async (t) => {
      const { cred, source } = setup(t);
      const failure = new Error('no route to sts.eu-west-1.amazonaws.com');
      source.failWith = failure;
      await assert.rejects(cred.prime(), (err) => err === failure);
      assert.equal(cred.state.status, 'error');
      assert.equal(cred.state.lastError, 'no route to sts.eu-west-1.amazonaws.com');
      assert.equal(cred.state.lastRefreshAt, undefined);
    });

    test('a credential without expiresAt is never refetched by get()', async (t) => {
      const { cred, source, clock } = setup(t);
      source.lifetimeMs = undefined;
      await cred.prime();
      const first = await cred.get();
      assert.equal(first.expiresAt, undefined);
      for (const at of [T0 + HOUR, T0 + 365 * 24 * HOUR, Number.MAX_SAFE_INTEGER]) {
        clock.now = at;
        assert.equal(await cred.get(), first);
        assert.equal(cred.state.status, 'ok');
        assert.equal(cred.state.expiresAt, undefined);
      }
      assert.equal(source.calls, 1);
    });

    test('refresh() fetches at once even while fresh and in the invalidate cooldown; concurrent calls share one fetch; a failure keeps the last good one', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      clock.now = T0 + 1; // fresh, and inside invalidateCooldownMs: invalidate() would be ignored
      await Promise.all([cred.refresh(), cred.refresh(), cred.refresh()]);
      assert.equal(source.calls, 2, 'one new fetch for three concurrent calls');
      assert.equal((await cred.get()).token, 'token-2');
      assert.equal(cred.state.lastRefreshAt, T0 + 1);
      source.failWith = new Error('sts said no');
      await assert.rejects(cred.refresh(), /sts said no/);
      assert.equal(source.calls, 3);
      assert.equal((await cred.get()).token, 'token-2', 'the last good credential is still served');
      assert.equal(cred.state.lastError, 'sts said no');
    });

    test('get() without prime() fetches on first use', async (t) => {
      const { cred, source } = setup(t);
      assert.equal((await cred.get()).token, 'token-1');
      assert.equal((await cred.get()).token, 'token-1');
      assert.equal(source.calls, 1);
    });
  });

  describe('single flight', () => {
    test('50 concurrent get() calls with no credential yet share one fetch', async (t) => {
      const { cred, source, fetches } = setup(t);
      source.hold();
      const pending = Array.from({ length: 50 }, () => cred.get());
      assert.equal(source.calls, 1);
      assert.equal(await isSettled(pending[0]!), false, 'get() waits for the first credential');
      source.release();
      const got = await Promise.all(pending);
      assert.equal(source.calls, 1);
      for (const c of got) assert.equal(c, got[0]);
      assert.equal(got[0]!.token, 'token-1');
      assert.equal(fetches.length, 1);
    });

    test('prime() and concurrent get() calls share one fetch', async (t) => {
      const { cred, source } = setup(t);
      source.hold();
      const primed = cred.prime();
      const got = Array.from({ length: 10 }, () => cred.get());
      source.release();
      await primed;
      for (const c of await Promise.all(got)) assert.equal(c.token, 'token-1');
      assert.equal(source.calls, 1);
    });

    test('concurrent callers share a failure too: one fetch, every caller rejected', async (t) => {
      const { cred, source } = setup(t);
      source.hold();
      const pending = Array.from({ length: 50 }, () => cred.get());
      source.failWith = new Error('ExpiredTokenException');
      source.release();
      const results = await Promise.allSettled(pending);
      assert.equal(source.calls, 1);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        isUnavailable(r.reason);
      }
    });
  });

  describe('inside the refresh window', () => {
    const windowOpens = T0 + HOUR - POLICY.refreshWindowMs;

    test('get() serves the current credential at once and starts exactly one background refresh', async (t) => {
      const { cred, source, clock, fetches } = setup(t);
      await cred.prime();
      const first = await cred.get();

      clock.now = windowOpens - 1;
      assert.equal(await cred.get(), first);
      assert.equal(source.calls, 1, 'one ms before the window nothing is refreshed');

      source.hold();
      clock.now = windowOpens;
      // These resolve while the refresh is still held: get() does not wait for it.
      const during = await Promise.all(Array.from({ length: 100 }, () => cred.get()));
      for (const c of during) assert.equal(c, first);
      assert.equal(source.calls, 2);

      clock.now = T0 + HOUR - 1;
      assert.equal(await cred.get(), first, 'the last valid millisecond still serves the current one');
      assert.equal(source.calls, 2);

      source.release();
      await settle();
      const next = await cred.get();
      assert.equal(next.token, 'token-2');
      assert.equal(next.expiresAt, T0 + 2 * HOUR - 1);
      assert.equal(source.calls, 2);
      assert.deepEqual(cred.state, { method: 'assume_role', status: 'ok', lastRefreshAt: T0 + HOUR - 1, expiresAt: T0 + 2 * HOUR - 1, lastError: undefined });
      assert.deepEqual(fetches, [
        { method: 'assume_role', ok: true },
        { method: 'assume_role', ok: true },
      ]);
    });

    test('at expiresAt the credential is expired: get() waits for the fetch', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      source.hold();
      clock.now = T0 + HOUR;
      assert.equal(cred.state.status, 'error', 'expired counts as an error even before a refresh failed');
      const pending = Promise.all([cred.get(), cred.get(), cred.get()]);
      assert.equal(await isSettled(pending), false);
      assert.equal(source.calls, 2);
      source.release();
      for (const c of await pending) assert.equal(c.token, 'token-2');
    });
  });

  describe('a refresh failing inside the window', () => {
    const windowOpens = T0 + HOUR - POLICY.refreshWindowMs;

    test('keeps serving the last good credential, reports the failure, and backs off doubling to the maximum', async (t) => {
      const { cred, source, clock, fetches } = setup(t);
      await cred.prime();
      const good = await cred.get();
      source.failWith = new TypeError('fetch failed');

      clock.now = windowOpens;
      assert.equal(await cred.get(), good);
      await settle();
      assert.equal(source.calls, 2);
      assert.deepEqual(fetches.at(-1), { method: 'assume_role', ok: false, error: 'TypeError: fetch failed' });
      assert.equal(cred.state.status, 'ok', 'the credential is still valid');
      assert.equal(cred.state.lastError, 'TypeError: fetch failed');
      assert.equal(cred.state.lastRefreshAt, T0, 'a failure is not a refresh');

      // 10 s, 20 s, 40 s, 80 s, then capped at 80 s: 230 s in all, inside the 300 s window.
      let failedAt = windowOpens;
      for (const backoff of [10_000, 20_000, 40_000, 80_000, 80_000]) {
        const calls: number = source.calls;
        for (const at of [failedAt, failedAt + 1, failedAt + backoff / 2, failedAt + backoff - 1]) {
          clock.now = at;
          const got = await Promise.all(Array.from({ length: 10 }, () => cred.get()));
          for (const c of got) assert.equal(c, good);
        }
        await settle();
        assert.equal(source.calls, calls, `no attempt before the ${backoff} ms backoff elapses`);

        clock.now = failedAt + backoff;
        await Promise.all(Array.from({ length: 10 }, () => cred.get()));
        await settle();
        assert.equal(source.calls, calls + 1, `one attempt once the ${backoff} ms backoff elapses`);
        assert.equal(cred.state.status, 'ok');
        failedAt = clock.now;
      }
      assert.ok(failedAt < T0 + HOUR);
      assert.equal(fetches.filter((f) => !f.ok).length, 6);
    });

    test('a success ends the backoff and clears the error; the next failure starts again at the minimum', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      source.failWith = new Error('throttled');
      for (const at of [windowOpens, windowOpens + 10_000, windowOpens + 30_000]) {
        clock.now = at;
        await cred.get();
        await settle();
      }
      assert.equal(source.calls, 4, 'three failures: backoff now 40 s');

      source.failWith = undefined;
      clock.now = windowOpens + 70_000;
      await cred.get();
      await settle();
      assert.equal(source.calls, 5);
      assert.equal(cred.state.lastError, undefined);
      assert.equal(cred.state.lastRefreshAt, windowOpens + 70_000);
      const second = await cred.get();
      assert.equal(second.token, 'token-5');

      // The new credential's window; the first failure there backs off by minBackoffMs again.
      const secondWindow = second.expiresAt! - POLICY.refreshWindowMs;
      source.failWith = new Error('throttled');
      clock.now = secondWindow;
      await cred.get();
      await settle();
      assert.equal(source.calls, 6);
      clock.now = secondWindow + POLICY.minBackoffMs - 1;
      await cred.get();
      assert.equal(source.calls, 6);
      clock.now = secondWindow + POLICY.minBackoffMs;
      await cred.get();
      assert.equal(source.calls, 7);
    });

    test('once the last good credential expires, get() rejects and the state turns to error', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      source.failWith = new Error('sts unavailable');
      clock.now = T0 + HOUR - 5_000;
      await cred.get();
      await settle();
      assert.equal(source.calls, 2);
      assert.equal(cred.state.status, 'ok');

      clock.now = T0 + HOUR;
      assert.equal(cred.state.status, 'error');
      // Still inside the backoff (10 s from the failure): rejected without a fetch.
      await assert.rejects(cred.get(), isUnavailable);
      assert.equal(source.calls, 2);
    });
  });

  describe('expired and the source failing', () => {
    test('get() rejects with credential_unavailable, leaks nothing of the source error, and recovers after the backoff', async (t) => {
      const { cred, source, clock, fetches } = setup(t);
      await cred.prime();
      source.failWith = new Error('InvalidClientTokenId: key AKIASECRETLEAK is not valid');

      clock.now = T0 + 2 * HOUR;
      let rejection: unknown;
      await assert.rejects(cred.get(), (err) => {
        rejection = err;
        return isUnavailable(err);
      });
      assert.equal(source.calls, 2);
      const message = (rejection as GatewayError).message;
      assert.ok(!message.includes('AKIASECRETLEAK'), message);
      assert.ok(!message.includes('InvalidClientTokenId'), message);
      assert.ok(message.includes('assume_role'), 'the message names the configured method');
      assert.equal(cred.state.status, 'error');
      assert.match(cred.state.lastError!, /InvalidClientTokenId/);
      assert.equal(fetches.at(-1)!.ok, false);

      // During the backoff: rejected at once, the source is left alone.
      for (const at of [T0 + 2 * HOUR, T0 + 2 * HOUR + 5_000, T0 + 2 * HOUR + POLICY.minBackoffMs - 1]) {
        clock.now = at;
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => cred.get()));
        for (const r of results) {
          assert.equal(r.status, 'rejected');
          isUnavailable(r.reason);
          assert.ok(!String((r.reason as Error).message).includes('AKIASECRETLEAK'));
        }
      }
      assert.equal(source.calls, 2);

      // After it: a second failure doubles the backoff.
      clock.now = T0 + 2 * HOUR + POLICY.minBackoffMs;
      await assert.rejects(cred.get(), isUnavailable);
      assert.equal(source.calls, 3);
      clock.now += 2 * POLICY.minBackoffMs - 1;
      await assert.rejects(cred.get(), isUnavailable);
      assert.equal(source.calls, 3);

      // Then the source recovers.
      source.failWith = undefined;
      clock.now += 1;
      const recovered = await cred.get();
      assert.equal(recovered.token, 'token-4');
      assert.equal(source.calls, 4);
      assert.deepEqual(cred.state, { method: 'assume_role', status: 'ok', lastRefreshAt: clock.now, expiresAt: clock.now + HOUR, lastError: undefined });
      assert.equal(await cred.get(), recovered);
      assert.equal(source.calls, 4);
    });

    test('with no credential ever obtained, get() rejects the same way', async (t) => {
      const { cred, source, clock } = setup(t);
      source.failWith = new Error('AKIASECRETLEAK');
      await assert.rejects(cred.get(), (err) => isUnavailable(err) && !(err as Error).message.includes('AKIASECRETLEAK'));
      assert.equal(cred.state.status, 'error');
      assert.equal(cred.state.expiresAt, undefined);
      await assert.rejects(cred.get(), isUnavailable);
      assert.equal(source.calls, 1);
      clock.now += POLICY.minBackoffMs;
      source.failWith = undefined;
      assert.equal((await cred.get()).token, 'token-2');
    });

    test('a failed refresh already in flight is shared, not repeated, even during a backoff', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      source.failWith = new Error('down');
      clock.now = T0 + 2 * HOUR;
      await assert.rejects(cred.get(), isUnavailable);
      // The backoff elapsed; one get() starts a fetch, callers arriving while it runs join it.
      clock.now += POLICY.minBackoffMs;
      source.hold();
      const first = cred.get();
      assert.equal(source.calls, 3);
      const joined = Array.from({ length: 10 }, () => cred.get());
      source.failWith = undefined;
      source.release();
      for (const c of await Promise.all([first, ...joined])) assert.equal(c.token, 'token-3');
      assert.equal(source.calls, 3);
    });
  });

  describe('invalidate()', () => {
    test('right after a fetch it is ignored', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      const first = await cred.get();
      for (const at of [T0, T0 + 1, T0 + POLICY.invalidateCooldownMs - 1]) {
        clock.now = at;
        for (let i = 0; i < 20; i++) cred.invalidate();
        assert.equal(await cred.get(), first);
      }
      assert.equal(source.calls, 1);
    });

    test('after the cooldown the next get() waits for a fresh credential, never the old one', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      const first = await cred.get();
      clock.now = T0 + POLICY.invalidateCooldownMs;
      cred.invalidate();
      assert.equal(source.calls, 1, 'invalidate() itself does not fetch');

      source.hold();
      const pending = Array.from({ length: 20 }, () => cred.get());
      assert.equal(source.calls, 2);
      assert.equal(await isSettled(Promise.race(pending)), false, 'get() does not answer with the old credential');
      source.release();
      for (const c of await Promise.all(pending)) {
        assert.notEqual(c, first);
        assert.equal(c.token, 'token-2');
      }
      assert.equal(await cred.get(), await pending[0]!);
      assert.equal(source.calls, 2);

      // The cooldown now runs from this fetch.
      cred.invalidate();
      assert.equal((await cred.get()).token, 'token-2');
      assert.equal(source.calls, 2);
    });

    test('if the fetch after invalidate() fails, the invalidated credential is served while it has not expired, then get() rejects', async (t) => {
      const { cred, source, clock } = setup(t);
      const first = await cred.get();
      clock.now = T0 + MINUTE;
      cred.invalidate();
      source.failWith = new Error('down');
      // One 403 during an outage of the credential endpoint must not take the instance down.
      assert.equal(await cred.get(), first);
      assert.equal(source.calls, 2);
      assert.equal(cred.state.status, 'ok', 'the credential has not expired');
      // During the backoff: served again, without a fetch.
      assert.equal(await cred.get(), first);
      assert.equal(source.calls, 2);
      // Once it has expired there is nothing left to serve.
      clock.now = T0 + HOUR;
      await assert.rejects(cred.get(), isUnavailable);
    });
  });

  describe('onFetch', () => {
    test('is told about every fetch, the first included, with the source method', async (t) => {
      const { cred, source, clock, fetches } = setup(t, {}, 'web_identity');
      await cred.prime();
      assert.deepEqual(fetches, [{ method: 'web_identity', ok: true }]);

      // A background refresh in the window that fails (a non-Error value is described too).
      source.failWith = 'connection reset';
      clock.now = T0 + HOUR - POLICY.refreshWindowMs;
      await cred.get();
      await settle();
      // An expired credential, a named error.
      source.failWith = new RangeError('bad duration');
      clock.now = T0 + 2 * HOUR;
      await assert.rejects(cred.get(), isUnavailable);
      // Recovery.
      source.failWith = undefined;
      clock.now += POLICY.maxBackoffMs;
      await cred.get();
      // invalidate() after the cooldown.
      clock.now += POLICY.invalidateCooldownMs;
      cred.invalidate();
      await cred.get();

      assert.deepEqual(fetches, [
        { method: 'web_identity', ok: true },
        { method: 'web_identity', ok: false, error: 'connection reset' },
        { method: 'web_identity', ok: false, error: 'RangeError: bad duration' },
        { method: 'web_identity', ok: true },
        { method: 'web_identity', ok: true },
      ]);
      assert.equal(source.calls, fetches.length);
    });

    test('a long error is cut to 300 characters', async (t) => {
      const { cred, source, fetches } = setup(t);
      source.failWith = new Error('x'.repeat(1_000));
      await assert.rejects(cred.prime());
      assert.equal(fetches[0]!.error!.length, 300);
      assert.equal(cred.state.lastError!.length, 300);
    });
  });

  describe('fetch timeout', () => {
    test('a fetch longer than fetchTimeoutMs is aborted and fails (source honouring its signal)', async (t) => {
      const { cred, source, fetches } = setup(t, { fetchTimeoutMs: 20 });
      source.hold();
      await within(assert.rejects(cred.get(), isUnavailable), 'the fetch timeout');
      assert.equal(source.signals[0]!.aborted, true);
      assert.equal(cred.state.status, 'error');
      assert.match(fetches[0]!.error!, /TimeoutError/);
    });
  });

  describe('close()', () => {
    test('aborts the signal of a fetch in flight', async (t) => {
      const { cred, source } = setup(t);
      source.hold();
      const pending = cred.get();
      const signal = source.signals[0]!;
      assert.equal(signal.aborted, false);
      cred.close();
      assert.equal(signal.aborted, true);
      await assert.rejects(pending, isUnavailable);
    });

    test('aborts a background refresh in flight; the last good credential is still served', async (t) => {
      const { cred, source, clock } = setup(t);
      await cred.prime();
      const good = await cred.get();
      source.hold();
      clock.now = T0 + HOUR - MINUTE;
      assert.equal(await cred.get(), good);
      assert.equal(source.calls, 2);
      cred.close();
      assert.equal(source.signals[1]!.aborted, true);
      await settle();
      assert.equal(await cred.get(), good);
    });

    test('stops the background timer: nothing is fetched after close()', async (t) => {
      // Real clock: the first credential's refresh would be due 10 ms after the fetch.
      const source = new FakeSource(Date.now);
      source.lifetimeMs = 60;
      const cred = new RefreshingCredential(source, { policy: { ...POLICY, refreshWindowMs: 50, minBackoffMs: 10 } });
      t.after(() => cred.close());
      await cred.prime();
      cred.close();
      await delay(100);
      assert.equal(source.calls, 1);
    });

    test('a fetch failing after close() arms no retry timer', async (t) => {
      const source = new FakeSource(Date.now);
      const cred = new RefreshingCredential(source, { policy: { ...POLICY, minBackoffMs: 5, maxBackoffMs: 5 } });
      t.after(() => cred.close());
      source.hold();
      const pending = cred.get();
      cred.close();
      await assert.rejects(pending, isUnavailable);
      await delay(50);
      assert.equal(source.calls, 1);
    });
  });

  describe('background timer', () => {
    test('refreshes before expiry without any get() call', async (t) => {
      const source = new FakeSource(Date.now);
      source.lifetimeMs = 60;
      const fetches: FetchResult[] = [];
      const cred = new RefreshingCredential(source, { policy: { ...POLICY, refreshWindowMs: 50 }, onFetch: (r) => fetches.push(r) });
      t.after(() => cred.close());
      await cred.prime();
      // The second credential lives long, so the timer then stays quiet.
      source.lifetimeMs = HOUR;
      await until(() => source.calls === 2 && fetches.length === 2, 'the background refresh');
      assert.equal(fetches[1]!.ok, true);
      assert.equal((await cred.get()).token, 'token-2');
      assert.equal(source.calls, 2);
    });

    test('retries a failed background refresh after the backoff, without any get() call', async (t) => {
      const source = new FakeSource(Date.now);
      source.lifetimeMs = 60;
      const fetches: FetchResult[] = [];
      const cred = new RefreshingCredential(source, {
        policy: { ...POLICY, refreshWindowMs: 50, minBackoffMs: 20, maxBackoffMs: 20 },
        onFetch: (r) => fetches.push(r),
      });
      t.after(() => cred.close());
      await cred.prime();
      source.lifetimeMs = HOUR;
      source.failWith = new Error('down');
      await until(() => fetches.length >= 2, 'the failed background refresh');
      assert.equal(fetches[1]!.ok, false);
      source.failWith = undefined;
      await until(() => fetches.some((f, i) => i > 1 && f.ok), 'the retry');
      assert.equal(cred.state.status, 'ok');
      assert.equal(cred.state.lastError, undefined);
    });

    test('no timer keeps the process alive: a process with open instances exits by itself', async () => {
      // Three instances never closed: one waiting an hour to refresh, one backing off after a
      // failure, one with a fetch in flight under its default 30 s timeout.
      const script = `
        import { RefreshingCredential } from ${JSON.stringify(new URL('./cache.js', import.meta.url).href)};
        const fresh = new RefreshingCredential({ method: 'a', fetch: async () => ({ type: 'bearer', token: 't', expiresAt: Date.now() + 3_600_000 }) });
        await fresh.prime();
        const failing = new RefreshingCredential({ method: 'b', fetch: async () => { throw new Error('down'); } }, { policy: { minBackoffMs: 600_000 } });
        await failing.prime().catch(() => {});
        const hanging = new RefreshingCredential({ method: 'c', fetch: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))) });
        void hanging.get().catch(() => {});
        console.log('armed');
      `;
      const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
      assert.equal(stdout.trim(), 'armed');
    });
  });

  describe('short-lived credentials', () => {
    test(
      'a credential whose lifetime is shorter than the refresh window does not cause a refetch loop',
      async (t) => {
        const { cred, source } = setup(t);
        // Expires in 2 minutes; the window is 5 minutes.
        source.lifetimeMs = 2 * MINUTE;
        await cred.prime();
        await delay(50);
        const calls = source.calls;
        cred.close();
        assert.ok(calls <= 2, `${calls} fetches in 50 ms with no get() call`);
      },
    );
  });
});
