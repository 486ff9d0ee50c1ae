import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { GoogleOAuthEmulator, GOOGLE_TOKENS, type ServiceAccountKeyJson } from '../emulators/google-oauth.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROJECT = 'proj-test-1';
const LOCATION = 'us-central1';
const MODEL_PATH = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.0-flash`;
const EMAIL = 'llm-gateway@proj-test-1.iam.gserviceaccount.com';

/**
 * Google service account and Application Default Credentials of Vertex instances through
 * google-auth-library, against the Google OAuth emulator (JWT bearer grant to the key's
 * `token_uri`) and the Vertex emulator (which accepts the tokens it mints).
 */
describe('Vertex AI with Google service account tokens', () => {
  let oauth: GoogleOAuthEmulator;
  let vtx: VertexEmulator;
  let key: ServiceAccountKeyJson;
  const saved = process.env['GOOGLE_APPLICATION_CREDENTIALS'];

  before(async () => {
    oauth = await new GoogleOAuthEmulator().start();
    vtx = await new VertexEmulator([], { project: PROJECT, location: LOCATION }).start();
    key = oauth.createServiceAccount(EMAIL);
    process.env['VTX_SA_KEY_JSON'] = JSON.stringify(key);
  });
  after(async () => {
    await Promise.all([oauth.close(), vtx.close()]);
    delete process.env['VTX_SA_KEY_JSON'];
    if (saved === undefined) delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
    else process.env['GOOGLE_APPLICATION_CREDENTIALS'] = saved;
  });

  async function gateway(auth: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ gw: TestGateway; apiKey: string; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-vtx-id-'));
    writeFileSync(join(dir, 'sa.json'), JSON.stringify(key));
    const gw = await startGateway({ instances: { vtx: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: vtx.url, authentication: auth, ...extra } } }, { dir });
    return { gw, apiKey: await gw.key({ name: 'vtx-id' }), dir };
  }

  const generate = (gw: TestGateway, apiKey: string) =>
    fetch(`${gw.url}/transparent/vtx${MODEL_PATH}:generateContent`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });

  async function bothModes(gw: TestGateway, apiKey: string): Promise<void> {
    const client = new OpenAI({ apiKey, baseURL: `${gw.url}/openai/vtx`, maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.choices[0]?.message.content, VertexEmulator.REPLY.join(''));
    const res = await generate(gw, apiKey);
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
  }

  for (const [label, auth] of [
    ['key_file (relative to the config folder)', { type: 'service_account', key_file: 'sa.json' }],
    ['key from a secret reference', { type: 'service_account', key: '${env:VTX_SA_KEY_JSON}' }],
  ] as const) {
    test(`service_account, ${label}: protocol and transparent requests carry a minted token`, async () => {
      const before = oauth.calls['ok'] ?? 0;
      const { gw, apiKey } = await gateway(auth);
      try {
        await bothModes(gw, apiKey);
        assert.equal((oauth.calls['ok'] ?? 0) - before, 1, 'one token, cached');
        const token = oauth.minted.at(-1)!.token;
        assert.equal(vtx.last.headers.authorization, `Bearer ${token}`);
        assert.equal(oauth.minted.at(-1)!.scope, 'https://www.googleapis.com/auth/cloud-platform');
        const metrics = await (await fetch(`${gw.url}/metrics`)).text();
        assert.match(metrics, /llmproxy_credential_refresh_total\{provider="vertex",method="service_account",status="success"\} 1\b/);
      } finally {
        await gw.close();
      }
    });
  }

  test('default_credentials: a service account key in GOOGLE_APPLICATION_CREDENTIALS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-vtx-adc-'));
    writeFileSync(join(dir, 'adc.json'), JSON.stringify(key));
    process.env['GOOGLE_APPLICATION_CREDENTIALS'] = join(dir, 'adc.json');
    const { gw, apiKey } = await gateway({ type: 'default_credentials' });
    try {
      await bothModes(gw, apiKey);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="vertex",method="default_credentials",status="success"\} 1\b/);
    } finally {
      delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
      await gw.close();
    }
  });

  test('external_account: workload identity federation with a file subject token', async () => {
    const audience = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool-1/providers/oidc-1';
    oauth.addSubjectToken('oidc-subject-token-1', audience);
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-vtx-wif-'));
    writeFileSync(join(dir, 'subject.jwt'), 'oidc-subject-token-1');
    const config = {
      type: 'external_account',
      audience,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: oauth.stsUrl,
      credential_source: { file: join(dir, 'subject.jwt') },
    };
    writeFileSync(join(dir, 'wif.json'), JSON.stringify(config));
    const before = oauth.calls['sts'] ?? 0;
    const { gw, apiKey } = await gateway({ type: 'external_account', credentials_file: join(dir, 'wif.json') });
    try {
      await bothModes(gw, apiKey);
      assert.equal((oauth.calls['sts'] ?? 0) - before, 1);
      assert.equal(vtx.last.headers.authorization, `Bearer ${oauth.minted.at(-1)!.token}`);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="vertex",method="external_account",status="success"\} 1\b/);
    } finally {
      await gw.close();
    }
  });

  test('tokens are refreshed before expiry: no failure, about one grant per refresh', async () => {
    oauth.ttlSeconds = 3;
    const before = oauth.calls['ok'] ?? 0;
    const { gw, apiKey } = await gateway({ type: 'service_account', key_file: 'sa.json' }, { credential_refresh_window: '2s' });
    try {
      const started = Date.now();
      while (Date.now() - started < 3500) {
        const res = await generate(gw, apiKey);
        assert.equal(res.status, 200, await res.clone().text());
        await res.arrayBuffer();
        await sleep(150);
      }
      const grants = (oauth.calls['ok'] ?? 0) - before;
      assert.ok(grants >= 3, `refreshed ${grants - 1} times`);
      assert.ok(grants <= Math.ceil((Date.now() - started) / 1000) + 2, `${grants} grants: more than one per refresh`);
    } finally {
      oauth.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('token endpoint down while the token is valid: requests keep working; failures are counted', async () => {
    oauth.ttlSeconds = 4;
    const { gw, apiKey } = await gateway({ type: 'service_account', key_file: 'sa.json' }, { credential_refresh_window: '3s' });
    try {
      oauth.setDown(true);
      const started = Date.now();
      while (Date.now() - started < 2000) {
        const res = await generate(gw, apiKey);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        await sleep(150);
      }
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="vertex",method="service_account",status="failure"\} [1-9]/);
    } finally {
      oauth.setDown(false);
      oauth.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('token endpoint down past expiry: 503 credential_unavailable without the token or key; back, service back', async () => {
    oauth.ttlSeconds = 3;
    const start = oauth.minted.length;
    const { gw, apiKey } = await gateway({ type: 'service_account', key_file: 'sa.json' }, { credential_refresh_window: '2s' });
    try {
      oauth.setDown(true);
      // Every token minted before the outage (a background refresh may have added one to the first).
      const issued = oauth.minted.slice(start);
      const expiresAt = Math.max(...issued.map((m) => m.expiresAt), gw.app.instances.resolve('vtx')!.credential.state.expiresAt!);
      await sleep(Math.max(0, expiresAt - Date.now()) + 100);
      const expired = await generate(gw, apiKey);
      const text = await expired.text();
      assert.equal(expired.status, 503, text);
      // Google's shape on a Vertex route: the gateway's code is the ErrorInfo reason.
      const { error } = JSON.parse(text) as { error: { code: number; status: string; details: Array<{ reason: string }> } };
      assert.deepEqual([error.code, error.status, error.details[0]!.reason], [503, 'UNAVAILABLE', 'CREDENTIAL_UNAVAILABLE']);
      await gw.settle();
      const keyLines = key.private_key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
      for (const secret of [...issued.map((m) => m.token), ...keyLines]) {
        assert.ok(!text.includes(secret), 'no secret in the error');
        assert.ok(!gw.logs.join('\n').includes(secret), 'no secret in the logs');
      }
      assert.equal(gw.app.instances.resolve('vtx')!.credential.state.status, 'error');
      oauth.setDown(false);
      let status = 0;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const res = await generate(gw, apiKey);
        await res.arrayBuffer();
        status = res.status;
        if (status === 200) break;
        await sleep(250);
      }
      assert.equal(status, 200, 'service resumes once the token endpoint is back');
      const fresh = oauth.minted.slice(start + issued.length).map((m) => `Bearer ${m.token}`);
      assert.ok(fresh.includes(String(vtx.last.headers.authorization)), 'a token minted after the outage');
    } finally {
      oauth.setDown(false);
      oauth.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('access_token: a token from a secret reference is sent as is, and a rotated one is used without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-vtx-at-'));
    const first = `ya29.sidecar-${Date.now()}-1`;
    const second = `ya29.sidecar-${Date.now()}-2`;
    vtx.acceptedKeys.add(first);
    vtx.acceptedKeys.add(second);
    writeFileSync(join(dir, 'token'), first);
    const { gw, apiKey } = await gateway({ type: 'access_token', token: `\${file:${join(dir, 'token')}}`, refresh_interval: '200ms' });
    try {
      const res = await generate(gw, apiKey);
      assert.equal(res.status, 200, await res.clone().text());
      await res.arrayBuffer();
      assert.equal(vtx.last.headers.authorization, `Bearer ${first}`);
      writeFileSync(join(dir, 'token'), second);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && vtx.last.headers.authorization !== `Bearer ${second}`) {
        const r = await generate(gw, apiKey);
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        await sleep(100);
      }
      assert.equal(vtx.last.headers.authorization, `Bearer ${second}`);
    } finally {
      vtx.acceptedKeys.delete(first);
      vtx.acceptedKeys.delete(second);
      await gw.close();
    }
  });

  test('a revoked token: 401 with Google\'s challenge, a new token, and the request retried once', async () => {
    const { gw, apiKey } = await gateway({ type: 'service_account', key_file: 'sa.json' });
    try {
      // Past the cache's invalidate cool-down (2 s after a fetch).
      await sleep(2100);
      const first = oauth.minted.at(-1)!.token;
      GOOGLE_TOKENS.delete(first);
      vtx.reset();
      const res = await generate(gw, apiKey);
      assert.equal(res.status, 200, await res.clone().text());
      await res.arrayBuffer();
      assert.equal(vtx.requests.length, 2);
      assert.notEqual(oauth.minted.at(-1)!.token, first);
      assert.equal(vtx.last.headers.authorization, `Bearer ${oauth.minted.at(-1)!.token}`);
    } finally {
      await gw.close();
    }
  });

  test('a key the token endpoint does not know: startup fails, without the private key in the message', async () => {
    const other = new GoogleOAuthEmulator().createServiceAccount(EMAIL); // same account, another key pair
    process.env['VTX_SA_WRONG_KEY'] = JSON.stringify({ ...other, token_uri: oauth.tokenUri });
    try {
      await assert.rejects(gateway({ type: 'service_account', key: '${env:VTX_SA_WRONG_KEY}' }), (err: Error) => {
        assert.match(err.message, /invalid_grant/);
        const body = other.private_key.split('\n').filter((l) => l && !l.startsWith('-----'));
        for (const line of body) assert.ok(!err.message.includes(line), 'private key in the message');
        assert.ok(!err.message.includes('PRIVATE KEY'));
        return true;
      });
    } finally {
      delete process.env['VTX_SA_WRONG_KEY'];
    }
  });
});
