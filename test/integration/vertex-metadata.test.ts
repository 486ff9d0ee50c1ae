import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../emulators/base.js';
import { GceMetadataEmulator } from '../emulators/gce-metadata.js';
import { GoogleOAuthEmulator } from '../emulators/google-oauth.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { removeDir, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/wait.js';

/**
 * Vertex `default_credentials` on GCE / GKE / Cloud Run: Application Default Credentials find no
 * `GOOGLE_APPLICATION_CREDENTIALS` and no gcloud file (`CLOUDSDK_CONFIG` is an empty folder), so
 * google-auth-library asks the metadata server, here the GCE metadata emulator at
 * `GCE_METADATA_HOST`. A file of its own: gcp-metadata remembers per process whether a metadata
 * server exists. The gateway runs in this process; the environment is set for this file's tests
 * only and restored after.
 */

const PROJECT = 'proj-gce-1';
const LOCATION = 'us-central1';
const MODEL_PATH = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.0-flash:generateContent`;
const BODY = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
const METHOD = { provider: 'vertex', method: 'default_credentials' };

describe('Vertex AI with Application Default Credentials from the metadata server', () => {
  let md: GceMetadataEmulator;
  let vtx: VertexEmulator;
  let gcloudDir: string;
  const names = ['GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG', 'GCE_METADATA_HOST', 'GCE_METADATA_IP', 'METADATA_SERVER_DETECTION', 'GOOGLE_CLOUD_PROJECT'] as const;
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));

  before(async () => {
    md = await new GceMetadataEmulator({ project: PROJECT, email: `gw@${PROJECT}.iam.gserviceaccount.com` }).start();
    vtx = await new VertexEmulator([], { project: PROJECT, location: LOCATION }).start();
    gcloudDir = tempDir('llmproxy-gcloud-empty-');
    for (const n of names) delete process.env[n];
    process.env['CLOUDSDK_CONFIG'] = gcloudDir;
    process.env['GCE_METADATA_HOST'] = md.host;
  });
  after(async () => {
    await Promise.all([md.close(), vtx.close()]);
    removeDir(gcloudDir);
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  });

  async function gateway(extra: Record<string, unknown> = {}): Promise<{ gw: TestGateway; key: string }> {
    const gw = await startGateway({ instances: { vtx: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: vtx.url, authentication: { type: 'default_credentials' }, ...extra } } });
    return { gw, key: await gw.key({ name: 'vtx-gce' }) };
  }

  async function generate(gw: TestGateway, key: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${gw.url}/transparent/vtx${MODEL_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: BODY });
    return { status: res.status, text: await res.text() };
  }

  test('the service account token from the metadata server is sent to Vertex', async () => {
    const before = md.calls['token'] ?? 0;
    const { gw, key } = await gateway();
    try {
      assert.equal((md.calls['token'] ?? 0) - before, 1);
      const minted = md.minted.at(-1)!;
      assert.ok(minted.scopes.split(',').includes('https://www.googleapis.com/auth/cloud-platform'));
      const res = await generate(gw, key);
      assert.equal(res.status, 200, res.text);
      assert.equal(vtx.last.headers.authorization, `Bearer ${minted.token}`);
      assert.equal(md.calls['no_flavor'] ?? 0, 0, 'every request said Metadata-Flavor: Google');
      assert.equal(await metricValue(gw, 'llmproxy_credential_refresh_total', { ...METHOD, status: 'success' }), 1);
      const state = gw.app.instances.resolve('vtx')!.credential.state;
      assert.equal(state.status, 'ok');
      assert.ok(Math.abs(state.expiresAt! - minted.expiresAt) < 2000);
    } finally {
      await gw.close();
    }
  });

  test('short-lived metadata tokens are refreshed before expiry: no failure, about one token request per refresh', async () => {
    md.ttlSeconds = 3;
    const before = md.calls['token'] ?? 0;
    const { gw, key } = await gateway({ credential_refresh_window: '2s' });
    try {
      const started = Date.now();
      while (Date.now() - started < 3500) {
        const res = await generate(gw, key);
        assert.equal(res.status, 200, res.text);
        await sleep(150);
      }
      const fetched = (md.calls['token'] ?? 0) - before;
      assert.ok(fetched >= 3, `refreshed ${fetched - 1} times`);
      assert.ok(fetched <= 7, `${fetched} token requests in 3.5 s`);
    } finally {
      md.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('metadata server down: the valid token keeps working; once it expires, 503 credential_unavailable without the token; back, service back', async () => {
    md.ttlSeconds = 3;
    const start = md.minted.length;
    const { gw, key } = await gateway({ credential_refresh_window: '2s' });
    try {
      md.setDown(true);
      // Every token minted before the outage (a background refresh may have added one to the first).
      const issued = md.minted.slice(start);
      await sleep(1200);
      const during = await generate(gw, key);
      assert.equal(during.status, 200, during.text);
      assert.ok(issued.some((m) => vtx.last.headers.authorization === `Bearer ${m.token}`));

      const expiresAt = Math.max(...issued.map((m) => m.expiresAt), gw.app.instances.resolve('vtx')!.credential.state.expiresAt!);
      await sleep(Math.max(0, expiresAt - Date.now()) + 100);
      const expired = await generate(gw, key);
      assert.equal(expired.status, 503, expired.text);
      // Google's shape on a Vertex route: the gateway's code is the ErrorInfo reason.
      const { error } = JSON.parse(expired.text) as { error: { code: number; status: string; details: Array<{ reason: string }> } };
      assert.deepEqual([error.code, error.status, error.details[0]!.reason], [503, 'UNAVAILABLE', 'CREDENTIAL_UNAVAILABLE']);
      await gw.settle();
      for (const { token } of issued) {
        assert.ok(!expired.text.includes(token), 'no token in the error');
        assert.ok(!gw.logs.join('\n').includes(token), 'no token in the logs');
      }
      assert.ok((await metricValue(gw, 'llmproxy_credential_refresh_total', { ...METHOD, status: 'failure' })) >= 1);

      md.setDown(false);
      let status = 0;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        status = (await generate(gw, key)).status;
        if (status === 200) break;
        await sleep(250);
      }
      assert.equal(status, 200, 'service resumes once the metadata server is back');
      const fresh = md.minted.slice(start + issued.length).map((m) => `Bearer ${m.token}`);
      assert.ok(fresh.includes(String(vtx.last.headers.authorization)), 'a token minted after the outage');
    } finally {
      md.setDown(false);
      md.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('gcloud\'s application_default_credentials.json (authorized_user) comes before the metadata server; its token_uri is used', async () => {
    const oauth = await new GoogleOAuthEmulator().start();
    const userDir = tempDir('llmproxy-gcloud-user-');
    const user = oauth.createAuthorizedUser();
    writeFileSync(join(userDir, 'application_default_credentials.json'), JSON.stringify(user));
    process.env['CLOUDSDK_CONFIG'] = userDir;
    const metadataTokens = md.calls['token'] ?? 0;
    try {
      const { gw, key } = await gateway();
      try {
        assert.equal(oauth.calls['refresh_token'], 1);
        assert.equal((md.calls['token'] ?? 0) - metadataTokens, 0, 'the metadata server was not asked');
        const res = await generate(gw, key);
        assert.equal(res.status, 200, res.text);
        assert.equal(vtx.last.headers.authorization, `Bearer ${oauth.minted.at(-1)!.token}`);
      } finally {
        await gw.close();
      }
      // A revoked refresh token: startup fails with Google's error, never the refresh token or client secret.
      writeFileSync(join(userDir, 'application_default_credentials.json'), JSON.stringify({ ...user, refresh_token: '1//emu-revoked-refresh-token-value' }));
      await assert.rejects(gateway(), (err: Error) => {
        assert.match(err.message, /invalid_grant/);
        for (const secret of ['1//emu-revoked-refresh-token-value', user.client_secret, user.refresh_token]) assert.ok(!err.message.includes(secret));
        return true;
      });
    } finally {
      process.env['CLOUDSDK_CONFIG'] = gcloudDir;
      removeDir(userDir);
      await oauth.close();
    }
  });
});
