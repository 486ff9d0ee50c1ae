import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/clientauth/basic/password.js';
import { parseSessionToken } from '../../src/clientauth/session/token.js';
import { totpFor } from '../../src/clientauth/totp/codes.js';
import { enrolTotp, type TotpEnrolmentOutput } from '../../src/clientauth/totp/enrol.js';
import { TotpSecretBox } from '../../src/clientauth/totp/secret-box.js';
import type { TotpSubject } from '../../src/store/identity-types.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { pollUntil } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-totp-test-7c1e0a93b2d4f685';
process.env['TOTP_TEST_OPENAI_KEY'] = PROVIDER_KEY;
const STEP = 30_000;

function config(emuUrl: string, auth: Record<string, unknown> = {}) {
  return {
    instances: { openai: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${TOTP_TEST_OPENAI_KEY}' } } },
    auth: { api_keys: { revocation_poll: '100ms' }, basic: { enabled: true, change_poll: '100ms' }, totp: { required_roles: ['admin'] }, ...auth },
  };
}

/** The code an authenticator app shows for `secret`, `steps` steps from now (computed by otpauth). */
function code(secret: string, steps = 0): string {
  return totpFor(secret).generate({ timestamp: Date.now() + steps * STEP });
}

function wrongCode(secret: string): string {
  const taken = new Set([-1, 0, 1].map((s) => code(secret, s)));
  for (let i = 0; ; i++) {
    const c = String(i).padStart(6, '0');
    if (!taken.has(c)) return c;
  }
}

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function call(gw: TestGateway, headers: Record<string, string>, path = '/transparent/openai/v1/models', init: RequestInit = {}) {
  const res = await fetch(gw.url + path, { ...init, headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function errorCode(text: string): string {
  return (JSON.parse(text) as { error: { code: string } }).error.code;
}

describe('TOTP second factor and sessions through the gateway', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  const box = new TotpSecretBox(undefined);
  /** Every secret this suite handled, to check none reaches the log. */
  const secrets: string[] = [];

  async function enrol(subject: TotpSubject, required = true): Promise<TotpEnrolmentOutput> {
    const e = await enrolTotp(gw.app.store.identity.totp, box, subject, 'test', required);
    secrets.push(e.secret, ...e.backupCodes);
    return e;
  }
  async function enrolledKey(spec: { role?: string; user?: string } = {}, required = true) {
    const k = await gw.issued({ name: 'totp', ...spec });
    secrets.push(k.key.slice(18));
    return { ...k, totp: await enrol(`key:${k.id}`, required) };
  }
  async function exchange(headers: Record<string, string>) {
    const r = await call(gw, headers, '/auth/v1/session', { method: 'POST' });
    if (r.status === 200) secrets.push((JSON.parse(r.text) as { session_token: string }).session_token.slice(22));
    return r;
  }
  async function auditReasons(): Promise<string[]> {
    await gw.settle();
    return (await gw.app.store.audit.query({ limit: 500 })).map((e) => e.reason ?? 'ok');
  }

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway(config(emu.url));
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('the seed\'s curl request (X-API-Key + X-TOTP-Code) reaches the provider without the code or the gateway key', async () => {
    const k = await enrolledKey();
    const r = await call(gw, { 'x-api-key': k.key, 'x-totp-code': code(k.totp.secret), 'content-type': 'application/json' }, '/transparent/openai/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify(CHAT),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal((JSON.parse(r.text) as { object: string }).object, 'chat.completion');
    const upstream = emu.last;
    assert.equal(upstream.path, '/v1/chat/completions');
    assert.equal(upstream.headers['x-totp-code'], undefined, 'the TOTP code was forwarded');
    assert.equal(upstream.headers['x-api-key'], undefined);
    assert.equal(upstream.headers.authorization, `Bearer ${PROVIDER_KEY}`);
  });

  test('a key that requires TOTP: missing, wrong and replayed codes are refused and audited with their reason', async () => {
    const k = await enrolledKey();
    const missing = await call(gw, { authorization: `Bearer ${k.key}` });
    assert.equal(missing.status, 401);
    assert.equal(errorCode(missing.text), 'totp_required');
    assert.match(missing.text, /X-TOTP-Code/);

    const wrong = await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': wrongCode(k.totp.secret) });
    assert.equal(wrong.status, 401);
    // A wrong code gets exactly the 401 of a wrong key: nothing tells which part was wrong.
    // The last character changed (to one it is not: a key ending in "x" stayed valid, 1 run in 64).
    const badKey = await call(gw, { authorization: `Bearer ${k.key.slice(0, -1)}${k.key.endsWith('x') ? 'y' : 'x'}` });
    assert.equal(wrong.text, badKey.text);

    const c = code(k.totp.secret, 1);
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': c })).status, 200);
    const replay = await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': c });
    assert.equal(replay.status, 401);
    assert.equal(replay.text, badKey.text);
    // An older step than the one used is refused too.
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': code(k.totp.secret, 0) })).status, 401);

    await gw.settle();
    const rows = (await gw.app.store.audit.query({ keyId: k.id, limit: 50 })).reverse();
    assert.deepEqual(
      rows.map((r) => `${r.result}:${r.reason ?? ''}`),
      // (the wrong-key request is malformed, so it names no key id and is not among these rows)
      ['failure:totp_missing', 'failure:totp_invalid', 'success:', 'failure:totp_replayed', 'failure:totp_replayed'],
    );
    assert.equal(emu.requests.filter((r) => r.headers['x-totp-code'] !== undefined).length, 0);
  });

  test('five wrong codes lock the key\'s second factor: the right code is then refused (totp_locked)', async () => {
    const k = await enrolledKey();
    const wrong = wrongCode(k.totp.secret);
    for (let i = 0; i < 5; i++) assert.equal((await call(gw, { 'x-api-key': k.key, 'x-totp-code': wrong })).status, 401);
    const right = await call(gw, { 'x-api-key': k.key, 'x-totp-code': code(k.totp.secret) });
    assert.equal(right.status, 401);
    assert.equal(errorCode(right.text), 'unauthorized');
    const backup = await call(gw, { 'x-api-key': k.key, 'x-totp-code': k.totp.backupCodes[0]! });
    assert.equal(backup.status, 401);
    const stored = await gw.app.store.identity.totp.get(`key:${k.id}`);
    assert.ok(stored?.lockedUntil && stored.lockedUntil > Date.now() + 14 * 60_000, 'locked for the default 15 minutes');
    await gw.settle();
    const reasons = (await gw.app.store.audit.query({ keyId: k.id, limit: 20 })).map((r) => r.reason);
    assert.equal(reasons.filter((r) => r === 'totp_invalid').length, 5);
    assert.equal(reasons.filter((r) => r === 'totp_locked').length, 2);
  });

  test('a backup code works once', async () => {
    const k = await enrolledKey();
    const b = k.totp.backupCodes[4]!;
    assert.equal((await call(gw, { 'x-api-key': k.key, 'x-totp-code': b })).status, 200);
    assert.equal((await call(gw, { 'x-api-key': k.key, 'x-totp-code': b })).status, 401);
    assert.equal((await gw.app.store.identity.totp.get(`key:${k.id}`))?.backupCodesLeft, 9);
  });

  test('an optional enrolment: no code passes, but a code that is sent must be right', async () => {
    const k = await enrolledKey({}, false);
    assert.equal((await call(gw, { 'x-api-key': k.key })).status, 200);
    assert.equal((await call(gw, { 'x-api-key': k.key, 'x-totp-code': wrongCode(k.totp.secret) })).status, 401);
    assert.equal((await call(gw, { 'x-api-key': k.key, 'x-totp-code': code(k.totp.secret) })).status, 200);
  });

  test('per-role requirement: an admin key without enrolment is refused (totp_not_enrolled), a developer key is not', async () => {
    const admin = await gw.issued({ name: 'admin', role: 'admin' });
    const r = await call(gw, { authorization: `Bearer ${admin.key}` });
    assert.equal(r.status, 403);
    assert.equal(errorCode(r.text), 'totp_not_enrolled');
    const dev = await gw.issued({ name: 'dev' });
    assert.equal((await call(gw, { authorization: `Bearer ${dev.key}` })).status, 200);
    // Enrolled, the admin key works with a code.
    const t = await enrol(`key:${admin.id}`);
    assert.equal((await call(gw, { authorization: `Bearer ${admin.key}` })).status, 401);
    assert.equal((await call(gw, { authorization: `Bearer ${admin.key}`, 'x-totp-code': code(t.secret) })).status, 200);
    assert.ok((await auditReasons()).includes('totp_not_enrolled'));
  });

  test('a key of an enrolled user is guarded by the user\'s enrolment', async () => {
    const t = await enrol('user:erin');
    const k = await gw.issued({ name: 'erin-key', user: 'erin' });
    assert.equal((await call(gw, { 'x-api-key': k.key })).status, 401);
    assert.equal((await call(gw, { 'x-api-key': k.key, 'x-totp-code': code(t.secret) })).status, 200);
  });

  test('session exchange: key + code gives a session token that stands for both factors', async () => {
    const k = await enrolledKey();
    const before = Date.now();
    const r = await exchange({ authorization: `Bearer ${k.key}`, 'x-totp-code': code(k.totp.secret) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const body = JSON.parse(r.text) as { session_token: string; expires_at: string; token_type: string };
    assert.deepEqual(Object.keys(body).sort(), ['expires_at', 'session_token', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.match(body.session_token, /^llms_/);
    const expires = Date.parse(body.expires_at);
    assert.ok(expires >= before + 3_600_000 && expires <= Date.now() + 3_600_000, 'default TTL 1h');

    // The session works on every route without a code, also several times in one TOTP step.
    for (let i = 0; i < 3; i++) assert.equal((await call(gw, { authorization: `Bearer ${body.session_token}` })).status, 200);
    const chat = await call(gw, { authorization: `Bearer ${body.session_token}`, 'content-type': 'application/json' }, '/openai/openai/chat/completions', { method: 'POST', body: JSON.stringify(CHAT) });
    assert.equal(chat.status, 200, chat.text);
    assert.equal(emu.last.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    await gw.settle();
    const rows = await gw.app.store.audit.query({ keyId: k.id, limit: 10 });
    assert.ok(rows.some((row) => row.method === 'session' && row.result === 'success'), 'session requests are audited as method session');
  });

  test('session exchange refuses a missing or wrong code, an unenrolled key, and a session token', async () => {
    const k = await enrolledKey();
    const missing = await exchange({ authorization: `Bearer ${k.key}` });
    assert.equal(missing.status, 401);
    assert.equal(errorCode(missing.text), 'totp_required');
    assert.equal((await exchange({ authorization: `Bearer ${k.key}`, 'x-totp-code': wrongCode(k.totp.secret) })).status, 401);
    const plain = await gw.issued({ name: 'plain' });
    const notEnrolled = await exchange({ authorization: `Bearer ${plain.key}`, 'x-totp-code': '123456' });
    assert.equal(notEnrolled.status, 403);
    assert.equal(errorCode(notEnrolled.text), 'totp_not_enrolled');
    const ok = await exchange({ 'x-api-key': k.key, 'x-totp-code': code(k.totp.secret) });
    assert.equal(ok.status, 200);
    const session = (JSON.parse(ok.text) as { session_token: string }).session_token;
    assert.equal((await exchange({ authorization: `Bearer ${session}`, 'x-totp-code': code(k.totp.secret, 1) })).status, 401, 'a session is not exchanged for another');
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}` }, '/auth/v1/session')).status, 405);
  });

  test('a session dies with its key: at once when revoked in this process, within seconds when revoked elsewhere', async () => {
    for (const inProcess of [true, false]) {
      const k = await enrolledKey();
      const r = await exchange({ authorization: `Bearer ${k.key}`, 'x-totp-code': code(k.totp.secret) });
      const token = (JSON.parse(r.text) as { session_token: string }).session_token;
      assert.equal((await call(gw, { authorization: `Bearer ${token}` })).status, 200);
      await gw.app.store.keys.revoke(k.id, Date.now());
      if (inProcess) {
        gw.app.verifier.invalidate(k.id);
        assert.equal((await call(gw, { authorization: `Bearer ${token}` })).status, 401);
      } else {
        // As the CLI in another process would: only the store changed; the poll must notice.
        assert.ok(await pollUntil(async () => (await call(gw, { authorization: `Bearer ${token}` })).status === 401, 5000), 'not refused within 5 s');
      }
    }
    const reasons = await auditReasons();
    assert.ok(reasons.includes('revoked'));
  });

  test('a session is refused once its expiry has passed', async () => {
    const k = await enrolledKey();
    const r = await exchange({ authorization: `Bearer ${k.key}`, 'x-totp-code': code(k.totp.secret) });
    const token = (JSON.parse(r.text) as { session_token: string }).session_token;
    const { id } = parseSessionToken(token)!;
    const record = (await gw.app.store.identity.sessions.get(id))!;
    // The store holds only the secret's hash: a session with the same secret hash, already expired.
    const expiredId = id.slice(0, 15) + (id[15] === 'A' ? 'B' : 'A');
    await gw.app.store.identity.sessions.create({ ...record, id: expiredId, createdAt: Date.now() - 7_200_000, expiresAt: Date.now() - 1 });
    const expiredToken = token.replace(id, expiredId);
    assert.equal((await call(gw, { authorization: `Bearer ${expiredToken}` })).status, 401);
    assert.equal((await call(gw, { authorization: `Bearer ${token}` })).status, 200);
    assert.ok((await auditReasons()).includes('session_expired'));
  });

  test('Basic user + TOTP: exchanged for a session; disabling the user kills it at once', async () => {
    const password = 'frank password 123';
    secrets.push(password);
    await gw.app.store.identity.users.create({ name: 'frank', role: 'developer', passwordHash: await hashPassword(password), scopes: { instances: null, models: null }, limits: { rpm: null, tpm: null, budgetUsd: null } });
    const t = await enrol('user:frank');
    const basic = `Basic ${Buffer.from(`frank:${password}`).toString('base64')}`;
    assert.equal((await call(gw, { authorization: basic })).status, 401, 'the enrolment is required');
    const r = await exchange({ authorization: basic, 'x-totp-code': code(t.secret) });
    assert.equal(r.status, 200, r.text);
    const token = (JSON.parse(r.text) as { session_token: string }).session_token;
    assert.equal((await call(gw, { authorization: `Bearer ${token}` })).status, 200);
    await gw.app.store.identity.users.setDisabled('frank', true, Date.now());
    assert.equal((await call(gw, { authorization: `Bearer ${token}` })).status, 401);
  });

  test('no TOTP secret, backup code, session secret, password or key secret reaches the log', async () => {
    await gw.settle();
    const logs = gw.logs.join('\n');
    assert.ok(secrets.length > 20);
    for (const s of secrets) assert.ok(!logs.includes(s), 'a secret reached the log');
    assert.ok(!logs.toLowerCase().includes('x-totp-code":"'), 'a TOTP code header was logged');
  });
});

describe('TOTP required globally, and wrong codes feeding the per-address throttle', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway(config(emu.url, { api_keys: { require_totp: true }, failed_attempts: { limit: 3, window: '1m' } }));
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('auth.api_keys.require_totp: a key without enrolment is refused; enrolled, it needs its code', async () => {
    const k = await gw.issued({ name: 'k' });
    const r = await call(gw, { authorization: `Bearer ${k.key}` });
    assert.equal(r.status, 403);
    assert.equal(errorCode(r.text), 'totp_not_enrolled');
    const t = await enrolTotp(gw.app.store.identity.totp, new TotpSecretBox(undefined), `key:${k.id}`, 'k', false);
    // Required by config even though the enrolment itself is optional.
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}` })).status, 401);
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': code(t.secret) })).status, 200);
  });

  test('wrong codes count as failed guesses of the address: 429 with Retry-After', async () => {
    const k = await gw.issued({ name: 'k2' });
    const t = await enrolTotp(gw.app.store.identity.totp, new TotpSecretBox(undefined), `key:${k.id}`, 'k2', true);
    for (let i = 0; i < 3; i++) assert.equal((await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': wrongCode(t.secret) })).status, 401);
    const blocked = await call(gw, { authorization: `Bearer ${k.key}`, 'x-totp-code': code(t.secret) });
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  });
});
