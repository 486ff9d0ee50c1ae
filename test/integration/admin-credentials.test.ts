import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { WatsonxEmulator } from '../emulators/watsonx.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * POST /admin/v1/credentials/:instance/refresh: the gateway fetches the instance's provider
 * credential again at once (the IAM emulator counts the exchanges), at most every 5 seconds per
 * instance, and audits it without any credential value.
 */

const API_KEY = 'ibm-cloud-api-key-admin-refresh-0123456789';
const CR_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.compute-resource-token-admin-refresh';
const PROFILE = 'Profile-admin-refresh-2222';
const PROJECT = '8d3c6f2e-2222-4a4b-9c9d-0123456789ab';
const OPENAI_KEY = 'sk-provider-admin-refresh-9f8e7d6c5b4a';
process.env['ADMIN_REFRESH_IAM_KEY'] = API_KEY;
process.env['ADMIN_REFRESH_OPENAI_KEY'] = OPENAI_KEY;

async function post(gw: TestGateway, path: string, key: string) {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: JSON.parse(text) as Record<string, unknown> };
}

describe('admin API: refresh an instance credential now', () => {
  let wx: WatsonxEmulator;
  let iam: IbmIamEmulator;
  let openai: OpenAIEmulator;
  let gw: TestGateway;
  let dir: string;
  let admin: string;
  let viewer: string;

  before(async () => {
    wx = await new WatsonxEmulator([], { projects: [PROJECT] }).start();
    wx.recording = false;
    iam = await new IbmIamEmulator({ apiKeys: [API_KEY], profiles: { [PROFILE]: [CR_TOKEN] }, validTokens: wx.acceptedKeys }).start();
    openai = await new OpenAIEmulator([OPENAI_KEY]).start();
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-admin-refresh-'));
    writeFileSync(join(dir, 'cr-token'), CR_TOKEN);
    const common = { type: 'watsonx', region: 'us-south', endpoint: wx.url, project_id: PROJECT };
    gw = await startGateway(
      {
        instances: {
          wxkey: { ...common, authentication: { type: 'api_key', api_key: '${env:ADMIN_REFRESH_IAM_KEY}', iam_url: iam.url } },
          wxprof: { ...common, authentication: { type: 'trusted_profile', profile_id: PROFILE, cr_token_file: 'cr-token', iam_url: iam.url } },
          oai: { type: 'openai', endpoint: openai.url, authentication: { type: 'api_key', api_key: '${env:ADMIN_REFRESH_OPENAI_KEY}' } },
        },
      },
      { dir },
    );
    admin = await gw.key({ name: 'admin', role: 'admin' });
    viewer = await gw.key({ name: 'viewer', role: 'viewer' });
  });

  after(async () => {
    await gw.close();
    await Promise.all([wx.close(), iam.close(), openai.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a fresh credential is fetched again at once; a second request within 5 s is refused with 429', async () => {
    const exchanges = iam.exchanges.api_key;
    const before = (await (await fetch(`${gw.url}/admin/v1/credentials`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { instances: Array<Record<string, unknown>> };
    const shownBefore = before.instances.find((i) => i['instance'] === 'wxkey')!;
    await new Promise((r) => setTimeout(r, 5)); // last_refresh must be able to move

    const refreshed = await post(gw, '/admin/v1/credentials/wxkey/refresh', admin);
    assert.equal(refreshed.status, 200);
    assert.equal(iam.exchanges.api_key, exchanges + 1, 'IAM was asked for a new token');
    assert.equal(refreshed.json['instance'], 'wxkey');
    assert.equal(refreshed.json['type'], 'watsonx');
    assert.equal(refreshed.json['method'], 'api_key');
    assert.equal(refreshed.json['status'], 'ok');
    assert.equal(refreshed.json['last_error'], null);
    assert.ok(Date.parse(refreshed.json['last_refresh'] as string) > Date.parse(shownBefore['last_refresh'] as string));
    assert.deepEqual(Object.keys(refreshed.json), Object.keys(shownBefore), 'the row of GET /admin/v1/credentials');
    assert.ok(!refreshed.text.includes(iam.minted.at(-1)!), 'no token in the answer');

    const again = await post(gw, '/admin/v1/credentials/wxkey/refresh', admin);
    assert.equal(again.status, 429);
    assert.equal((again.json['error'] as { code: string }).code, 'rate_limited');
    assert.ok(Number(again.headers.get('retry-after')) >= 1 && Number(again.headers.get('retry-after')) <= 5);
    assert.equal(iam.exchanges.api_key, exchanges + 1, 'no second fetch');

    await gw.settle();
    const events = await gw.app.store.audit.query({ limit: 50, event: 'admin' });
    const audited = events.filter((e) => e.reason === 'credential.refresh');
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.result, 'success');
    assert.equal(audited[0]!.detail?.['target'], 'wxkey');
    const everything = JSON.stringify(await gw.app.store.audit.query({ limit: 500 })) + gw.logs.join('\n');
    for (const token of iam.minted) assert.ok(!everything.includes(token), 'no IAM token in the audit trail or logs');
    assert.ok(!everything.includes(API_KEY));
  });

  test('a failed refresh answers the row with its error, keeps the last good token, and is audited as a failure', async () => {
    const minted = iam.minted.length;
    iam.setDown('unavailable');
    try {
      const failed = await post(gw, '/admin/v1/credentials/wxprof/refresh', admin);
      assert.equal(failed.status, 200);
      assert.equal(failed.json['instance'], 'wxprof');
      assert.equal(failed.json['status'], 'ok', 'the last good token is still valid');
      assert.match(failed.json['last_error'] as string, /\S/);
      assert.equal(iam.minted.length, minted);
    } finally {
      iam.setDown(false);
    }
    await gw.settle();
    const audited = (await gw.app.store.audit.query({ limit: 50, event: 'admin' })).find((e) => e.reason === 'credential.refresh' && e.detail?.['target'] === 'wxprof');
    assert.equal(audited?.result, 'failure');
  });

  test('a credential from a secret is read again; unknown instance 404; secrets:write is needed', async () => {
    const ok = await post(gw, '/admin/v1/credentials/oai/refresh', admin);
    assert.equal(ok.status, 200);
    assert.equal(ok.json['method'], 'api_key');
    assert.ok(!ok.text.includes(OPENAI_KEY));
    const unknown = await post(gw, '/admin/v1/credentials/nope/refresh', admin);
    assert.equal(unknown.status, 404);
    const denied = await post(gw, '/admin/v1/credentials/wxkey/refresh', viewer);
    assert.equal(denied.status, 403);
    assert.match((denied.json['error'] as { message: string }).message, /secrets:write/);
  });
});
