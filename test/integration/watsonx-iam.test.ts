import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DEFAULT_API_VERSION } from '../../src/providers/watsonx/index.js';
import { sleep } from '../emulators/base.js';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { WatsonxEmulator } from '../emulators/watsonx.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * watsonx with tokens the gateway exchanges at IBM IAM (the IAM emulator, reached through
 * `iam_url`): API keys and trusted profiles, refresh before expiry, IAM outages and expiry.
 * The watsonx emulator accepts exactly the tokens IAM minted and has not yet expired.
 */

const API_KEY = 'ibm-cloud-api-key-0123456789abcdefghij';
const CR_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.compute-resource-token-for-gateway';
const PROFILE = 'Profile-8d3c6f2e-1111-4a4b';
const PROJECT = '8d3c6f2e-1111-4a4b-9c9d-0123456789ab';
const MODEL = 'ibm/granite-3-8b-instruct';
const CHAT = JSON.stringify({ model_id: MODEL, messages: [{ role: 'user', content: 'hi' }] });

describe('watsonx with IAM-exchanged tokens (api_key, trusted_profile)', () => {
  let wx: WatsonxEmulator;
  let iam: IbmIamEmulator;

  before(async () => {
    wx = await new WatsonxEmulator([], { projects: [PROJECT] }).start();
    wx.recording = false;
    iam = await new IbmIamEmulator({ apiKeys: [API_KEY], profiles: { [PROFILE]: [CR_TOKEN] }, validTokens: wx.acceptedKeys }).start();
    process.env['WX_IAM_TEST_API_KEY'] = API_KEY;
  });
  after(async () => {
    await Promise.all([wx.close(), iam.close()]);
  });

  /** A gateway with one api_key and one trusted_profile instance; IAM tokens live `ttlSeconds`. */
  async function gateway(ttlSeconds: number, refreshWindow?: string): Promise<{ gw: TestGateway; key: string }> {
    iam.ttlSeconds = ttlSeconds;
    iam.reset();
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-wx-iam-'));
    writeFileSync(join(dir, 'cr-token'), CR_TOKEN);
    const common = { type: 'watsonx', region: 'us-south', endpoint: wx.url, project_id: PROJECT, ...(refreshWindow ? { credential_refresh_window: refreshWindow } : {}) };
    const gw = await startGateway({
      instances: {
        wxkey: { ...common, authentication: { type: 'api_key', api_key: '${env:WX_IAM_TEST_API_KEY}', iam_url: iam.url } },
        wxprof: { ...common, authentication: { type: 'trusted_profile', profile_id: PROFILE, cr_token_file: 'cr-token', iam_url: iam.url } },
      },
    }, { dir });
    return { gw, key: await gw.key({ name: 'wx-iam' }) };
  }

  const transparent = (gw: TestGateway, key: string, instance: string) =>
    fetch(`${gw.url}/transparent/${instance}/ml/v1/text/chat?version=${DEFAULT_API_VERSION}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: CHAT });

  /** Polls (up to 4 s: the cache retries with backoff) until a request through `wxkey` succeeds; its last status. */
  async function statusOnceIamIsBack(gw: TestGateway, key: string): Promise<number> {
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await sleep(100);
      const again = await transparent(gw, key, 'wxkey');
      status = again.status;
      await again.arrayBuffer();
    }
    return status;
  }

  test('transparent and protocol mode work with exchanged tokens; refreshes are counted', async () => {
    const { gw, key } = await gateway(3600);
    try {
      // Both instances primed at startup: one exchange each.
      assert.deepEqual(iam.exchanges, { api_key: 1, cr_token: 1 });
      for (const instance of ['wxkey', 'wxprof']) {
        const res = await transparent(gw, key, instance);
        assert.equal(res.status, 200, await res.clone().text());
        const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
        assert.equal(body.choices[0]?.message.content, WatsonxEmulator.REPLY.join(''));
        const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/${instance}`, maxRetries: 0 });
        const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(chat.choices[0]?.message.content, WatsonxEmulator.REPLY.join(''));
      }
      // Tokens are cached: four requests, still one exchange each.
      assert.deepEqual(iam.exchanges, { api_key: 1, cr_token: 1 });
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="watsonx",method="api_key",status="success"\} 1\b/);
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="watsonx",method="trusted_profile",status="success"\} 1\b/);
      await gw.settle();
      const logs = gw.logs.join('\n');
      for (const token of iam.minted) assert.ok(!logs.includes(token), 'no log shows an access token');
      assert.ok(!logs.includes(API_KEY) && !logs.includes(CR_TOKEN));
    } finally {
      await gw.close();
    }
  });

  test('tokens are refreshed before expiry under concurrent load: no failure, one IAM call per refresh', async () => {
    // Tokens live 3 s and are refreshed 2 s before expiry: about once a second.
    const { gw, key } = await gateway(3, '2s');
    try {
      const started = Date.now();
      const statuses: number[] = [];
      while (Date.now() - started < 3500) {
        const batch = await Promise.all(Array.from({ length: 4 }, () => transparent(gw, key, 'wxkey')));
        for (const r of batch) {
          statuses.push(r.status);
          await r.arrayBuffer();
        }
        await sleep(100);
      }
      assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses.filter((s) => s !== 200)));
      const elapsed = (Date.now() - started) / 1000;
      // The first token outlived the test start; every later exchange is one scheduled refresh.
      assert.ok(iam.exchanges.api_key >= 3, `refreshed ${iam.exchanges.api_key} times`);
      assert.ok(iam.exchanges.api_key <= Math.ceil(elapsed) + 2, `${iam.exchanges.api_key} exchanges in ${elapsed}s: more than one per refresh`);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`llmproxy_credential_refresh_total\\{provider="watsonx",method="api_key",status="success"\\} ${iam.exchanges.api_key}\\b`));
    } finally {
      await gw.close();
    }
  });

  test('IAM down while the token is valid: requests keep working; failures are counted', async () => {
    const { gw, key } = await gateway(4, '3s');
    try {
      iam.setDown('reset');
      const started = Date.now();
      while (Date.now() - started < 2000) {
        const res = await transparent(gw, key, 'wxkey');
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        await sleep(150);
      }
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="watsonx",method="api_key",status="failure"\} [1-9]/);
    } finally {
      iam.setDown(false);
      await gw.close();
    }
  });

  test('token expired and IAM down: 503 credential_unavailable, no secret in the answer; back once IAM is', async () => {
    const { gw, key } = await gateway(1, '500ms');
    try {
      iam.setDown('unavailable');
      await sleep(1300);
      const res = await transparent(gw, key, 'wxkey');
      const text = await res.text();
      assert.equal(res.status, 503, text);
      assert.match(text, /credential_unavailable/);
      for (const secret of [API_KEY, CR_TOKEN, ...iam.minted]) assert.ok(!text.includes(secret));
      const logs = gw.logs.join('\n');
      assert.ok(!logs.includes(API_KEY));
      iam.setDown(false);
      // The cache retries with backoff (1 s, then 2 s...).
      assert.equal(await statusOnceIamIsBack(gw, key), 200);
    } finally {
      iam.setDown(false);
      await gw.close();
    }
  });

  test('watsonx rejects the token (401) while the cache thinks it fresh: refreshed and retried once', async () => {
    const { gw, key } = await gateway(3600);
    try {
      await sleep(2100); // past the cache's invalidate cooldown
      wx.acceptedKeys.clear(); // IBM revoked or expired it early
      const before = iam.exchanges.api_key;
      const res = await transparent(gw, key, 'wxkey');
      assert.equal(res.status, 200, await res.clone().text());
      await res.arrayBuffer();
      assert.equal(iam.exchanges.api_key, before + 1);
    } finally {
      await gw.close();
    }
  });

  test('watsonx rejects the token while IAM is down: 503 credential_unavailable (no usable credential), not 502', async () => {
    const { gw, key } = await gateway(3600);
    try {
      await sleep(2100); // past the cache's invalidate cooldown
      iam.setDown('unavailable');
      wx.acceptedKeys.clear(); // the token in hand is refused, and no new one can be had
      const res = await transparent(gw, key, 'wxkey');
      const text = await res.text();
      assert.equal(res.status, 503, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'credential_unavailable');
      for (const secret of [API_KEY, ...iam.minted]) assert.ok(!text.includes(secret));
      // IAM back: the next request exchanges a new token and succeeds.
      iam.setDown(false);
      assert.equal(await statusOnceIamIsBack(gw, key), 200);
    } finally {
      iam.setDown(false);
      await gw.close();
    }
  });

  test('a wrong API key: startup reports IAM\'s code, never the key', async () => {
    process.env['WX_IAM_TEST_WRONG_KEY'] = 'wrong-ibm-key-abcdefghijklmnopqrstuvwxyz';
    iam.reset();
    // The first exchange happens before the gateway listens: a refused key stops startup.
    await assert.rejects(
      startGateway({
        instances: { wxbad: { type: 'watsonx', region: 'us-south', endpoint: wx.url, project_id: PROJECT, authentication: { type: 'api_key', api_key: '${env:WX_IAM_TEST_WRONG_KEY}', iam_url: iam.url } } },
      }),
      (err: Error) => {
        assert.equal(err.name, 'StartupError');
        assert.match(err.message, /instances\.wxbad \(api_key\): .*BXNIM0415E/);
        assert.ok(!err.message.includes('wrong-ibm-key-abcdefghijklmnopqrstuvwxyz'));
        return true;
      },
    );
  });
});
