import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { RequestContext } from '../../request/context.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { Req, Res } from '../../util/http.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { dummySecretHash } from '../api-key/hash.js';
import { FailedAttemptThrottle } from '../throttle.js';
import { recordingAttempt } from '../test-support.js';
import { BasicAuthenticator, parseBasic } from './authenticator.js';
import { hashPassword, passwordProblem, verifyPassword } from './password.js';
import { UserDirectory } from './users.js';

function ctx(headers: Record<string, string>): RequestContext {
  return new RequestContext({ headers, method: 'GET', url: '/v1/models' } as unknown as Req, {} as Res);
}
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('Basic authentication of users', () => {
  let store: SqliteStore;
  let users: UserDirectory;
  let auth: BasicAuthenticator;
  let slowChecks: number;
  /** The hash each slow check ran against. */
  let hashes: string[];
  let attempt: ReturnType<typeof recordingAttempt>;
  let now: number;
  const check = (headers: Record<string, string>) => auth.authenticate(ctx(headers), attempt);
  const PASSWORD = 'correct horse battery';

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    now = Date.UTC(2026, 0, 1);
    slowChecks = 0;
    hashes = [];
    attempt = recordingAttempt();
    users = new UserDirectory(store.identity.users, () => true);
    auth = new BasicAuthenticator({
      users,
      cacheTtlMs: 60_000,
      trusted: () => true,
      now: () => now,
      verifyPassword: (hash, pw) => {
        slowChecks++;
        hashes.push(hash);
        return verifyPassword(hash, pw);
      },
    });
    // Wired as local.ts wires it: every identity change clears the caches.
    store.identity.watch(() => {
      users.clear();
      auth.clear();
    });
    await store.identity.users.create({
      name: 'alice',
      role: 'viewer',
      passwordHash: await hashPassword(PASSWORD),
      scopes: { instances: ['openai'], models: null },
      limits: { rpm: 10, tpm: null, budgetUsd: 5 },
    });
  });
  afterEach(() => store.close());

  test('claims only Basic credentials', () => {
    assert.equal(auth.claims(ctx(basic('alice', PASSWORD))), true);
    assert.equal(auth.claims(ctx({ authorization: 'basic YTpi' })), true, 'the scheme is case-insensitive');
    assert.equal(auth.claims(ctx({ authorization: 'Bearer llmp_x' })), false);
    assert.equal(auth.claims(ctx({})), false);
  });

  test('a right password yields a basic principal with the user\'s role, scopes and limits', async () => {
    const r = await check(basic('alice', PASSWORD));
    assert.ok(r.ok);
    assert.equal(r.principal.kind, 'basic');
    assert.equal(r.principal.user, 'alice');
    assert.deepEqual(r.principal.roles, ['viewer']);
    assert.deepEqual(r.principal.limits, { rpm: 10, tpm: null, budgetUsd: 5 });
  });

  test('argon2 runs once per credential; later requests are answered from the keyed cache until it expires', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await check(basic('alice', PASSWORD))).ok, true);
    assert.equal(slowChecks, 1);
    now += 60_001;
    assert.equal((await check(basic('alice', PASSWORD))).ok, true);
    assert.equal(slowChecks, 2, 'after cache_ttl the password is verified again');
  });

  test('wrong password, unknown user and malformed credentials are guesses; none is cached', async () => {
    assert.deepEqual(await check(basic('alice', 'wrong password!!')), { ok: false, reason: 'bad_password', guess: true });
    assert.deepEqual(await check(basic('alice', 'wrong password!!')), { ok: false, reason: 'bad_password', guess: true });
    assert.equal(slowChecks, 2);
    assert.deepEqual(await check(basic('mallory', PASSWORD)), { ok: false, reason: 'unknown_user', guess: true });
    assert.equal(slowChecks, 3, 'an unknown user costs one slow check too');
    assert.deepEqual(await check({ authorization: 'Basic !!!' }), { ok: false, reason: 'malformed', guess: true });
    assert.deepEqual(await check({ authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }), { ok: false, reason: 'malformed', guess: true });
  });

  test('disabling the user refuses it at once, even with a cached verification; enabling restores it', async () => {
    assert.equal((await check(basic('alice', PASSWORD))).ok, true);
    await store.identity.users.setDisabled('alice', true, now);
    assert.deepEqual(await check(basic('alice', PASSWORD)), { ok: false, reason: 'user_disabled', guess: false });
    await store.identity.users.setDisabled('alice', false, now);
    assert.equal((await check(basic('alice', PASSWORD))).ok, true);
  });

  test('a password change drops the cached verification of the old password at once', async () => {
    assert.equal((await check(basic('alice', PASSWORD))).ok, true);
    await store.identity.users.setPassword('alice', await hashPassword('a brand new password'), now);
    assert.deepEqual(await check(basic('alice', PASSWORD)), { ok: false, reason: 'bad_password', guess: true });
    assert.equal((await check(basic('alice', 'a brand new password'))).ok, true);
  });

  test('an unknown user, and a user without a password, are verified with the same function against the dummy hash', async () => {
    await store.identity.users.create({ name: 'nopass', role: 'viewer', passwordHash: null, scopes: { instances: null, models: null }, limits: { rpm: null, tpm: null, budgetUsd: null } });
    assert.deepEqual(await check(basic('mallory', PASSWORD)), { ok: false, reason: 'unknown_user', guess: true });
    assert.deepEqual(await check(basic('nopass', PASSWORD)), { ok: false, reason: 'unknown_user', guess: true });
    assert.deepEqual(await check(basic('alice', 'wrong password!!')), { ok: false, reason: 'bad_password', guess: true });
    const alice = await store.identity.users.get('alice');
    const dummy = await dummySecretHash();
    assert.deepEqual(hashes, [dummy, dummy, alice!.passwordHash]);
    // The dummy has the real hashes' algorithm and parameters, so it costs the same.
    assert.equal(dummy.split('$').slice(0, 4).join('$'), alice!.passwordHash!.split('$').slice(0, 4).join('$'));
    assert.match(dummy, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });

  test('a check the cache cannot answer reserves a failure slot first and hashes through attempt.slow; cheap checks do neither', async () => {
    await check(basic('alice', 'wrong password!!'));
    assert.deepEqual(attempt.calls, ['reserve', 'slow']);
    attempt.calls.length = 0;
    await check(basic('mallory', PASSWORD));
    assert.deepEqual(attempt.calls, ['reserve', 'slow']);
    attempt.calls.length = 0;
    await check(basic('alice', PASSWORD));
    assert.deepEqual(attempt.calls, ['reserve', 'slow']);
    attempt.calls.length = 0;
    await check(basic('alice', PASSWORD));
    await check({ authorization: 'Basic !!!' });
    assert.deepEqual(attempt.calls, [], 'a cached verification and a malformed credential are cheap');
  });

  test('with no failure slot left, a guess is refused with 429 before the user is read or hashed', async () => {
    const throttle = new FailedAttemptThrottle({ limit: 1, windowMs: 60_000, concurrency: { perClient: 4, total: 32 } });
    assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)), throttle.attempt('192.0.2.9'))).ok, true, 'cached from another address');
    slowChecks = 0;
    throttle.attempt('192.0.2.1').reserve();
    await assert.rejects(
      auth.authenticate(ctx(basic('alice', 'wrong password!!')), throttle.attempt('192.0.2.1')),
      (err: unknown) => err instanceof GatewayError && err.code === 'too_many_auth_failures',
    );
    assert.equal(slowChecks, 0);
    // A verification the cache holds needs no slot.
    assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)), throttle.attempt('192.0.2.1'))).ok, true);
  });

  test('password policy and parsing', () => {
    assert.match(passwordProblem('short') ?? '', /at least 12/);
    assert.equal(passwordProblem('twelve chars'), undefined);
    assert.deepEqual(parseBasic(Buffer.from('bob:pa:ss:word').toString('base64')), { user: 'bob', password: 'pa:ss:word' });
    assert.equal(parseBasic(Buffer.from(':nouser').toString('base64')), undefined);
  });
});
