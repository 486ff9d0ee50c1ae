import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AwsAccounts, webIdentityToken } from '../emulators/aws-accounts.js';
import { StsEmulator } from '../emulators/aws-sts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { sleep } from '../emulators/base.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The credential cache under real conditions: web identity credentials from the STS emulator
 * with lifetimes of a few seconds, so refreshes, outages and expiry happen within a test.
 */

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const CONVERSE = `/model/${encodeURIComponent(MODEL)}/converse`;
const BODY = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] });

describe('Bedrock credentials: refresh, outages and expiry', () => {
  const accounts = new AwsAccounts();
  const token = webIdentityToken();
  let bedrock: BedrockEmulator;
  let sts: StsEmulator;

  before(async () => {
    accounts.addRole('gateway', { webIdentityTokens: [token] });
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    bedrock.recording = false;
    sts = await new StsEmulator({ accounts }).start();
    process.env['AWS_ENDPOINT_URL_STS'] = sts.url;
  });
  after(async () => {
    await Promise.all([bedrock.close(), sts.close()]);
  });

  /** A gateway whose only instance uses web identity credentials living `ttlSeconds`. */
  async function gateway(ttlSeconds: number, refreshWindow: string): Promise<{ gw: TestGateway; key: string }> {
    sts.ttlSeconds = ttlSeconds;
    sts.reset();
    await sts.setDown(false);
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-creds-'));
    writeFileSync(join(dir, 'token'), token);
    const gw = await startGateway({
      instances: {
        bedrock: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: bedrock.url,
          control_endpoint: bedrock.url,
          credential_refresh_window: refreshWindow,
          authentication: { type: 'web_identity', role_arn: `arn:aws:iam::${accounts.accountId}:role/gateway`, token_file: 'token' },
        },
      },
    }, { dir });
    return { gw, key: await gw.key({ name: 'load' }) };
  }

  function converse(gw: TestGateway, key: string): Promise<Response> {
    return fetch(gw.url + CONVERSE, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: BODY });
  }

  test('credentials expiring during concurrent load are refreshed ahead of time: no request fails, one STS call per refresh', async () => {
    // Credentials live 4 s and are refreshed in their last 3 s: a refresh about every second.
    const { gw, key } = await gateway(4, '3s');
    try {
      const statuses = new Map<number, number>();
      const deadline = Date.now() + 3500;
      let sent = 0;
      const worker = async () => {
        while (Date.now() < deadline && sent < 5000) {
          sent++;
          const res = await converse(gw, key);
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.deepEqual([...statuses.keys()], [200], `every request succeeds: ${JSON.stringify([...statuses])}`);
      const stsCalls = sts.calls['AssumeRoleWithWebIdentity'] ?? 0;
      assert.ok(stsCalls >= 3, `refreshes happened during the load (${stsCalls} STS calls)`);
      // About one refresh a second, however many requests were waiting: no stampede.
      assert.ok(stsCalls <= 7, `${stsCalls} STS calls in 3.5 s`);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`llmproxy_credential_refresh_total\\{provider="bedrock",method="web_identity",status="success"\\} ${stsCalls}\\b`));
      assert.equal(bedrock.authFailures['ExpiredTokenException'] ?? 0, 0);
    } finally {
      await gw.close();
    }
  });

  test('STS down while the cached credential is valid: requests keep working; once it expires, a clear 503 without secrets; STS back, service back', async () => {
    const { gw, key } = await gateway(3, '2s');
    try {
      const issued = accounts.issued[accounts.issued.length - 1]!;
      await sts.setDown('refuse');
      // Inside the refresh window, refreshes fail; the valid credential is still used.
      await sleep(1200);
      const during = await converse(gw, key);
      assert.equal(during.status, 200);
      await during.arrayBuffer();

      // Past its expiry there is nothing left to sign with.
      await sleep(Math.max(0, issued.expiration.getTime() - Date.now()) + 100);
      const expired = await converse(gw, key);
      assert.equal(expired.status, 503);
      const text = await expired.text();
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'credential_unavailable');
      for (const secret of [issued.secretAccessKey, issued.sessionToken, token]) {
        assert.ok(!text.includes(secret), 'no credential in the error');
        assert.ok(!gw.logs.join('\n').includes(secret), 'no credential in the logs');
      }
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="bedrock",method="web_identity",status="failure"\} [1-9]/);

      await sts.setDown(false);
      // The next attempt comes after the failure backoff (at most a few seconds here).
      const recovered = Date.now() + 8000;
      let status = 0;
      while (Date.now() < recovered) {
        const res = await converse(gw, key);
        await res.arrayBuffer();
        status = res.status;
        if (status === 200) break;
        await sleep(250);
      }
      assert.equal(status, 200, 'service resumes once STS is back');
    } finally {
      await gw.close();
    }
  });

  test('a 403 ExpiredTokenException from Bedrock: the credential is refreshed and the request retried once, invisibly to the client', async () => {
    const { gw, key } = await gateway(3600, '5m');
    try {
      const before = sts.calls['AssumeRoleWithWebIdentity'] ?? 0;
      // The invalidation cooldown (2 s) protects STS from a burst of 403s; step past it.
      await sleep(2100);
      // AWS ends the session early (the gateway still believes it has an hour left).
      const current = accounts.issued[accounts.issued.length - 1]!;
      current.expiration = new Date(Date.now() - 1000);
      bedrock.reset();
      const res = await converse(gw, key);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(bedrock.authFailures['ExpiredTokenException'], 1);
      assert.equal((sts.calls['AssumeRoleWithWebIdentity'] ?? 0) - before, 1, 'one refresh');
    } finally {
      await gw.close();
    }
  });
});
