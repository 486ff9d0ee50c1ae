import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { issueKey } from '../clientauth/api-key/issue.js';
import { UserDirectory } from '../clientauth/basic/users.js';
import { SessionAuthenticator } from '../clientauth/session/authenticator.js';
import { hashSessionSecret, newSessionToken } from '../clientauth/session/token.js';
import { GatewayError } from '../errors/gateway-error.js';
import { createLogger } from '../observability/logger.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { RequestContext } from '../request/context.js';
import { AuditTrail } from '../store/audit-trail.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/index.js';
import type { Req, Res } from '../util/http.js';
import { consoleConfigSchema } from './config.js';
import { csrfToken, readCookie } from './cookies.js';
import { consoleAuthenticator } from './session.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1);

function request(method: string, path: string, headers: Record<string, string>): RequestContext {
  return new RequestContext({ headers: { host: 'gw.example:8080', ...headers }, method, url: path, socket: { remoteAddress: '127.0.0.1' } } as unknown as Req, {} as Res);
}

describe('console session cookie as a credential', () => {
  let store: SqliteStore;
  let now: number;
  let auth: ReturnType<typeof consoleAuthenticator>;
  const attempt = { settle() {} } as never;

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    now = T0;
    const users = new UserDirectory(store.identity.users, () => true);
    const sessions = new SessionAuthenticator({ sessions: store.identity.sessions, keys: store.keys, users, trusted: () => true, now: () => now });
    const logger = createLogger({ level: 'silent', scrubber: new SecretScrubber() });
    auth = consoleAuthenticator({
      sessions,
      idleTimeoutMs: 30 * MINUTE,
      prefixes: ['/admin/v1/', '/console/api/'],
      trustedProxy: () => false,
      audit: new AuditTrail(store.audit, logger, { flushIntervalMs: 1000 }),
      logger,
      now: () => now,
    });
  });
  afterEach(() => store.close());

  async function consoleSession(absoluteMs = 12 * 60 * MINUTE): Promise<{ token: string; secret: string }> {
    const key = await issueKey(store.keys, { name: 'admin', role: 'admin' });
    const t = newSessionToken();
    await store.identity.sessions.create({ id: t.id, kind: 'console', secretHash: hashSessionSecret(t.secret), keyId: key.record.id, user: null, createdAt: now, expiresAt: now + absoluteMs });
    return { token: t.token, secret: t.secret };
  }

  test('claims the cookie only on the admin and console APIs, and only when no other credential is sent', async () => {
    const { token } = await consoleSession();
    const cookie = `theme=dark; llmproxy_console=${token}`;
    assert.equal(auth.claims(request('GET', '/admin/v1/keys', { cookie })), true);
    assert.equal(auth.claims(request('GET', '/console/api/session', { cookie })), true);
    assert.equal(auth.claims(request('POST', '/v1/chat/completions', { cookie })), false);
    assert.equal(auth.claims(request('GET', '/admin/v1/keys', { cookie, authorization: 'Bearer llmp_x' })), false);
    assert.equal(auth.claims(request('GET', '/admin/v1/keys', {})), false);
    // On plain HTTP only the plain name counts; __Host- is the TLS cookie.
    assert.equal(auth.claims(request('GET', '/admin/v1/keys', { cookie: `__Host-llmproxy_console=${token}` })), false);
  });

  test('ends after the idle timeout without use; each use (recorded at most once a minute) keeps it alive', async () => {
    const { token } = await consoleSession();
    const cookie = `llmproxy_console=${token}`;
    const get = () => auth.authenticate(request('GET', '/admin/v1/keys', { cookie }), attempt);
    for (let i = 0; i < 10; i++) {
      now += 20 * MINUTE; // 200 minutes in all: far past the idle timeout, but never 30 minutes idle
      assert.equal((await get()).ok, true, `use ${i}`);
    }
    now += 31 * MINUTE;
    assert.deepEqual(await get(), { ok: false, reason: 'session_idle', guess: false, keyId: (await store.keys.list())[0]!.id });
  });

  test('ends at the absolute timeout however busy', async () => {
    const { token } = await consoleSession(60 * MINUTE);
    const cookie = `llmproxy_console=${token}`;
    for (const step of [20, 20, 19]) {
      now += step * MINUTE;
      assert.equal((await auth.authenticate(request('GET', '/admin/v1/keys', { cookie }), attempt)).ok, true);
    }
    now += 2 * MINUTE;
    const r = await auth.authenticate(request('GET', '/admin/v1/keys', { cookie }), attempt);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'session_expired');
  });

  test('a change needs the CSRF token and, when an Origin is sent, this origin', async () => {
    const { token, secret } = await consoleSession();
    const cookie = `llmproxy_console=${token}`;
    const post = (h: Record<string, string>) => auth.authenticate(request('POST', '/admin/v1/keys', { cookie, ...h }), attempt);
    await assert.rejects(post({}), (e: unknown) => e instanceof GatewayError && e.code === 'csrf_failed');
    await assert.rejects(post({ 'x-csrf-token': csrfToken('another session') }), (e: unknown) => e instanceof GatewayError && e.code === 'csrf_failed');
    await assert.rejects(post({ 'x-csrf-token': csrfToken(secret), origin: 'http://gw.example:9999' }), (e: unknown) => e instanceof GatewayError && e.code === 'csrf_failed');
    assert.equal((await post({ 'x-csrf-token': csrfToken(secret) })).ok, true);
    assert.equal((await post({ 'x-csrf-token': csrfToken(secret), origin: 'http://gw.example:8080' })).ok, true);
  });

  test('a token session (POST /auth/v1/session) is not a console session', async () => {
    const key = await issueKey(store.keys, { name: 'k', role: 'admin' });
    const t = newSessionToken();
    await store.identity.sessions.create({ id: t.id, secretHash: hashSessionSecret(t.secret), keyId: key.record.id, user: null, createdAt: now, expiresAt: now + MINUTE });
    const r = await auth.authenticate(request('GET', '/admin/v1/keys', { cookie: `llmproxy_console=${t.token}` }), attempt);
    assert.equal(!r.ok && r.reason, 'unknown_session');
  });
});

describe('console config and cookies', () => {
  test('path must be a directory-like path that overlaps no gateway route', () => {
    assert.equal(consoleConfigSchema.parse({}).path, '/console/');
    assert.equal(consoleConfigSchema.parse({ path: '/ops/console/' }).path, '/ops/console/');
    for (const bad of ['console', '/console', '/', '/admin/', '/v1/console/', '/a b/']) assert.equal(consoleConfigSchema.safeParse({ path: bad }).success, false, bad);
    assert.equal(consoleConfigSchema.safeParse({ idle_timeout: '10s' }).success, false);
  });

  test('readCookie finds the named cookie among others', () => {
    assert.equal(readCookie('a=1; llmproxy_console=x; b=2', 'llmproxy_console'), 'x');
    assert.equal(readCookie('xllmproxy_console=y', 'llmproxy_console'), undefined);
    assert.equal(readCookie(undefined, 'a'), undefined);
  });
});
