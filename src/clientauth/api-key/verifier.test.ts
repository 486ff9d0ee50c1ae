import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { createLogger } from '../../observability/logger.js';
import { SecretScrubber } from '../../observability/scrubber.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import { FailedAttemptThrottle } from '../throttle.js';
import { recordingAttempt } from '../test-support.js';
import { generateKey } from './format.js';
import { dummySecretHash, verifySecret } from './hash.js';
import { issueKey } from './issue.js';
import { ApiKeyVerifier } from './verifier.js';

describe('ApiKeyVerifier: guessing costs the same and is counted before the slow hash', () => {
  let store: SqliteStore;
  let verifier: ApiKeyVerifier;
  /** The hash each slow check ran against. */
  let hashes: string[];

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    hashes = [];
    const logger = createLogger({ level: 'silent', scrubber: new SecretScrubber(), destination: { write: () => {} } });
    verifier = new ApiKeyVerifier(store.keys, {
      cacheTtlMs: 60_000,
      pollMs: 60_000,
      logger,
      verifySecret: (hash, secret) => {
        hashes.push(hash);
        return verifySecret(hash, secret);
      },
    });
    await verifier.start();
  });
  afterEach(async () => {
    await verifier.stop();
    store.close();
  });

  test('an unknown key id is verified with the same function as a wrong secret, against the dummy hash of the same parameters', async () => {
    const { key, record } = await issueKey(store.keys, { name: 'k' });
    const unknown = generateKey();
    const wrongSecret = generateKey(record.id).key;
    assert.deepEqual(await verifier.verify(unknown.key, recordingAttempt()), { ok: false, reason: 'unknown_key', keyId: unknown.id });
    assert.deepEqual(await verifier.verify(wrongSecret, recordingAttempt()), { ok: false, reason: 'bad_secret', keyId: record.id });
    assert.equal((await verifier.verify(key, recordingAttempt())).ok, true);
    const dummy = await dummySecretHash();
    assert.deepEqual(hashes, [dummy, record.secretHash, record.secretHash]);
    assert.equal(dummy.split('$').slice(0, 4).join('$'), record.secretHash.split('$').slice(0, 4).join('$'), 'same algorithm, version and cost');
  });

  test('the dummy hash exists once start has returned, and is the same for every verifier', async () => {
    const first = await dummySecretHash();
    assert.match(first, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    assert.equal(await dummySecretHash(), first);
    assert.equal(await verifySecret(first, ''), false);
  });

  test('a check the cache cannot answer reserves a slot, then hashes through attempt.slow; a cached key and a malformed one do neither', async () => {
    const { key } = await issueKey(store.keys, { name: 'k' });
    const calls = async (presented: string) => {
      const attempt = recordingAttempt();
      await verifier.verify(presented, attempt);
      return attempt.calls;
    };
    assert.deepEqual(await calls(generateKey().key), ['reserve', 'slow']);
    assert.deepEqual(await calls(key), ['reserve', 'slow']);
    assert.deepEqual(await calls(key), [], 'verified before: answered from the cache');
    assert.deepEqual(await calls('llmp_not-a-key'), []);
  });

  test('concurrent requests with the same new key share one check: one slot, one hash', async () => {
    const { key } = await issueKey(store.keys, { name: 'k' });
    const attempts = Array.from({ length: 5 }, () => recordingAttempt());
    const results = await Promise.all(attempts.map((a) => verifier.verify(key, a)));
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(attempts.map((a) => a.calls), [['reserve', 'slow'], [], [], [], []]);
    assert.equal(hashes.length, 1);
  });

  test('with no slot left for the address, a guess is refused with 429 before the store is read or anything hashed', async () => {
    const throttle = new FailedAttemptThrottle({ limit: 2, windowMs: 60_000, concurrency: { perClient: 4, total: 32 } });
    const { key } = await issueKey(store.keys, { name: 'k' });
    assert.equal((await verifier.verify(key, throttle.attempt('192.0.2.9'))).ok, true);
    hashes.length = 0;
    const inFlight = [throttle.attempt('192.0.2.1'), throttle.attempt('192.0.2.1')];
    for (const a of inFlight) a.reserve();
    for (const presented of [generateKey().key, generateKey(key.slice(5, 17)).key]) {
      await assert.rejects(
        Promise.resolve().then(() => verifier.verify(presented, throttle.attempt('192.0.2.1'))),
        (err: unknown) => err instanceof GatewayError && err.code === 'too_many_auth_failures',
      );
    }
    assert.deepEqual(hashes, []);
    assert.equal((await verifier.verify(key, throttle.attempt('192.0.2.1'))).ok, true, 'a cached key needs no slot');
  });
});

describe('ApiKeyVerifier: the store unreachable past the staleness bound', () => {
  /** Key store over SQLite whose reads can be made to fail, as a PostgreSQL cut off by the network does. */
  async function setup(watch?: { trustedSince(): number | undefined }) {
    const store = openSqliteStore(':memory:');
    const broken = { down: false };
    const keys = new Proxy(store.keys, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (broken.down ? Promise.reject(new Error('connection refused')) : (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    let now = Date.UTC(2026, 0, 1);
    const logger = createLogger({ level: 'silent', scrubber: new SecretScrubber(), destination: { write: () => {} } });
    const verifier = new ApiKeyVerifier(keys, { cacheTtlMs: 600_000, pollMs: 3_600_000, maxStalenessMs: 5000, logger, now: () => now, ...(watch ? { watch } : {}) });
    await verifier.start();
    const { key } = await issueKey(store.keys, { name: 'k' });
    assert.equal((await verifier.verify(key, recordingAttempt())).ok, true);
    await verifier.poll();
    return { store, verifier, key, broken, advance: (ms: number) => void (now += ms), now: () => now };
  }

  test('without announcements: a verified key is re-read once polling has failed for longer than 5 s, and the outage refuses it with 503', async () => {
    const { store, verifier, key, broken, advance } = await setup();
    try {
      broken.down = true;
      await verifier.poll();
      advance(4000);
      assert.equal((await verifier.verify(key, recordingAttempt())).ok, true, 'within the bound the cache answers');
      advance(2000);
      await assert.rejects(verifier.verify(key, recordingAttempt()), (e: GatewayError) => e.code === 'store_unavailable');
    } finally {
      await verifier.stop().catch(() => undefined);
      store.close();
    }
  });

  test('with announcements heard since before the last good poll, the cache keeps answering; a gap in them ends that', async () => {
    const channel = { since: undefined as number | undefined };
    const { store, verifier, key, broken, advance, now } = await setup({ trustedSince: () => channel.since });
    try {
      channel.since = now() - 1000; // live since before the last successful poll
      broken.down = true;
      advance(60_000);
      await verifier.poll();
      assert.equal((await verifier.verify(key, recordingAttempt())).ok, true, 'no announcement was missed: no revocation was');
      channel.since = now(); // reconnected after a gap: an announcement may have been lost
      await assert.rejects(verifier.verify(key, recordingAttempt()), (e: GatewayError) => e.code === 'store_unavailable');
      channel.since = undefined;
      await assert.rejects(verifier.verify(key, recordingAttempt()), (e: GatewayError) => e.code === 'store_unavailable');
    } finally {
      await verifier.stop().catch(() => undefined);
      store.close();
    }
  });
});

describe('ApiKeyVerifier: key age and imported keys', () => {
  const DAY = 86_400_000;
  async function setup(agePolicy?: ConstructorParameters<typeof ApiKeyVerifier>[1]['agePolicy']) {
    const store = openSqliteStore(':memory:');
    const hashes: string[] = [];
    // Keys are issued at the real time; the verifier's clock starts there and is moved by hand.
    let now = Date.now();
    const logger = createLogger({ level: 'silent', scrubber: new SecretScrubber(), destination: { write: () => {} } });
    const verifier = new ApiKeyVerifier(store.keys, {
      cacheTtlMs: 365 * DAY,
      pollMs: 3_600_000,
      maxStalenessMs: 365 * DAY,
      logger,
      now: () => now,
      ...(agePolicy ? { agePolicy } : {}),
      verifySecret: (hash, secret) => {
        hashes.push(hash);
        return verifySecret(hash, secret);
      },
    });
    await verifier.start();
    return { store, verifier, hashes, now: () => now, advance: (ms: number) => void (now += ms) };
  }

  test('a cached key crosses warn_before and then max_age without another slow hash: notice, then refusal', async () => {
    const { store, verifier, hashes, now, advance } = await setup({ maxAgeMs: 90 * DAY, onMaxAge: 'refuse', warnBeforeMs: 14 * DAY });
    try {
      const { key, record } = await issueKey(store.keys, { name: 'k' });
      const first = await verifier.verify(key, recordingAttempt());
      assert.deepEqual(first.ok && first.notice, undefined);
      advance(80 * DAY);
      const ending = await verifier.verify(key, recordingAttempt());
      assert.deepEqual(ending.ok && ending.notice, { keyId: record.id, endsAt: record.createdAt + 90 * DAY, tooOld: false });
      advance(10 * DAY + 60_000);
      assert.deepEqual(await verifier.verify(key, recordingAttempt()), { ok: false, reason: 'key_too_old', keyId: record.id });
      assert.equal(hashes.length, 1, 'the age is judged from the cached record on each request');
      assert.ok(now() >= record.createdAt + 90 * DAY);
    } finally {
      await verifier.stop();
      store.close();
    }
  });

  test('an imported key is found by its SHA-256 tag, hashed once, then answered from the cache; unknown look-alikes cost a dummy hash', async () => {
    const { store, verifier, hashes, now } = await setup();
    try {
      const { applyImport, planImport } = await import('./import.js');
      const secret = 'f'.repeat(8) + '0123456789abcdef0123456789abcdef0123456789abcdef';
      const steps = await planImport(store.keys, [{ name: 'user1', source: 'test', secret }], {});
      const [{ record }] = await applyImport(store.keys, steps, {});
      const first = await verifier.verify(secret, recordingAttempt());
      assert.equal(first.ok && first.principal.keyId, record.id);
      assert.equal((await verifier.verify(secret, recordingAttempt())).ok, true);
      assert.deepEqual(hashes, [record.secretHash]);
      const lookalike = '0123456789abcdef0123456789abcdef0123456789abcdef' + 'e'.repeat(8);
      assert.deepEqual(await verifier.verify(lookalike, recordingAttempt()), { ok: false, reason: 'unknown_key', keyId: undefined });
      assert.equal(hashes[1], await dummySecretHash());
      assert.deepEqual(await verifier.verify('too-short-0123', recordingAttempt()), { ok: false, reason: 'malformed', keyId: undefined });
      assert.equal(hashes.length, 2, 'a credential too short to be imported is malformed without a store read or hash');
      await store.keys.revoke(record.id, now());
      verifier.invalidate(record.id);
      assert.deepEqual(await verifier.verify(secret, recordingAttempt()), { ok: false, reason: 'revoked', keyId: record.id });
    } finally {
      await verifier.stop();
      store.close();
    }
  });
});
