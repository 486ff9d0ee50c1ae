import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { RequestContext } from '../../middleware/context.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { Req, Res } from '../../util/http.js';
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
  let now: number;
  const PASSWORD = 'correct horse battery';

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    now = Date.UTC(2026, 0, 1);
    slowChecks = 0;
    users = new UserDirectory(store.identity.users, () => true);
    auth = new BasicAuthenticator({
      users,
      cacheTtlMs: 60_000,
      trusted: () => true,
      now: () => now,
      verifyPassword: (hash, pw) => {
        slowChecks++;
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
    const r = await auth.authenticate(ctx(basic('alice', PASSWORD)));
    assert.ok(r.ok);
    assert.equal(r.principal.kind, 'basic');
    assert.equal(r.principal.user, 'alice');
    assert.deepEqual(r.principal.roles, ['viewer']);
    assert.deepEqual(r.principal.limits, { rpm: 10, tpm: null, budgetUsd: 5 });
  });

  test('argon2 runs once per credential; later requests are answered from the keyed cache until it expires', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)))).ok, true);
    assert.equal(slowChecks, 1);
    now += 60_001;
    assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)))).ok, true);
    assert.equal(slowChecks, 2, 'after cache_ttl the password is verified again');
  });

  test('wrong password, unknown user and malformed credentials are guesses; none is cached', async () => {
    assert.deepEqual(await auth.authenticate(ctx(basic('alice', 'wrong password!!'))), { ok: false, reason: 'bad_password', guess: true });
    assert.deepEqual(await auth.authenticate(ctx(basic('alice', 'wrong password!!'))), { ok: false, reason: 'bad_password', guess: true });
    assert.equal(slowChecks, 2);
    assert.deepEqual(await auth.authenticate(ctx(basic('mallory', PASSWORD))), { ok: false, reason: 'unknown_user', guess: true });
    assert.deepEqual(await auth.authenticate(ctx({ authorization: 'Basic !!!' })), { ok: false, reason: 'malformed', guess: true });
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` })), { ok: false, reason: 'malformed', guess: true });
  });

  test('disabling the user refuses it at once, even with a cached verification; enabling restores it', async () => {
    assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)))).ok, true);
    await store.identity.users.setDisabled('alice', true, now);
    assert.deepEqual(await auth.authenticate(ctx(basic('alice', PASSWORD))), { ok: false, reason: 'user_disabled', guess: false });
    await store.identity.users.setDisabled('alice', false, now);
    assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)))).ok, true);
  });

  test('a password change drops the cached verification of the old password at once', async () => {
    assert.equal((await auth.authenticate(ctx(basic('alice', PASSWORD)))).ok, true);
    await store.identity.users.setPassword('alice', await hashPassword('a brand new password'), now);
    assert.deepEqual(await auth.authenticate(ctx(basic('alice', PASSWORD))), { ok: false, reason: 'bad_password', guess: true });
    assert.equal((await auth.authenticate(ctx(basic('alice', 'a brand new password')))).ok, true);
  });

  test('password policy and parsing', () => {
    assert.match(passwordProblem('short') ?? '', /at least 12/);
    assert.equal(passwordProblem('twelve chars'), undefined);
    assert.deepEqual(parseBasic(Buffer.from('bob:pa:ss:word').toString('base64')), { user: 'bob', password: 'pa:ss:word' });
    assert.equal(parseBasic(Buffer.from(':nouser').toString('base64')), undefined);
  });
});
