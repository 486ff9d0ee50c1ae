import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { RequestContext } from '../../request/context.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/index.js';
import type { Req, Res } from '../../util/http.js';
import { issueKey } from '../api-key/issue.js';
import { hashPassword } from '../basic/password.js';
import { UserDirectory } from '../basic/users.js';
import { SessionAuthenticator } from './authenticator.js';
import { hashSessionSecret, newSessionToken, parseSessionToken } from './token.js';

function ctx(headers: Record<string, string>): RequestContext {
  return new RequestContext({ headers, method: 'GET', url: '/v1/models' } as unknown as Req, {} as Res);
}

describe('session tokens', () => {
  let store: SqliteStore;
  let auth: SessionAuthenticator;
  let now: number;
  const T0 = Date.UTC(2026, 0, 1);
  const HOUR = 3_600_000;

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    now = T0;
    const users = new UserDirectory(store.identity.users, () => true);
    auth = new SessionAuthenticator({ sessions: store.identity.sessions, keys: store.keys, users, trusted: () => true, now: () => now });
    store.identity.watch(() => {
      users.clear();
      auth.clearSessions();
    });
  });
  afterEach(() => store.close());

  async function session(subject: { keyId: string | null; user: string | null }, ttl = HOUR) {
    const t = newSessionToken();
    await store.identity.sessions.create({ id: t.id, secretHash: hashSessionSecret(t.secret), ...subject, createdAt: now, expiresAt: now + ttl });
    return t.token;
  }

  test('the token format is distinct from API keys and only the secret\'s hash is stored', async () => {
    const t = newSessionToken();
    assert.match(t.token, /^llms_[0-9A-Za-z]{16}_[0-9A-Za-z]{32}$/);
    assert.deepEqual(parseSessionToken(t.token), { id: t.id, secret: t.secret });
    assert.equal(parseSessionToken(t.token.replace('llms_', 'llmp_')), undefined);
    assert.equal(auth.claims(ctx({ authorization: `Bearer ${t.token}` })), true);
    assert.equal(auth.claims(ctx({ 'x-api-key': t.token })), true);
    assert.equal(auth.claims(ctx({ authorization: 'Bearer llmp_abc' })), false);
    const key = await issueKey(store.keys, { name: 'k' });
    const token = await session({ keyId: key.record.id, user: null });
    const stored = await store.identity.sessions.get(parseSessionToken(token)!.id);
    assert.ok(stored && !stored.secretHash.includes(parseSessionToken(token)!.secret));
  });

  test('a key session carries the key\'s principal until its own expiry', async () => {
    const key = await issueKey(store.keys, { name: 'k', role: 'viewer', user: 'carol' });
    const token = await session({ keyId: key.record.id, user: null });
    const r = await auth.authenticate(ctx({ authorization: `Bearer ${token}` }));
    assert.ok(r.ok);
    assert.equal(r.principal.keyId, key.record.id);
    assert.deepEqual(r.principal.roles, ['viewer']);
    now = T0 + HOUR - 1;
    assert.equal((await auth.authenticate(ctx({ authorization: `Bearer ${token}` }))).ok, true);
    now = T0 + HOUR;
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${token}` })), { ok: false, reason: 'session_expired', guess: false, keyId: key.record.id });
  });

  test('a session dies with its key: revoked (after the key cache is told) or expired', async () => {
    const key = await issueKey(store.keys, { name: 'k', expiresAt: T0 + 10 * 60_000 });
    const token = await session({ keyId: key.record.id, user: null });
    assert.equal((await auth.authenticate(ctx({ authorization: `Bearer ${token}` }))).ok, true);
    now = T0 + 10 * 60_000;
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${token}` })), { ok: false, reason: 'expired', guess: false, keyId: key.record.id });
    now = T0;
    await store.keys.revoke(key.record.id, now);
    auth.forgetKey(key.record.id);
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${token}` })), { ok: false, reason: 'revoked', guess: false, keyId: key.record.id });
  });

  test('a user session dies when the user is disabled or changes password', async () => {
    await store.identity.users.create({ name: 'dave', role: 'developer', passwordHash: await hashPassword('dave password 1'), scopes: { instances: null, models: null }, limits: { rpm: null, tpm: null, budgetUsd: null }, createdAt: T0 - 1 });
    const token = await session({ keyId: null, user: 'dave' });
    const r = await auth.authenticate(ctx({ authorization: `Bearer ${token}` }));
    assert.ok(r.ok);
    assert.equal(r.principal.kind, 'basic');
    assert.equal(r.principal.user, 'dave');
    await store.identity.users.setDisabled('dave', true, now);
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${token}` })), { ok: false, reason: 'user_disabled', guess: false });
    await store.identity.users.setDisabled('dave', false, now);
    assert.equal((await auth.authenticate(ctx({ authorization: `Bearer ${token}` }))).ok, true);
    await store.identity.users.setPassword('dave', await hashPassword('dave password 2'), now + 1);
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${token}` })), { ok: false, reason: 'session_revoked', guess: false });
  });

  test('wrong secret, unknown id and malformed tokens are guesses', async () => {
    const key = await issueKey(store.keys, { name: 'k' });
    const token = await session({ keyId: key.record.id, user: null });
    const { id } = parseSessionToken(token)!;
    const forged = `llms_${id}_${'A'.repeat(32)}`;
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${forged}` })), { ok: false, reason: 'bad_secret', guess: true, keyId: key.record.id });
    assert.deepEqual(await auth.authenticate(ctx({ authorization: `Bearer ${newSessionToken().token}` })), { ok: false, reason: 'unknown_session', guess: true });
    assert.deepEqual(await auth.authenticate(ctx({ authorization: 'Bearer llms_short' })), { ok: false, reason: 'malformed', guess: true });
  });

  test('a revoked session is refused at once', async () => {
    const key = await issueKey(store.keys, { name: 'k' });
    const token = await session({ keyId: key.record.id, user: null });
    assert.equal((await auth.authenticate(ctx({ authorization: `Bearer ${token}` }))).ok, true);
    await store.identity.sessions.revoke(parseSessionToken(token)!.id, now);
    assert.equal((await auth.authenticate(ctx({ authorization: `Bearer ${token}` }))).ok, false);
  });
});

describe('session tokens of API keys follow auth.api_keys', () => {
  const DAY = 86_400_000;
  async function keySession(store: SqliteStore, keyId: string, now: number) {
    const t = newSessionToken();
    await store.identity.sessions.create({ id: t.id, secretHash: hashSessionSecret(t.secret), keyId, user: null, createdAt: now, expiresAt: now + DAY });
    return t.token;
  }

  test('enabled: false refuses a key\'s session as api_keys_disabled; a key past max_age under refuse, as key_too_old', async () => {
    const store = openSqliteStore(':memory:');
    try {
      const users = new UserDirectory(store.identity.users, () => true);
      const key = await issueKey(store.keys, { name: 'k' });
      const now = key.record.createdAt + DAY;
      const token = await keySession(store, key.record.id, now);
      const make = (keyPolicy: ConstructorParameters<typeof SessionAuthenticator>[0]['keyPolicy']) =>
        new SessionAuthenticator({ sessions: store.identity.sessions, keys: store.keys, users, trusted: () => true, now: () => now, ...(keyPolicy ? { keyPolicy } : {}) });
      const request = () => ctx({ authorization: `Bearer ${token}` });
      assert.equal((await make(undefined).authenticate(request())).ok, true);
      assert.deepEqual(await make({ enabled: false, age: { maxAgeMs: null, onMaxAge: 'warn', warnBeforeMs: 14 * DAY } }).authenticate(request()), {
        ok: false,
        reason: 'api_keys_disabled',
        guess: false,
        keyId: key.record.id,
      });
      const aged = make({ enabled: true, age: { maxAgeMs: DAY / 2, onMaxAge: 'refuse', warnBeforeMs: 0 } });
      assert.deepEqual(await aged.authenticate(request()), { ok: false, reason: 'key_too_old', guess: false, keyId: key.record.id });
      const warned = make({ enabled: true, age: { maxAgeMs: DAY / 2, onMaxAge: 'warn', warnBeforeMs: 0 } });
      assert.equal((await warned.authenticate(request())).ok, true);
    } finally {
      store.close();
    }
  });
});
