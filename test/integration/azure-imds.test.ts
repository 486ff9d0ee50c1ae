import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AzureManagedIdentityEmulator } from '../emulators/azure-imds.js';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import { sleep } from '../emulators/base.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Managed identity of Azure OpenAI instances through Azure IMDS (VMs, scale sets, AKS nodes),
 * reached at the managed identity emulator through `AZURE_POD_IDENTITY_AUTHORITY_HOST`, the
 * override MSAL honours for the IMDS host. A file of its own: MSAL picks its managed identity
 * source once per process, and azure-identity.test.ts uses the App Service endpoint.
 */

const DEPLOYMENT_PATH = '/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21';
const BODY = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
const USER_ASSIGNED = '3d9a7b21-6c4e-4f10-9e2d-5a6b7c8d9e0f';

describe('Azure OpenAI with managed identity tokens from IMDS', () => {
  let mi: AzureManagedIdentityEmulator;
  let az: AzureOpenAIEmulator;
  const names = ['AZURE_POD_IDENTITY_AUTHORITY_HOST', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_ID'] as const;
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));

  before(async () => {
    mi = await new AzureManagedIdentityEmulator().start();
    mi.addUserAssigned(USER_ASSIGNED);
    az = await new AzureOpenAIEmulator([], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
    for (const n of names) delete process.env[n];
    process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = mi.url;
  });
  after(async () => {
    await Promise.all([mi.close(), az.close()]);
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  });

  async function gateway(auth: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ gw: TestGateway; key: string }> {
    const gw = await startGateway({ instances: { az: { type: 'azure', endpoint: az.url, authentication: auth, ...extra } } });
    return { gw, key: await gw.key({ name: 'az-imds' }) };
  }

  async function transparent(gw: TestGateway, key: string): Promise<number> {
    const res = await fetch(`${gw.url}/transparent/az${DEPLOYMENT_PATH}`, { method: 'POST', headers: { 'api-key': key, 'content-type': 'application/json' }, body: BODY });
    await res.arrayBuffer();
    return res.status;
  }

  test('system-assigned: an IMDS token for the Cognitive Services resource is sent as Bearer', async () => {
    const { gw, key } = await gateway({ type: 'managed_identity' });
    try {
      assert.equal(mi.calls['imds:system'], 1);
      const minted = mi.minted.at(-1)!;
      assert.equal(minted.endpoint, 'imds');
      assert.equal(minted.resource, 'https://cognitiveservices.azure.com');
      assert.equal(await transparent(gw, key), 200);
      assert.equal(az.last.headers.authorization, `Bearer ${minted.token}`);
      assert.equal(mi.rejected['metadata_header'] ?? 0, 0);
    } finally {
      await gw.close();
    }
  });

  test('user-assigned by client_id; an identity the VM does not have fails startup', async () => {
    const { gw, key } = await gateway({ type: 'managed_identity', client_id: USER_ASSIGNED });
    try {
      assert.equal(mi.calls[`imds:${USER_ASSIGNED}`], 1);
      assert.equal(await transparent(gw, key), 200);
      assert.equal(az.last.headers.authorization, `Bearer ${mi.minted.at(-1)!.token}`);
    } finally {
      await gw.close();
    }
    const refused = mi.rejected['identity'] ?? 0;
    await assert.rejects(gateway({ type: 'managed_identity', client_id: '11111111-2222-3333-4444-555555555555' }), /managed_identity/);
    assert.ok((mi.rejected['identity'] ?? 0) > refused, 'IMDS was asked and refused the identity');
  });

  test('short-lived IMDS tokens are refreshed before expiry (MSAL\'s own cache does not hold them back)', async () => {
    // MSAL keeps managed identity tokens in a process-wide cache and serves them until five
    // minutes before expiry, so a token of the earlier tests would be served again: this test
    // uses an identity of its own, whose every token is short-lived.
    const identity = '9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a';
    mi.addUserAssigned(identity);
    mi.ttlSeconds = 3;
    const before = mi.calls[`imds:${identity}`] ?? 0;
    const { gw, key } = await gateway({ type: 'managed_identity', client_id: identity }, { credential_refresh_window: '2s' });
    try {
      const started = Date.now();
      while (Date.now() - started < 3500) {
        assert.equal(await transparent(gw, key), 200);
        await sleep(150);
      }
      const fetched = (mi.calls[`imds:${identity}`] ?? 0) - before;
      assert.ok(fetched >= 3, `refreshed ${fetched - 1} times`);
      assert.ok(fetched <= 7, `${fetched} IMDS calls in 3.5 s`);
      const mine = mi.minted.filter((m) => m.identity === identity).map((m) => `Bearer ${m.token}`);
      assert.ok(mine.includes(String(az.last.headers.authorization)), 'the last request carried a token of this identity');
    } finally {
      mi.ttlSeconds = 3600;
      await gw.close();
    }
  });
});
