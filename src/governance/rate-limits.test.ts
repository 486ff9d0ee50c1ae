import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { Metrics } from '../observability/metrics.js';
import type { LimitsConfig } from './config.js';
import { MemoryCounterStore } from './memory-counters.js';
import { RateLimiter, formatReset, limitScopes } from './rate-limits.js';
import { manualClock, registryCaps, testPrincipal } from './test-support.js';

const limits = (over: Partial<LimitsConfig> = {}): LimitsConfig => ({
  roles: {},
  users: {},
  estimate: { bytes_per_token: 4, default_max_tokens: 100 },
  concurrency_ttl: 60_000,
  ...over,
});

describe('limitScopes', () => {
  test('the key record wins over roles and the default; the smallest role limit applies; users add a shared scope', () => {
    const cfg = limits({ default: { rpm: 100, tpm: 1000, concurrent: 9 }, roles: { developer: { rpm: 50, concurrent: 4 }, ops: { rpm: 30 } }, users: { alice: { rpm: 70, concurrent: 2 } } });
    const [own, user] = limitScopes(testPrincipal({ roles: ['developer', 'ops'], user: 'alice', limits: { rpm: 5, tpm: null, budgetUsd: null } }), cfg);
    assert.deepEqual(own, { kind: 'key', prefix: 'rl:key:k1', rpm: 5, tpm: 1000, concurrent: 4 });
    assert.deepEqual(user, { kind: 'user', prefix: 'rl:user:alice', rpm: 70, tpm: undefined, concurrent: 2 });
    assert.equal(limitScopes(testPrincipal({ roles: ['developer', 'ops'] }), cfg)[0]!.rpm, 30);
  });

  test('nothing configured and no key limits: no scope at all', () => {
    assert.deepEqual(limitScopes(testPrincipal(), limits()), []);
  });

  test('principals without a key id are counted by kind and id', () => {
    const [own] = limitScopes(testPrincipal({ kind: 'oidc', id: 'sub-1', keyId: undefined }), limits({ default: { rpm: 1 } }));
    assert.equal(own!.prefix, 'rl:key:oidc:sub-1');
  });
});

test('formatReset follows OpenAI: 20ms, 1.5s, 6m0s', () => {
  assert.equal(formatReset(20), '20ms');
  assert.equal(formatReset(1500), '1.5s');
  assert.equal(formatReset(360_000), '6m0s');
});

describe('RateLimiter', () => {
  const setup = (cfg: LimitsConfig) => {
    const clock = manualClock(600_000 + 15_000); // 15 s into a minute window
    const counters = new MemoryCounterStore({ now: clock.now });
    const metrics = new Metrics();
    return { clock, counters, metrics, limiter: new RateLimiter({ counters, limits: cfg, caps: registryCaps, metrics, now: clock.now }) };
  };

  test('admits up to rpm with the x-ratelimit headers, then 429 rate_limited with Retry-After until the window ends', async () => {
    const { limiter, metrics } = setup(limits({ default: { rpm: 2 } }));
    const p = testPrincipal();
    const first = await limiter.admit(p, null);
    assert.deepEqual(first!.headers, { 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '45s' });
    await limiter.admit(p, null);
    const err = await limiter.admit(p, null).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'rate_limited');
    assert.equal(err.status, 429);
    assert.equal(err.retryAfter, 45);
    assert.equal(err.headers?.['x-ratelimit-remaining-requests'], '0');
    assert.match(err.message, /requests per minute \(limit 2 for your key\)/);
    assert.equal((await metrics.rateLimited.get()).values.find((v) => v.labels.reason === 'rpm')?.value, 1);
  });

  test('a refusal by one scope rolls back what the others took (all or nothing)', async () => {
    const { limiter, counters } = setup(limits({ default: { rpm: 10 }, users: { alice: { concurrent: 1 } } }));
    const p = testPrincipal({ user: 'alice' });
    const held = await limiter.admit(p, null);
    await assert.rejects(limiter.admit(p, null), (e: GatewayError) => e.code === 'rate_limited' && /concurrent/.test(e.message));
    // The refused request's rpm unit was given back: 1 used, not 2.
    assert.equal((await counters.add('rl:key:k1:rpm', 0, 60_000)).total, 1);
    await limiter.finish(held!, undefined, true);
    assert.ok(await limiter.admit(p, null));
  });

  test('tokens are admitted against the estimate and corrected with the actual usage at finish', async () => {
    const { limiter, counters } = setup(limits({ default: { tpm: 1000 } }));
    const p = testPrincipal();
    const body = Buffer.from(`{"max_tokens":300,"pad":"${'x'.repeat(373)}"}`); // 400 bytes → 100 + 300
    const a = await limiter.admit(p, body);
    assert.equal(a!.headers['x-ratelimit-remaining-tokens'], '600');
    await limiter.finish(a!, 50, true);
    assert.equal((await counters.add('rl:key:k1:tpm', 0, 60_000)).total, 50);
    // A failed request without reported usage gives its estimate back.
    const b = await limiter.admit(p, body);
    await limiter.finish(b!, undefined, false);
    assert.equal((await counters.add('rl:key:k1:tpm', 0, 60_000)).total, 50);
    // finish is idempotent.
    await limiter.finish(b!, undefined, false);
    assert.equal((await counters.add('rl:key:k1:tpm', 0, 60_000)).total, 50);
  });

  test('tpm: an estimate larger than what is left reserves the rest; a full window refuses until it ends', async () => {
    const { limiter, clock, counters } = setup(limits({ default: { tpm: 100 } }));
    const p = testPrincipal();
    const small = await limiter.admit(p, Buffer.from('{"max_tokens":30}')); // 5 + 30
    assert.equal(small!.headers['x-ratelimit-remaining-tokens'], '65');
    const big = await limiter.admit(p, Buffer.from('{"max_tokens":5000}'));
    assert.equal(big!.headers['x-ratelimit-remaining-tokens'], '0');
    assert.deepEqual(big!.tokens, [{ key: 'rl:key:k1:tpm', charged: 65 }]);
    await assert.rejects(limiter.admit(p, Buffer.from('{"max_tokens":1}')), (e: GatewayError) => e.code === 'rate_limited' && /tokens per minute/.test(e.message));
    // The big one used 20 in the end: room again.
    await limiter.finish(big!, 20, true);
    assert.equal((await counters.add('rl:key:k1:tpm', 0, 60_000)).total, 55);
    assert.ok(await limiter.admit(p, Buffer.from('{"max_tokens":1}')));
    clock.advance(45_000); // a new window
    const fresh = await limiter.admit(p, Buffer.from('{"max_tokens":1}'));
    assert.equal(fresh!.headers['x-ratelimit-remaining-tokens'], '95');
  });

  test('100 concurrent admissions with rpm 20 admit exactly 20', async () => {
    const { limiter } = setup(limits({ default: { rpm: 20 } }));
    const p = testPrincipal();
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => limiter.admit(p, null)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 20);
  });
});

describe('on_counter_failure (shared counters unreachable)', () => {
  /** Shared counters whose every operation fails, as a Redis cut off by the network does. */
  const unreachable = {
    tryAdd: () => Promise.reject(new Error('Redis unreachable')),
    add: () => Promise.reject(new Error('Redis unreachable')),
    acquire: () => Promise.reject(new Error('Redis unreachable')),
    release: () => Promise.reject(new Error('Redis unreachable')),
    close: () => Promise.resolve(),
  };
  const failures = async (m: Metrics, policy: string) => (await m.counterStoreFailures.get()).values.find((v) => v.labels.policy === policy)?.value ?? 0;

  test('open: requests are counted by this process alone, so its own limit still holds', async () => {
    const metrics = new Metrics();
    const clock = manualClock(Date.UTC(2026, 0, 1));
    const limiter = new RateLimiter({ counters: unreachable, caps: registryCaps, fallback: new MemoryCounterStore({ now: clock.now }), limits: limits({ default: { rpm: 2, concurrent: 5 } }), metrics, now: clock.now, onFailure: 'open' });
    const p = testPrincipal();
    const a = await limiter.admit(p, null);
    const b = await limiter.admit(p, null);
    await assert.rejects(limiter.admit(p, null), (e: GatewayError) => e.code === 'rate_limited');
    assert.equal(await failures(metrics, 'open'), 3);
    // Finishing releases the slots taken from the fallback, not from the unreachable store.
    await limiter.finish(a!, 10, true);
    await limiter.finish(b!, 10, true);
  });

  test('closed: 503 counters_unavailable, counted, nothing admitted', async () => {
    const metrics = new Metrics();
    const limiter = new RateLimiter({ counters: unreachable, caps: registryCaps, fallback: new MemoryCounterStore(), limits: limits({ default: { rpm: 100 } }), metrics, onFailure: 'closed' });
    await assert.rejects(limiter.admit(testPrincipal(), null), (e: GatewayError) => e.code === 'counters_unavailable' && e.retryAfter === 1);
    assert.equal(await failures(metrics, 'closed'), 1);
    assert.equal(await failures(metrics, 'open'), 0);
    // A principal nothing limits never touches the counters, so an outage does not concern it.
    const unlimited = new RateLimiter({ counters: unreachable, caps: registryCaps, fallback: new MemoryCounterStore(), limits: limits(), metrics, onFailure: 'closed' });
    assert.equal(await unlimited.admit(testPrincipal(), null), undefined);
    assert.equal(await failures(metrics, 'closed'), 1);
  });
});
