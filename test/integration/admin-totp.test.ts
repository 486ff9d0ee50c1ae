import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as OTPAuth from 'otpauth';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * TOTP enrolment of a Basic user through the admin API: what it shows once works with an
 * authenticator app's code (computed here by the otpauth package from the returned URI) and with
 * a backup code, the user's answers say it is enrolled, and no secret reaches audit or logs.
 */

const PROVIDER_KEY = 'sk-provider-admin-totp-1a2b3c4d5e6f7a8b';
process.env['ADMIN_TOTP_TEST_KEY'] = PROVIDER_KEY;
const PASSWORD = 'correct horse battery staple';

interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

async function call(gw: TestGateway, method: string, path: string, key: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(gw.url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** An inference request as Basic user `name`, with an optional TOTP code. */
async function asUser(gw: TestGateway, name: string, code?: string): Promise<{ status: number; code: string | undefined }> {
  const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(`${name}:${PASSWORD}`).toString('base64')}` };
  if (code !== undefined) headers['x-totp-code'] = code;
  const res = await fetch(`${gw.url}/transparent/primary/v1/models`, { headers });
  const text = await res.text();
  return { status: res.status, code: res.status === 200 ? undefined : (JSON.parse(text) as { error: { code: string } }).error.code };
}

/** The code an authenticator app shows now for this otpauth URI. */
const codeFor = (uri: string) => OTPAuth.URI.parse(uri).generate();

describe('admin API: TOTP enrolment of users', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let admin: string;
  let developer: string;
  /** Every secret and backup code shown, to check none is stored in audit or logs. */
  const shown: string[] = [];

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      auth: { api_keys: { bootstrap_admin: false }, basic: { enabled: true, change_poll: '100ms' } },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:ADMIN_TOTP_TEST_KEY}' } } },
    });
    admin = await gw.key({ name: 'admin', role: 'admin' });
    developer = await gw.key({ name: 'dev', role: 'developer' });
    for (const name of ['carol', 'dave']) assert.equal((await call(gw, 'POST', '/admin/v1/users', admin, { name, password: PASSWORD })).status, 201);
  });

  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('enrol: shown once; then Basic needs a code from the secret or a backup code (each once)', async () => {
    assert.equal((await asUser(gw, 'carol')).status, 200, 'not enrolled yet: the password is enough');
    const enrolled = await call(gw, 'POST', '/admin/v1/users/carol/totp', admin);
    assert.equal(enrolled.status, 201, enrolled.text);
    const { user, secret, otpauth_uri, qr_svg, backup_codes } = enrolled.json as { user: string; secret: string; otpauth_uri: string; qr_svg: string; backup_codes: string[] };
    shown.push(secret, ...backup_codes);
    assert.equal(user, 'carol');
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    assert.equal(OTPAuth.URI.parse(otpauth_uri).secret.base32, secret);
    assert.match(qr_svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(backup_codes.length, 10);
    assert.equal(new Set(backup_codes).size, 10);

    assert.deepEqual(await asUser(gw, 'carol'), { status: 401, code: 'totp_required' }, 'the password alone is refused at once');
    assert.equal((await asUser(gw, 'carol', codeFor(otpauth_uri))).status, 200);
    assert.equal((await asUser(gw, 'carol', backup_codes[0])).status, 200);
    assert.equal((await asUser(gw, 'carol', backup_codes[0])).status, 401, 'a backup code works once');
    assert.equal((await asUser(gw, 'carol', backup_codes[1])).status, 200);

    const listed = await call(gw, 'GET', '/admin/v1/users', admin);
    const totp = Object.fromEntries((listed.json['data'] as Array<{ name: string; totp: boolean }>).map((u) => [u.name, u.totp]));
    assert.deepEqual(totp, { carol: true, dave: false });
    assert.equal((await call(gw, 'GET', '/admin/v1/users/carol', admin)).json['totp'], true);
    assert.ok(!listed.text.includes(secret));
  });

  test('enrolling again needs replace: true and makes the old secret useless; removing the enrolment restores password-only', async () => {
    const first = await call(gw, 'POST', '/admin/v1/users/dave/totp', admin, { required: true });
    assert.equal(first.status, 201);
    const oldUri = first.json['otpauth_uri'] as string;
    shown.push(first.json['secret'] as string, ...(first.json['backup_codes'] as string[]));

    const refused = await call(gw, 'POST', '/admin/v1/users/dave/totp', admin);
    assert.equal(refused.status, 400);
    assert.match((refused.json['error'] as { message: string }).message, /already enrolled; send "replace": true/);
    const replaced = await call(gw, 'POST', '/admin/v1/users/dave/totp', admin, { replace: true });
    assert.equal(replaced.status, 201);
    shown.push(replaced.json['secret'] as string, ...(replaced.json['backup_codes'] as string[]));
    assert.notEqual(replaced.json['secret'], first.json['secret']);
    assert.equal((await asUser(gw, 'dave', codeFor(oldUri))).status, 401, 'the replaced secret no longer works');
    assert.equal((await asUser(gw, 'dave', (first.json['backup_codes'] as string[])[0])).status, 401, 'nor its backup codes');
    assert.equal((await asUser(gw, 'dave', codeFor(replaced.json['otpauth_uri'] as string))).status, 200);

    const removed = await call(gw, 'DELETE', '/admin/v1/users/dave/totp', admin);
    assert.equal(removed.status, 200);
    assert.equal(removed.json['name'], 'dave');
    assert.equal(removed.json['totp'], false);
    assert.equal((await asUser(gw, 'dave')).status, 200, 'password only again');
    assert.equal((await call(gw, 'DELETE', '/admin/v1/users/dave/totp', admin)).status, 404);
  });

  test('unknown user 404, bad body 400, llm:admin needed; the audit trail and logs hold no secret or backup code', async () => {
    assert.equal((await call(gw, 'POST', '/admin/v1/users/nobody/totp', admin)).status, 404);
    assert.equal((await call(gw, 'DELETE', '/admin/v1/users/nobody/totp', admin)).status, 404);
    const bad = await call(gw, 'POST', '/admin/v1/users/carol/totp', admin, { required: 'yes' });
    assert.equal(bad.status, 400);
    assert.match((bad.json['error'] as { message: string }).message, /^required:/);
    assert.equal((await call(gw, 'POST', '/admin/v1/users/carol/totp', developer)).status, 403);
    assert.equal((await call(gw, 'DELETE', '/admin/v1/users/carol/totp', developer)).status, 403);

    await gw.settle();
    const audit = await gw.app.store.audit.query({ limit: 500 });
    const changes = audit.filter((e) => e.event === 'admin' && String(e.reason).startsWith('user.totp')).map((e) => [e.reason, e.detail?.['target']]);
    assert.deepEqual(changes.reverse(), [['user.totp.enrol', 'carol'], ['user.totp.enrol', 'dave'], ['user.totp.replace', 'dave'], ['user.totp.remove', 'dave']]);
    const everything = JSON.stringify(audit) + gw.logs.join('\n');
    assert.ok(shown.length >= 33);
    for (const s of shown) assert.ok(!everything.includes(s), 'a TOTP secret or backup code reached the audit trail or the logs');
  });
});
