import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { VaultEmulator } from '../../test/emulators/vault.js';
import { readSecretOnce } from './read-once.js';
import { parseSecretRef } from './ref.js';
import { parseDynamicPath, vaultDynamicStore } from './vault-dynamic.js';
import { VaultClient, VaultError } from './vault.js';

describe('${vault-dynamic:...} references', () => {
  test('the source is the engine path, shared by every field of it', () => {
    assert.deepEqual(parseDynamicPath(parseSecretRef('${vault-dynamic:aws/creds/bedrock#access_key}')!), { source: 'aws/creds/bedrock', field: 'access_key' });
    assert.deepEqual(parseDynamicPath(parseSecretRef('${vault-dynamic:/aws/creds/bedrock/#secret_key}')!), { source: 'aws/creds/bedrock', field: 'secret_key' });
    for (const bad of ['${vault-dynamic:aws/creds/bedrock}', '${vault-dynamic:#access_key}', '${vault-dynamic:aws/creds/bedrock#}']) {
      assert.match(vaultDynamicStore.validate(parseSecretRef(bad)!) ?? '', /expected \$\{vault-dynamic:<engine path>#<field>\}/, bad);
    }
  });

  test('a setting read once at start-up refuses a dynamic secret, naming the field (a lease nobody would renew or revoke)', async () => {
    await assert.rejects(
      readSecretOnce('auth.totp.encryption_key', '${vault-dynamic:database/creds/app#password}', tmpdir()),
      /^Error: auth\.totp\.encryption_key: cannot resolve \$\{vault-dynamic:database\/creds\/app#password\}: .*can stand only in an instance's authentication/,
    );
  });
});

describe('VaultClient leases', () => {
  let vault: VaultEmulator;
  let client: VaultClient;
  before(async () => {
    vault = await new VaultEmulator().start();
    vault.addToken('root');
    vault.write('secret', 'openai', { key: 'sk-kv-value-000000000000' });
    vault.dynamicPaths.set('database/creds/app', { ttlSeconds: 60, maxTtlSeconds: 90, mint: () => ({ username: 'v-app', password: 'p-123456789' }) });
    client = new VaultClient({ addr: vault.url, namespace: undefined, auth: { method: 'token', token: 'root' } });
  });
  after(() => vault.close());

  test('issue, renew (capped by the max TTL), revoke', async () => {
    const lease = await client.issueLease('database/creds/app');
    assert.deepEqual(lease.fields, { username: 'v-app', password: 'p-123456789' });
    assert.equal(lease.durationSeconds, 60);
    assert.equal(lease.renewable, true);
    const renewed = await client.renewLease(lease.id, 60);
    assert.ok(renewed.durationSeconds <= 60 && renewed.durationSeconds >= 59, `${renewed.durationSeconds}`);
    await client.revokeLease(lease.id);
    assert.equal(vault.leases[0]!.revoked, 'api');
    const refused = await client.renewLease(lease.id, 60).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof VaultError && refused.status === 400, String(refused));
    assert.match(refused.message, /lease renewal refused: Vault answered 400 \(lease not found\)/);
    assert.ok(!refused.message.includes(lease.id), 'the lease id stays out of errors');
  });

  test('a KV path has no lease: the error says which reference form reads it', async () => {
    await assert.rejects(client.issueLease('secret/data/openai'), /secret\/data\/openai: Vault's answer has no lease .*KV secrets are read with \$\{vault:\.\.\.\}/);
  });
});
