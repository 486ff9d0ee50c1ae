import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-admin-test-0a1b2c3d4e5f6789';
process.env['ADMIN_TEST_OPENAI_KEY'] = PROVIDER_KEY;

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

async function call(gw: TestGateway, method: string, path: string, key: string | undefined, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers['authorization'] = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(gw.url + path, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function chat(gw: TestGateway, key: string): Promise<number> {
  const res = await fetch(`${gw.url}/transparent/primary/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('admin API /admin/v1', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let admin: string;
  let adminId: string;
  let developer: string;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      auth: { api_keys: { bootstrap_admin: false }, basic: { enabled: true } },
      rbac: { roles: { auditor: { permissions: ['llm:read', 'secrets:read'] } } },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:ADMIN_TEST_OPENAI_KEY}' } } },
    });
    const a = await gw.issued({ name: 'ops-admin', role: 'admin', user: 'ops@example.com' });
    admin = a.key;
    adminId = a.id;
    developer = await gw.key({ name: 'dev', role: 'developer' });
  });

  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('needs a credential, and a role granting llm:admin', async () => {
    assert.equal((await call(gw, 'GET', '/admin/v1/keys', undefined)).status, 401);
    const denied = await call(gw, 'GET', '/admin/v1/keys', developer);
    assert.equal(denied.status, 403);
    assert.equal((denied.json['error'] as Record<string, unknown>)['code'], 'permission_denied');
    assert.equal((await call(gw, 'GET', '/admin/v1/keys', admin)).status, 200);
  });

  test('keys: create (secret shown once), show, list without hashes, revoke takes effect at once; each change audited', async () => {
    const created = await call(gw, 'POST', '/admin/v1/keys', admin, { name: 'ci-bot', role: 'developer', instances: ['primary'], rpm: 60, expires_in: '30d' });
    assert.equal(created.status, 201);
    const key = created.json['key'] as string;
    const id = created.json['id'] as string;
    assert.match(key, /^llmp_/);
    assert.equal(created.json['status'], 'active');
    assert.deepEqual(created.json['limits'], { rpm: 60, tpm: null, budget_usd: null });
    assert.equal(await chat(gw, key), 200);

    const shown = await call(gw, 'GET', `/admin/v1/keys/${id}`, admin);
    assert.equal(shown.status, 200);
    assert.equal(shown.json['name'], 'ci-bot');
    assert.equal(shown.json['key'], undefined, 'the secret is never shown again');
    const listed = await call(gw, 'GET', '/admin/v1/keys', admin);
    assert.ok(!listed.text.includes(key.slice(-20)), 'no key secret in the list');
    assert.ok(!/secret_?hash|argon2/i.test(listed.text), 'no hash in the list');
    assert.ok((listed.json['data'] as Array<Record<string, unknown>>).some((k) => k['id'] === id));

    const revoked = await call(gw, 'POST', `/admin/v1/keys/${id}/revoke`, admin);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.json['status'], 'revoked');
    assert.equal(await chat(gw, key), 401, 'a revoked key is refused at once in the same process');

    const audit = await call(gw, 'GET', '/admin/v1/audit?event=admin&limit=10', admin);
    const events = audit.json['data'] as Array<Record<string, unknown>>;
    const create = events.find((e) => e['reason'] === 'key.create' && (e['detail'] as Record<string, unknown>)['target'] === id);
    const revoke = events.find((e) => e['reason'] === 'key.revoke' && (e['detail'] as Record<string, unknown>)['target'] === id);
    assert.ok(create && revoke, 'both changes are in the audit log');
    assert.equal(create['key_id'], adminId, 'who: the acting admin key');
    assert.equal(create['user'], 'ops@example.com');
    const detail = revoke['detail'] as Record<string, Record<string, unknown>>;
    assert.equal(detail['before']!['status'], 'active');
    assert.equal(detail['after']!['status'], 'revoked');
    assert.ok(!audit.text.includes(key.slice(5)), 'the audit trail never holds the key');
  });

  test('keys: rotate returns a new key; the old one keeps working for the overlap', async () => {
    const created = await call(gw, 'POST', '/admin/v1/keys', admin, { name: 'rotating' });
    const oldKey = created.json['key'] as string;
    const rotated = await call(gw, 'POST', `/admin/v1/keys/${created.json['id'] as string}/rotate`, admin, { overlap: '1h' });
    assert.equal(rotated.status, 201);
    const newKey = rotated.json['key'] as string;
    assert.notEqual(newKey, oldKey);
    assert.equal(await chat(gw, newKey), 200);
    assert.equal(await chat(gw, oldKey), 200, 'inside the overlap');
    assert.equal((rotated.json['replaced'] as Record<string, unknown>)['status'], 'active');
  });

  test('bad input is a clear 400 that changes nothing', async () => {
    const before = ((await call(gw, 'GET', '/admin/v1/keys', admin)).json['data'] as unknown[]).length;
    const cases: Array<[unknown, RegExp]> = [
      ['{not json', /not valid JSON/],
      [{}, /name/],
      [{ name: 'x', role: 'root' }, /unknown role "root"/],
      [{ name: 'x', expires_in: 'soon' }, /expires_in: must be a duration/],
      [{ name: 'x', rpm: -1 }, /rpm/],
      [{ name: 'x', surprise: true }, /surprise|unrecognized/i],
    ];
    for (const [body, message] of cases) {
      const res = await call(gw, 'POST', '/admin/v1/keys', admin, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match((res.json['error'] as Record<string, string>)['message']!, message);
    }
    assert.equal(((await call(gw, 'GET', '/admin/v1/keys', admin)).json['data'] as unknown[]).length, before);
    assert.equal((await call(gw, 'GET', '/admin/v1/keys/nope', admin)).status, 404);
    assert.equal((await call(gw, 'POST', '/admin/v1/keys/nope/revoke', admin)).status, 404);
    assert.equal((await call(gw, 'GET', '/admin/v1/nothing-here', admin)).status, 404);
    const wrongMethod = await call(gw, 'PUT', '/admin/v1/keys', admin, {});
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
    assert.equal((await call(gw, 'GET', '/admin/v1/audit?limit=0', admin)).status, 400);
    assert.equal((await call(gw, 'GET', '/admin/v1/audit?since=yesterday-ish', admin)).status, 400);
  });

  test('a custom role from rbac.roles can be given to a key and grants exactly its permissions', async () => {
    const created = await call(gw, 'POST', '/admin/v1/keys', admin, { name: 'auditor-key', role: 'auditor' });
    assert.equal(created.status, 201);
    const auditor = created.json['key'] as string;
    assert.equal((await call(gw, 'GET', '/admin/v1/credentials', auditor)).status, 200, 'secrets:read');
    assert.equal((await call(gw, 'GET', '/admin/v1/keys', auditor)).status, 403, 'no llm:admin');
    assert.equal(await chat(gw, auditor), 403, 'no llm:write');
  });

  test('a viewer reads every admin list (admin:read) and changes nothing (403, nothing changed)', async () => {
    const viewer = (await call(gw, 'POST', '/admin/v1/keys', admin, { name: 'viewer-key', role: 'viewer' })).json['key'] as string;
    for (const path of ['/admin/v1/keys', '/admin/v1/users', '/admin/v1/usage', '/admin/v1/audit', '/admin/v1/lockdown', '/admin/v1/credentials']) {
      assert.equal((await call(gw, 'GET', path, viewer)).status, 200, path);
    }
    const before = ((await call(gw, 'GET', '/admin/v1/keys', admin)).json['data'] as unknown[]).length;
    assert.equal((await call(gw, 'POST', '/admin/v1/keys', viewer, { name: 'sneaky' })).status, 403);
    assert.equal((await call(gw, 'POST', '/admin/v1/lockdown', viewer, { on: true, reason: 'no' })).status, 403);
    assert.equal(((await call(gw, 'GET', '/admin/v1/keys', admin)).json['data'] as unknown[]).length, before);
    assert.equal((await call(gw, 'GET', '/admin/v1/lockdown', admin)).json['on'], false);
  });

  test('users: create (generated password shown once), Basic auth works, disable refuses at once, password change; audited without the password', async () => {
    const created = await call(gw, 'POST', '/admin/v1/users', admin, { name: 'alice@example.com', role: 'developer', instances: ['primary'] });
    assert.equal(created.status, 201);
    const password = created.json['password'] as string;
    assert.ok(password.length >= 12);
    const basic = (p: string) => `Basic ${Buffer.from(`alice@example.com:${p}`).toString('base64')}`;
    const asAlice = async (p: string) => {
      const res = await fetch(`${gw.url}/transparent/primary/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: basic(p), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await asAlice(password), 200);
    assert.equal((await call(gw, 'POST', '/admin/v1/users', admin, { name: 'alice@example.com' })).status, 400, 'the name is taken');
    assert.equal((await call(gw, 'POST', '/admin/v1/users', admin, { name: 'bob', password: 'short' })).status, 400);

    const disabled = await call(gw, 'POST', '/admin/v1/users/alice%40example.com/disable', admin);
    assert.equal(disabled.json['status'], 'disabled');
    assert.equal(await asAlice(password), 401);
    await call(gw, 'POST', '/admin/v1/users/alice%40example.com/enable', admin);
    const chosen = 'a-new-long-password-123';
    const changed = await call(gw, 'POST', '/admin/v1/users/alice%40example.com/password', admin, { password: chosen });
    assert.equal(changed.status, 200);
    assert.equal(changed.json['password'], undefined, 'a chosen password is not echoed');
    assert.equal(await asAlice(password), 401);
    assert.equal(await asAlice(chosen), 200);

    const audit = await call(gw, 'GET', '/admin/v1/audit?event=admin', admin);
    const actions = (audit.json['data'] as Array<Record<string, unknown>>).filter((e) => (e['detail'] as Record<string, unknown>)['target'] === 'alice@example.com').map((e) => e['reason']);
    assert.deepEqual(actions, ['user.password', 'user.enable', 'user.disable', 'user.create']);
    assert.ok(!audit.text.includes(password) && !audit.text.includes(chosen), 'no password in the audit trail');
    assert.ok(!/argon2/.test(audit.text));
  });

  test('usage by key and model; lockdown on and off; per-instance disable — the admin API keeps working meanwhile', async () => {
    const created = await call(gw, 'POST', '/admin/v1/keys', admin, { name: 'usage-key' });
    const key = created.json['key'] as string;
    assert.equal(await chat(gw, key), 200);
    assert.equal(await chat(gw, key), 200);
    const usage = await call(gw, 'GET', '/admin/v1/usage?by=key&since=1h', admin);
    assert.equal(usage.status, 200);
    const row = (usage.json['data'] as Array<Record<string, unknown>>).find((r) => r['group'] === created.json['id']);
    assert.ok(row, 'the key has a usage row');
    assert.equal(row['requests'], 2);
    assert.ok((row['input_tokens'] as number) > 0 && (row['output_tokens'] as number) > 0);
    assert.equal((await call(gw, 'GET', '/admin/v1/usage?by=colour', admin)).status, 400);

    const on = await call(gw, 'POST', '/admin/v1/lockdown', admin, { on: true, reason: 'incident 42' });
    assert.equal(on.status, 200);
    assert.equal(on.json['on'], true);
    assert.equal(await chat(gw, key), 503);
    assert.equal((await call(gw, 'GET', '/admin/v1/lockdown', admin)).json['reason'], 'incident 42');
    assert.equal((await call(gw, 'POST', '/admin/v1/lockdown', admin, { on: false })).json['on'], false);
    assert.equal(await chat(gw, key), 200);

    const disabled = await call(gw, 'POST', '/admin/v1/lockdown/instances/primary', admin, { disabled: true, reason: 'provider incident' });
    assert.ok(Object.hasOwn(disabled.json['disabled_instances'] as object, 'primary'));
    assert.equal(await chat(gw, key), 503);
    await call(gw, 'POST', '/admin/v1/lockdown/instances/primary', admin, { disabled: false });
    assert.equal(await chat(gw, key), 200);
    assert.equal((await call(gw, 'POST', '/admin/v1/lockdown/instances/nope', admin, { disabled: true })).status, 404);
    assert.equal((await call(gw, 'POST', '/admin/v1/lockdown', developer, { on: true })).status, 403);

    await gw.settle();
    const audit = await call(gw, 'GET', '/admin/v1/audit?event=lockdown', admin);
    const reasons = (audit.json['data'] as Array<Record<string, unknown>>).map((e) => e['reason']);
    assert.ok(reasons.includes('lockdown on: incident 42') && reasons.includes('lockdown off'), JSON.stringify(reasons));
    const switchedOn = (audit.json['data'] as Array<Record<string, unknown>>).find((e) => e['reason'] === 'lockdown on: incident 42')!;
    assert.equal(switchedOn['key_id'], adminId, 'the change names the key that made it');
    assert.deepEqual(switchedOn['detail'], { lockdown: true, reason: 'incident 42', before: { on: false }, after: { on: true } });
    const instanceOff = (audit.json['data'] as Array<Record<string, unknown>>).find((e) => e['reason'] === 'instance disabled: provider incident')!;
    assert.deepEqual(instanceOff['detail'], { instance: 'primary', disabled: true, reason: 'provider incident', before: { disabled: false }, after: { disabled: true } });
  });

  test('credentials: each instance credential state and each secret reference, never a value', async () => {
    const res = await call(gw, 'GET', '/admin/v1/credentials', admin);
    assert.equal(res.status, 200);
    const [primary] = res.json['instances'] as Array<Record<string, unknown>>;
    assert.equal(primary!['instance'], 'primary');
    assert.equal(primary!['method'], 'api_key');
    assert.equal(primary!['status'], 'ok');
    const secrets = res.json['secrets'] as Array<Record<string, unknown>>;
    assert.deepEqual(secrets.map((s) => [s['reference'], s['status']]), [['${env:ADMIN_TEST_OPENAI_KEY}', 'ok']]);
    assert.ok(!res.text.includes(PROVIDER_KEY));
    assert.equal((await call(gw, 'GET', '/admin/v1/credentials', developer)).status, 403);
  });

  test('audit: filters by result and key, newest first', async () => {
    await chat(gw, 'llmp_wrongwrongwr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await gw.settle();
    const failures = await call(gw, 'GET', '/admin/v1/audit?result=failure&since=1h', admin);
    const data = failures.json['data'] as Array<Record<string, unknown>>;
    assert.ok(data.length > 0);
    assert.ok(data.every((e) => e['result'] === 'failure'));
    const times = data.map((e) => Date.parse(e['time'] as string));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
  });
});
