import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import { EntraEmulator } from '../emulators/entra.js';
import { startGateway } from '../helpers/gateway.js';

/**
 * Entra ID authentication of Azure OpenAI instances through @azure/identity against the Entra
 * emulator (https, self-signed: @azure/identity refuses an http authority host, and Node 20
 * cannot trust a CA at run time, so this process skips TLS verification while it runs).
 */
describe('Azure OpenAI with Entra ID tokens', () => {
  let entra: EntraEmulator;
  let az: AzureOpenAIEmulator;
  const saved = { tls: process.env['NODE_TLS_REJECT_UNAUTHORIZED'], host: process.env['AZURE_AUTHORITY_HOST'] };

  before(async () => {
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    entra = await new EntraEmulator().start();
    entra.addApp('tenant-1', 'client-1', { secret: 'entra-secret-value-1' });
    az = await new AzureOpenAIEmulator([], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
    process.env['AZURE_AUTHORITY_HOST'] = entra.url;
    process.env['AZ_TEST_CLIENT_SECRET'] = 'entra-secret-value-1';
  });
  after(async () => {
    await Promise.all([entra.close(), az.close()]);
    for (const [k, v] of [['NODE_TLS_REJECT_UNAUTHORIZED', saved.tls], ['AZURE_AUTHORITY_HOST', saved.host]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('client_secret: protocol and transparent requests carry a Bearer token, no api-key', async () => {
    const gw = await startGateway({
      instances: {
        az: {
          type: 'azure',
          endpoint: az.url,
          deployments: { 'gpt-4o': 'prod-gpt4o' },
          authentication: { type: 'client_secret', tenant_id: 'tenant-1', client_id: 'client-1', client_secret: '${env:AZ_TEST_CLIENT_SECRET}' },
        },
      },
    });
    try {
      const key = await gw.key({ name: 'az' });
      const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const protocol = await fetch(`${gw.url}/openai/az/chat/completions`, { method: 'POST', headers, body });
      assert.equal(protocol.status, 200, await protocol.clone().text());
      await protocol.arrayBuffer();
      const transparent = await fetch(`${gw.url}/transparent/az/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21`, { method: 'POST', headers: { 'api-key': key, 'content-type': 'application/json' }, body });
      assert.equal(transparent.status, 200, await transparent.clone().text());
      await transparent.arrayBuffer();
      assert.equal(az.authSeen.apiKey, 0);
      assert.ok(az.authSeen.bearer >= 2);
      assert.equal(entra.calls['client_secret'], 1, 'one token, cached');
    } finally {
      await gw.close();
    }
  });
});
