import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApp, type App } from '../../src/app.js';
import { issueKey } from '../../src/clientauth/api-key/issue.js';
import { loadConfig } from '../../src/config/load.js';
import { totpFor } from '../../src/clientauth/totp/codes.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { removeDir, runCli, runCliJson, tempDir } from '../helpers/cli.js';
import { requestLogs, startGateway, type TestGateway } from '../helpers/gateway.js';
import { pollUntil } from '../helpers/cli.js';
import { metricSample } from '../helpers/wait.js';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { WatsonxEmulator } from '../emulators/watsonx.js';

/**
 * Issue 17 items 12 and 13 through the public interfaces: every audit event has a severity
 * (stored, shown and filtered by GET /admin/v1/audit), config reloads are audited with who asked
 * and the instance names they changed, `DELETE /admin/v1/users/:name` and `llmproxy users delete`
 * remove a user with its keys, sessions and second factor (and with a purge its usage and audit
 * rows, or their name under a pseudonym), and `privacy.ip` shapes the client address in audit
 * rows and request log lines.
 */

const PROVIDER_KEY = 'sk-provider-privacy-test-4b1e9c0d7a2f6e38';
const PSEUDONYM_KEY = 'pseudonym-key-for-tests-0f9e8d7c6b5a4938';
process.env['PRIVACY_TEST_OPENAI_KEY'] = PROVIDER_KEY;
process.env['PRIVACY_TEST_PSEUDONYM_KEY'] = PSEUDONYM_KEY;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function call(url: string, path: string, init: { method?: string; auth?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.auth ? { authorization: init.auth } : {}), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, any> };
}

interface AuditJson {
  id: string;
  event: string;
  result: string;
  severity: string;
  reason: string | null;
  method: string;
  user: string | null;
  client_address: string;
  detail: Record<string, unknown> | null;
}

describe('user deletion over HTTP with a pseudonymising purge; truncated client addresses; severity in the audit API', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let admin: string;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      server: { trusted_proxies: ['127.0.0.1'] },
      instances: { openai: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${PRIVACY_TEST_OPENAI_KEY}' } } },
      auth: { api_keys: { bootstrap_admin: false, revocation_poll: '100ms' }, basic: { enabled: true, change_poll: '100ms' } },
      usage: { flush_interval: '50ms' },
      privacy: { ip: 'truncated', pseudonymise: true, pseudonymise_key: '${env:PRIVACY_TEST_PSEUDONYM_KEY}' },
    });
    admin = `Bearer ${await gw.key({ name: 'ops', role: 'admin', user: 'ops' })}`;
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('client addresses are kept as their network (/24, /48) in audit rows and request lines', async () => {
    const key = await gw.key({ name: 'ip', user: 'ipuser' });
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: `Bearer ${key}`, headers: { 'x-forwarded-for': '2001:DB8:1:2::7' } })).status, 200);
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: `Bearer ${key}` })).status, 200);
    await gw.settle();
    const rows = await gw.app.store.audit.query({ user: 'ipuser' });
    assert.deepEqual(rows.map((e) => e.clientAddress), ['127.0.0.0/24', '2001:db8:1::/48']);
    const lines = requestLogs(gw).filter((l) => l['path'] === '/transparent/openai/v1/models');
    assert.deepEqual(lines.slice(-2).map((l) => l['client']), ['2001:db8:1::/48', '127.0.0.0/24']);
    assert.ok(!gw.logs.some((l) => l.includes('2001:db8:1:2::7') || l.includes('127.0.0.1"')), 'no full address in any log line');
  });

  test('DELETE /admin/v1/users/:name?purge=true: keys, sessions and TOTP go at once; usage and audit rows keep their totals under a pseudonym', async () => {
    const created = await call(gw.url, '/admin/v1/users', { auth: admin, body: { name: 'carol', password: 'carol-password-1234' } });
    assert.equal(created.status, 201, created.text);
    const { key, id } = await gw.issued({ name: 'carol-ci', user: 'carol' });
    for (let i = 0; i < 3; i++) assert.equal((await call(gw.url, '/transparent/openai/v1/chat/completions', { auth: `Bearer ${key}`, body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] } })).status, 200);
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: basic('carol', 'carol-password-1234') })).status, 200);
    // Second factors: the key's own (a session token is what it then uses) and the user's.
    const secret = 'JBSWY3DPEHPK3PXP';
    await gw.app.store.identity.totp.enroll({ subject: `key:${id}`, secret: `plain:${secret}`, required: true, backupCodes: [{ index: 0, salt: 's', hash: 'h' }], createdAt: Date.now() });
    const session = await call(gw.url, '/auth/v1/session', { auth: `Bearer ${key}`, headers: { 'x-totp-code': totpFor(secret).generate() }, body: {} });
    assert.equal(session.status, 200, session.text);
    const sessionToken = session.json()['session_token'] as string;
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: `Bearer ${sessionToken}` })).status, 200);
    assert.equal((await call(gw.url, '/admin/v1/users/carol/totp', { auth: admin, body: { required: true } })).status, 201);

    const deleted = await call(gw.url, '/admin/v1/users/carol?purge=true', { method: 'DELETE', auth: admin });
    assert.equal(deleted.status, 200, deleted.text);
    const body = deleted.json();
    assert.match(body['user'], /^anon:[0-9a-f]{16}$/);
    const pseudonym = body['user'] as string;
    assert.deepEqual(
      { ...body, user: undefined },
      { user: undefined, deleted: true, purged: true, pseudonymised: true, keys_revoked: [id], sessions_deleted: 1, totp_enrolments_deleted: 2, usage_rows: body['usage_rows'], audit_events: body['audit_events'] },
    );
    assert.ok(body['usage_rows'] >= 3 && body['audit_events'] >= 5, deleted.text);
    assert.ok(!deleted.text.includes('carol'), 'the answer does not name the purged user');

    // Every credential of the user is refused at once.
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: `Bearer ${key}` })).status, 401);
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: basic('carol', 'carol-password-1234') })).status, 401);
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: `Bearer ${sessionToken}` })).status, 401);
    assert.equal((await call(gw.url, '/admin/v1/users/carol', { auth: admin })).status, 404);
    assert.equal(await gw.app.store.identity.totp.get('user:carol'), undefined);
    assert.equal(await gw.app.store.identity.totp.get(`key:${id}`), undefined);
    const keyView = (await call(gw.url, `/admin/v1/keys/${id}`, { auth: admin })).json();
    assert.equal(keyView['status'], 'revoked');
    assert.equal(keyView['user'], pseudonym);

    // Totals survive under the pseudonym; the name is gone from usage and audit rows.
    const usage = (await call(gw.url, '/admin/v1/usage?by=user&since=1h', { auth: admin })).json();
    const groups = (usage['data'] as Array<{ group: string; requests: number }>).map((r) => [r.group, r.requests]);
    // 3 chat completions, a model list with Basic and one with the session token.
    assert.ok(groups.some(([g, n]) => g === pseudonym && n === 5), JSON.stringify(groups));
    assert.ok(!groups.some(([g]) => g === 'carol'));
    await gw.settle();
    assert.deepEqual(await gw.app.store.audit.query({ user: 'carol' }), []);
    assert.ok((await gw.app.store.audit.query({ user: pseudonym, limit: 1000 })).length >= 5);

    // The deletion is audited, naming the pseudonym, as an admin change of severity info.
    const events = (await call(gw.url, '/admin/v1/audit?event=admin&q=/admin/v1/users', { auth: admin })).json()['data'] as AuditJson[];
    const event = events.find((e) => e.reason === 'user.delete')!;
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.severity, 'info');
    assert.equal(event.detail?.['target'], pseudonym);
    assert.deepEqual(event.detail?.['keys_revoked'], [id]);
    assert.ok(!JSON.stringify(event).includes('carol'));
  });

  test('DELETE /admin/v1/users/:name: an unknown user is 404; a bad purge value is a 400 naming it', async () => {
    assert.equal((await call(gw.url, '/admin/v1/users/nobody', { method: 'DELETE', auth: admin })).status, 404);
    await call(gw.url, '/admin/v1/users', { auth: admin, body: { name: 'dora', password: 'dora-password-1234' } });
    const bad = await call(gw.url, '/admin/v1/users/dora?purge=yes', { method: 'DELETE', auth: admin });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.text).error.message, /"purge" must be one of true, false/);
    const viewer = `Bearer ${await gw.key({ name: 'viewer', role: 'viewer' })}`;
    assert.equal((await call(gw.url, '/admin/v1/users/dora', { method: 'DELETE', auth: viewer })).status, 403);
    assert.equal((await call(gw.url, '/admin/v1/users/dora', { auth: admin })).status, 200, 'still there');
  });

  test('GET /admin/v1/audit shows each event\'s severity and filters on it', async () => {
    assert.equal((await call(gw.url, '/transparent/openai/v1/models', { auth: 'Bearer llmp_nosuchkey_0000000000000000' })).status, 401);
    await gw.settle();
    const warnings = (await call(gw.url, '/admin/v1/audit?severity=warning&limit=50', { auth: admin })).json()['data'] as AuditJson[];
    assert.ok(warnings.length > 0);
    assert.ok(warnings.every((e) => e.severity === 'warning'));
    assert.ok(warnings.some((e) => e.event === 'auth' && e.result === 'failure'));
    const infos = (await call(gw.url, '/admin/v1/audit?severity=info&limit=50', { auth: admin })).json()['data'] as AuditJson[];
    assert.ok(infos.length > 0 && infos.every((e) => e.severity === 'info' && e.result === 'success'));
    const bad = await call(gw.url, '/admin/v1/audit?severity=loud', { auth: admin });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.text).error.message, /"severity" must be one of info, warning, critical/);
  });

  test('lockdown on is critical, and the audit line is logged at error level with its severity', async () => {
    assert.equal((await call(gw.url, '/admin/v1/lockdown', { auth: admin, body: { on: true, reason: 'drill' } })).status, 200);
    assert.equal((await call(gw.url, '/admin/v1/lockdown', { auth: admin, body: { on: false } })).status, 200);
    await gw.settle();
    const critical = (await call(gw.url, '/admin/v1/audit?severity=critical', { auth: admin })).json()['data'] as AuditJson[];
    assert.deepEqual(critical.map((e) => [e.event, e.detail?.['lockdown']]), [['lockdown', true]]);
    const line = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'audit' && l['audit'] === 'lockdown' && l['severity'] === 'critical');
    assert.equal(line?.['level'], 'error');
  });
});

describe('llmproxy users delete (CLI) next to a running gateway; privacy.ip none', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let dir: string;
  let configPath: string;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    dir = tempDir('llmproxy-privacy-cli-');
    gw = await startGateway(
      {
        instances: { openai: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${PRIVACY_TEST_OPENAI_KEY}' } } },
        auth: { api_keys: { bootstrap_admin: false, revocation_poll: '100ms' }, basic: { enabled: true, change_poll: '100ms' } },
        usage: { flush_interval: '50ms' },
        audit: { flush_interval: '50ms' },
        privacy: { ip: 'none' },
      },
      { dir },
    );
    configPath = join(dir, 'cli.yaml');
    writeFileSync(configPath, ['storage: { sqlite: { path: ./llmproxy.db } }', 'auth: { basic: { enabled: true } }', 'instances:', '  openai: { type: openai, authentication: { type: api_key, api_key: "${PRIVACY_TEST_OPENAI_KEY}" } }', ''].join('\n'));
  });
  after(async () => {
    await gw.close();
    await emu.close();
    removeDir(dir);
  });

  async function userWithTraffic(name: string): Promise<string> {
    assert.equal((await runCli(['users', 'create', name, '--config', configPath, '--json'], { cwd: dir })).code, 0);
    const key = await gw.key({ name: `${name}-key`, user: name });
    assert.equal((await call(gw.url, '/transparent/openai/v1/chat/completions', { auth: `Bearer ${key}`, body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] } })).status, 200);
    await gw.settle();
    assert.ok(await pollUntil(async () => (await gw.app.store.governance.usage.summary({ by: 'user', since: 0 })).some((r) => r.group === name), 5000));
    return key;
  }

  test('without --purge: the user and its credentials go, its history stays; the key is refused within seconds', async () => {
    const key = await userWithTraffic('erin');
    const out = await runCliJson<Record<string, unknown>>(['users', 'delete', 'erin', '--config', configPath, '--json'], { cwd: dir });
    assert.equal(out['user'], 'erin');
    assert.equal(out['purged'], false);
    assert.equal((out['keys_revoked'] as string[]).length, 1);
    assert.ok(await pollUntil(async () => (await call(gw.url, '/transparent/openai/v1/models', { auth: `Bearer ${key}` })).status === 401, 5000), 'the running gateway refuses the key');
    assert.equal(await gw.app.store.identity.users.get('erin'), undefined);
    assert.ok((await gw.app.store.governance.usage.summary({ by: 'user', since: 0 })).some((r) => r.group === 'erin'), 'usage kept');
    const audited = (await gw.app.store.audit.query({ event: 'admin', limit: 20 })).find((e) => e.reason === 'user.delete' && e.detail?.['target'] === 'erin');
    assert.equal(audited?.method, 'cli');
    assert.equal(audited?.severity, 'info');
    // privacy.ip: none — no client address in the audit rows or the request lines.
    assert.ok((await gw.app.store.audit.query({ user: 'erin' })).every((e) => e.clientAddress === '-'));
    assert.ok(requestLogs(gw).every((l) => l['client'] === '-'));
  });

  test('with --purge (no pseudonymise): usage and audit rows of the user are deleted', async () => {
    await userWithTraffic('fred');
    const text = await runCli(['users', 'delete', 'fred', '--purge', '--config', configPath], { cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /deleted user fred; 1 key\(s\) revoked/);
    assert.match(text.stdout, /deleted [1-9]\d* usage row\(s\) and [1-9]\d* audit event\(s\)/);
    assert.ok(!(await gw.app.store.governance.usage.summary({ by: 'user', since: 0 })).some((r) => r.group === 'fred'));
    assert.deepEqual(await gw.app.store.audit.query({ user: 'fred' }), []);
    const missing = await runCli(['users', 'delete', 'fred', '--config', configPath], { cwd: dir });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no user named fred/);
  });
});

describe('config reloads are audited: who asked, instance names changed, never values', () => {
  let emu: OpenAIEmulator;
  let dir: string;
  let configPath: string;
  let app: App;
  let url: string;
  let admin: string;
  let adminId: string;
  const yaml = (instances: string[], extra = '') =>
    [
      'server: { host: 127.0.0.1, port: 0 }',
      'storage: { sqlite: { path: ./llmproxy.db } }',
      'auth: { api_keys: { bootstrap_admin: false } }',
      extra,
      'instances:',
      ...instances.map((n) => `  ${n}: { type: openai, endpoint: "${emu.url}", authentication: { type: api_key, api_key: "\${env:PRIVACY_TEST_OPENAI_KEY}" } }`),
      '',
    ].join('\n');

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    dir = tempDir('llmproxy-reload-audit-');
    configPath = join(dir, 'llmproxy.yaml');
    writeFileSync(configPath, yaml(['first']));
    app = await createApp({ loaded: loadConfig(configPath), logDestination: { write: () => {} }, listen: { host: '127.0.0.1', port: 0 } });
    url = `http://127.0.0.1:${(await app.listen()).main.port}`;
    const issued = await issueKey(app.store.keys, { name: 'ops', role: 'admin' });
    admin = `Bearer ${issued.key}`;
    adminId = issued.record.id;
  });
  after(async () => {
    await app.close();
    await emu.close();
    removeDir(dir);
  });

  test('POST /admin/v1/config/reload names the admin; SIGHUP is named as such; a refused file is a warning', async () => {
    writeFileSync(configPath, yaml(['first', 'second']));
    const applied = await call(url, '/admin/v1/config/reload', { auth: admin, body: {} });
    assert.equal(applied.status, 200, applied.text);
    assert.deepEqual(applied.json(), { ok: true, added: ['second'], removed: [], changed: [], aliases_changed: false, restart_required: [] });

    writeFileSync(configPath, yaml(['second']));
    assert.equal((await app.reload(undefined, { by: 'SIGHUP' })).ok, true);

    writeFileSync(configPath, yaml(['second'], 'nonsense_section: true'));
    const refused = await call(url, '/admin/v1/config/reload', { auth: admin, body: {} });
    assert.equal(refused.status, 422);
    assert.match(refused.json()['error']['message'], /nonsense_section/);

    const events = (await call(url, '/admin/v1/audit?event=config.reload', { auth: admin })).json()['data'] as AuditJson[];
    assert.deepEqual(
      events.map((e) => [e.method, e.result, e.severity, e.detail?.['trigger'], e.detail?.['added'], e.detail?.['removed']]),
      [
        ['admin', 'failure', 'warning', 'admin', undefined, undefined],
        ['SIGHUP', 'success', 'info', 'SIGHUP', [], ['first']],
        ['admin', 'success', 'info', 'admin', ['second'], []],
      ],
    );
    const byAdmin = events[2]!;
    assert.equal(byAdmin.user, adminId, 'the acting principal');
    const all = JSON.stringify(events);
    assert.ok(!all.includes(emu.url) && !all.includes(PROVIDER_KEY) && !all.includes('PRIVACY_TEST_OPENAI_KEY'), 'names only, never values');
  });
});

describe('provider credentials failing and recovering are audited once per transition', () => {
  const API_KEY = 'ibm-cloud-api-key-privacy-0123456789abcdef';
  const PROJECT = '8d3c6f2e-1111-4a4b-9c9d-0123456789ab';
  let wx: WatsonxEmulator;
  let iam: IbmIamEmulator;
  let gw: TestGateway;

  before(async () => {
    wx = await new WatsonxEmulator([], { projects: [PROJECT] }).start();
    wx.recording = false;
    iam = await new IbmIamEmulator({ apiKeys: [API_KEY], validTokens: wx.acceptedKeys }).start();
    iam.ttlSeconds = 1;
    process.env['PRIVACY_TEST_IAM_KEY'] = API_KEY;
    gw = await startGateway({
      instances: {
        wx: { type: 'watsonx', region: 'us-south', endpoint: wx.url, project_id: PROJECT, credential_refresh_window: '500ms', authentication: { type: 'api_key', api_key: '${env:PRIVACY_TEST_IAM_KEY}', iam_url: iam.url } },
      },
      auth: { api_keys: { bootstrap_admin: false } },
    });
  });
  after(async () => {
    iam.setDown(false);
    await gw.close();
    await Promise.all([wx.close(), iam.close()]);
  });

  test('IAM down: one warning event however many retries fail; IAM back: one recovery event', async () => {
    iam.setDown('unavailable');
    // Tokens live 1 s and are refreshed from 0.5 s before expiry; the cache retries with backoff (1 s, 2 s...).
    assert.ok(await pollUntil(async () => (await metricSample(gw.url, 'llmproxy_credential_refresh_total', { provider: 'watsonx', method: 'api_key', status: 'failure' }) ?? 0) >= 2, 10_000), 'several failed fetches');
    await gw.settle();
    const failed = await gw.app.store.audit.query({ event: 'credential' });
    assert.deepEqual(failed.map((e) => [e.result, e.reason, e.severity, e.instance, e.method]), [['failure', 'fetch_failed', 'warning', 'wx', 'api_key']]);
    assert.equal(failed[0]!.detail?.['provider'], 'watsonx');
    assert.ok(!JSON.stringify(failed).includes(API_KEY), 'the API key is in no event');

    iam.setDown(false);
    assert.ok(await pollUntil(async () => (await gw.app.audit.flush(), (await gw.app.store.audit.query({ event: 'credential' })).length === 2), 10_000), 'the recovery is audited');
    const events = await gw.app.store.audit.query({ event: 'credential' });
    assert.deepEqual(events.map((e) => [e.result, e.reason, e.severity]), [['success', 'recovered', 'info'], ['failure', 'fetch_failed', 'warning']]);
    const warnings = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'audit' && l['audit'] === 'credential');
    assert.deepEqual(warnings.map((l) => [l['level'], l['severity']]), [['warn', 'warning'], ['info', 'info']]);
  });
});
