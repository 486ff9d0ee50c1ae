import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SecretScrubber } from '../observability/scrubber.js';
import { CachedToken, type ExpiringToken } from './cached-token.js';

describe('CachedToken', () => {
  const signal = AbortSignal.timeout(5000);

  test('one fetch for concurrent callers; kept until the refresh window; refetched after', async () => {
    let now = 0;
    let fetches = 0;
    const cache = new CachedToken(async () => ({ token: `t${++fetches}`, expiresAt: now + 60_000 }), 10_000, () => now);
    assert.deepEqual(await Promise.all([cache.get(signal), cache.get(signal), cache.get(signal)]), ['t1', 't1', 't1']);
    now = 49_999;
    assert.equal(await cache.get(signal), 't1');
    now = 50_000;
    assert.equal(await cache.get(signal), 't2');
    assert.equal(fetches, 2);
  });

  test('a failed refresh serves the last token until it expires, then fails', async () => {
    let now = 0;
    let fail = false;
    const cache = new CachedToken(async (): Promise<ExpiringToken> => {
      if (fail) throw new Error('token endpoint down');
      return { token: 'good', expiresAt: now + 60_000 };
    }, 10_000, () => now);
    assert.equal(await cache.get(signal), 'good');
    fail = true;
    now = 55_000;
    assert.equal(await cache.get(signal), 'good');
    now = 60_000;
    await assert.rejects(cache.get(signal), /token endpoint down/);
  });

  test('invalidate drops only the token named', async () => {
    let fetches = 0;
    const cache = new CachedToken(async () => ({ token: `t${++fetches}` }));
    assert.equal(await cache.get(signal), 't1');
    cache.invalidate('t0');
    assert.equal(await cache.get(signal), 't1');
    cache.invalidate('t1');
    assert.equal(await cache.get(signal), 't2');
  });
  test('maskIn: the current token is masked, and each new one replaces the last in the scrubber', async () => {
    let fetches = 0;
    const cache = new CachedToken(async () => ({ token: `token-number-${++fetches}` }));
    const scrubber = new SecretScrubber();
    assert.equal(await cache.get(signal), 'token-number-1');
    cache.maskIn(scrubber);
    assert.equal(scrubber.scrub('a token-number-1 b'), 'a [REDACTED] b');
    cache.invalidate('token-number-1');
    assert.equal(await cache.get(signal), 'token-number-2');
    assert.equal(scrubber.scrub('token-number-1 token-number-2'), 'token-number-1 [REDACTED]');
  });
});
