import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AzureKvError, parseAzureKvPath } from './azure-kv.js';
import { parseSecretRef } from './ref.js';
import { SECRET_STORES } from './registry.js';

describe('azure-kv references', () => {
  test('is registered', () => {
    assert.equal(SECRET_STORES.get('azure-kv')?.scheme, 'azure-kv');
  });

  test('splits the vault URL and the secret name', () => {
    assert.deepEqual(parseAzureKvPath(parseSecretRef('${azure-kv:https://myvault.vault.azure.net/openai-key}')!), { vaultUrl: 'https://myvault.vault.azure.net', name: 'openai-key' });
    assert.deepEqual(parseAzureKvPath(parseSecretRef('${azure-kv:https://127.0.0.1:8443/k1/}')!), { vaultUrl: 'https://127.0.0.1:8443', name: 'k1' });
  });

  for (const bad of ['${azure-kv:openai-key}', '${azure-kv:http://myvault.vault.azure.net/k}', '${azure-kv:https://myvault.vault.azure.net/}', '${azure-kv:https://myvault.vault.azure.net/a/b}', '${azure-kv:https://myvault.vault.azure.net/bad_name}', '${azure-kv:https://myvault.vault.azure.net/k?x=1}']) {
    test(`${bad} is refused, naming the reference`, () => {
      assert.throws(() => parseAzureKvPath(parseSecretRef(bad)!), (err: unknown) => err instanceof AzureKvError && err.code === 'AZURE_KV_BAD_REFERENCE' && err.message.startsWith(bad));
    });
  }
});
