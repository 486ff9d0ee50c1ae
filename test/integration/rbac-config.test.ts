import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validate } from '../../src/config/load.js';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { OidcProviderEmulator } from '../emulators/oidc-provider.js';
import { WatsonxEmulator } from '../emulators/watsonx.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Config-level RBAC (issue 17, item 11): `rbac.assignments` gives roles to OIDC subjects and Basic
 * users on top of their claims or stored role; `secrets:write` alone lets a role refresh a
 * provider credential and nothing else; the seed's `access_control` block is refused with an error
 * naming what replaces it.
 */

const API_KEY = 'ibm-cloud-api-key-rbac-config-0123456789';
const PROJECT = '8d3c6f2e-3333-4a4b-9c9d-0123456789ab';
process.env['RBAC_CONFIG_IAM_KEY'] = API_KEY;

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

describe('config-level RBAC: assignments, secrets:write, the seed spelling', () => {
  let wx: WatsonxEmulator;
  let iam: IbmIamEmulator;
  let op: OidcProviderEmulator;
  let gw: TestGateway;
  let opsSub: string;
  let bootstrap: string;
  /** A key with `role`, made through the admin API (the gateway's role table knows rbac.roles). */
  const keyWith = async (name: string, role: string) => {
    const res = await admin('POST', 'keys', bootstrap, { name, role });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return res.json['key'] as string;
  };

  before(async () => {
    wx = await new WatsonxEmulator([], { projects: [PROJECT] }).start();
    iam = await new IbmIamEmulator({ apiKeys: [API_KEY], profiles: {}, validTokens: wx.acceptedKeys }).start();
    op = await new OidcProviderEmulator({
      audience: 'llmproxy',
      clients: {
        ops: { secret: 'ops-secret-000000000000000000000', claims: {} },
        other: { secret: 'other-secret-0000000000000000000', claims: { email: 'nobody@example.com' } },
        mail: { secret: 'mail-secret-00000000000000000000', claims: { email: 'bob@example.com', groups: ['developer'] } },
      },
    }).start();
    opsSub = JSON.parse(Buffer.from((await op.token('ops')).split('.')[1]!, 'base64url').toString()).sub as string;
    gw = await startGateway({
      auth: {
        basic: { enabled: true },
        // No default_role: a token whose claims name no role gets none, unless assigned one.
        oidc: [{ issuer: op.issuer, audience: 'llmproxy', user_claim: 'email' }],
      },
      rbac: {
        roles: { secops: { permissions: ['secrets:write'] }, auditor: { permissions: ['admin:read', 'secrets:read'] } },
        assignments: {
          [`oidc:${op.issuer}#${opsSub}`]: ['secops'],
          'bob@example.com': ['auditor'],
          carol: ['auditor'],
          'user:dave': ['admin'],
        },
      },
      instances: { wx: { type: 'watsonx', region: 'us-south', endpoint: wx.url, project_id: PROJECT, authentication: { type: 'api_key', api_key: '${env:RBAC_CONFIG_IAM_KEY}', iam_url: iam.url } } },
    });
    bootstrap = await gw.key({ name: 'bootstrap', role: 'admin' });
    for (const [name, role] of [['carol', 'developer'], ['dave', 'viewer'], ['erin', 'developer']] as const) {
      const res = await admin('POST', 'users', bootstrap, { name, role, password: `${name}-password-1234` });
      assert.equal(res.status, 201, JSON.stringify(res.json));
    }
  });
  after(async () => {
    await gw.close();
    await Promise.all([wx.close(), iam.close(), op.close()]);
  });

  async function admin(method: string, path: string, credential: string, body?: unknown): Promise<Answer> {
    const authorization = credential.includes(':') ? `Basic ${Buffer.from(credential).toString('base64')}` : `Bearer ${credential}`;
    const res = await fetch(`${gw.url}/admin/v1/${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  const code = (a: Answer) => (a.json['error'] as { code: string } | undefined)?.code;
  // One forced refresh per instance every 5 s: wait out the cooldown between the tests that refresh.
  const cooldown = () => new Promise((r) => setTimeout(r, 5_100));

  test('secrets:write without llm:admin refreshes a credential and does nothing else; a role without it cannot refresh', async () => {
    const secops = await keyWith('secops', 'secops');
    const auditor = await keyWith('auditor', 'auditor');
    const developer = await gw.key({ name: 'dev' });
    const exchanges = iam.exchanges.api_key;
    const refreshed = await admin('POST', 'credentials/wx/refresh', secops);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.json));
    assert.equal(refreshed.json['status'], 'ok');
    assert.equal(iam.exchanges.api_key, exchanges + 1, 'IAM was asked for a new token');
    for (const [what, answer] of [
      ['create a key', await admin('POST', 'keys', secops, { name: 'x' })],
      ['read credential health', await admin('GET', 'credentials', secops)],
      ['read keys', await admin('GET', 'keys', secops)],
    ] as const) {
      assert.equal(answer.status, 403, what);
      assert.equal(code(answer), 'permission_denied', what);
    }
    for (const key of [auditor, developer]) {
      const denied = await admin('POST', 'credentials/wx/refresh', key);
      assert.equal(denied.status, 403);
      assert.match((denied.json['error'] as { message: string }).message, /secrets:write/);
    }
    assert.equal(iam.exchanges.api_key, exchanges + 1, 'refused refreshes fetched nothing');
    assert.equal((await admin('GET', 'credentials', auditor)).status, 200, 'secrets:read reads credential health');
  });

  test('an OIDC subject assigned a role in config gets it; another subject of the same issuer does not', async () => {
    await cooldown();
    const ops = await op.token('ops');
    const refreshed = await admin('POST', 'credentials/wx/refresh', ops);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.json));
    const other = await admin('POST', 'credentials/wx/refresh', await op.token('other'));
    assert.equal(other.status, 403);
    assert.equal(code(other), 'permission_denied');
  });

  test('a user name matches an OIDC identity by its user_claim, on top of the roles its claims give', async () => {
    const bob = await op.token('mail');
    assert.equal((await admin('GET', 'credentials', bob)).status, 200, 'auditor from rbac.assignments');
    const chat = await fetch(`${gw.url}/transparent/wx/ml/v1/text/chat?version=2024-05-01`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model_id: 'ibm/granite-3-8b-instruct', project_id: PROJECT, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 200, `developer from the groups claim still applies: ${await chat.text()}`);
  });

  test('Basic users: a bare name and user:<name> add roles to the stored one; an unassigned user keeps only its own', async () => {
    assert.equal((await admin('GET', 'credentials', 'carol:carol-password-1234')).status, 200);
    const created = await admin('POST', 'keys', 'dave:dave-password-1234', { name: 'made-by-dave' });
    assert.equal(created.status, 201, 'dave is a viewer in the store and an admin by rbac.assignments');
    const erin = await admin('GET', 'credentials', 'erin:erin-password-1234');
    assert.equal(erin.status, 403);
  });

  test('config: the seed\'s access_control block is refused naming rbac.roles and rbac.assignments (llmproxy config check)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-rbac-config-'));
    try {
      const path = join(dir, 'llmproxy.yaml');
      writeFileSync(
        path,
        [
          'instances: { demo: { type: demo } }',
          '# RBAC configuration, as seed 004 writes it',
          'access_control:',
          '  roles:',
          '    admin: { permissions: ["llm:read", "llm:write", "llm:admin", "secrets:read", "secrets:write"] }',
          '    viewer: { permissions: ["llm:read"] }',
          '  users:',
          '    admin@company.com: { roles: ["admin"] }',
          '',
        ].join('\n'),
      );
      const r = await runCli(['config', 'check', '--config', path], { cwd: dir });
      assert.notEqual(r.code, 0);
      const out = r.stdout + r.stderr;
      assert.match(out, /access_control: unknown field: RBAC is configured under "rbac": custom roles as rbac\.roles\.<name>\.permissions/);
      assert.match(out, /rbac\.assignments \("alice@example\.com": \[admin\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('config: assignments name known roles and well-formed subjects', () => {
    const problem = (rbac: unknown) => {
      try {
        validate({ instances: { demo: { type: 'demo' } }, rbac }, 'test');
      } catch (err) {
        return (err as Error).message;
      }
      return '(accepted)';
    };
    assert.equal(problem({ roles: { ops: { permissions: ['secrets:write'] } }, assignments: { 'user:alice': ['ops', 'viewer'], 'oidc:https://idp.example.com#123': ['admin'] } }), '(accepted)');
    assert.match(problem({ assignments: { 'alice@example.com': ['root'] } }), /rbac\.assignments\.alice@example\.com\.0: unknown role "root"/);
    assert.match(problem({ assignments: { 'ldap:alice': ['admin'] } }), /rbac\.assignments\.ldap:alice: must be "oidc:<issuer>#<sub>", "user:<name>" or a user name/);
    assert.match(problem({ assignments: { alice: [] } }), /rbac\.assignments\.alice/);
  });
});
