import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSecretRef, type SecretRef } from './ref.js';
import { SECRET_STORES } from './registry.js';
import { DEFAULT_K8S_TOKEN_FILE, fieldFromKvAnswer, parseVaultPath, VaultError, vaultSettingsFromEnv, vaultStore } from './vault.js';

function ref(path: string): SecretRef {
  const r = parseSecretRef(`\${vault:${path}}`);
  assert.ok(r, path);
  return r;
}

const SECRET = 'sk-vault-unit-0000000000000000dddd';

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof VaultError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    assert.ok(!err.message.includes(SECRET), 'a value reached an error');
    return true;
  });
}

describe('vault store: references', () => {
  test('is the "vault" scheme and is registered', () => {
    assert.equal(vaultStore.scheme, 'vault');
    assert.equal(SECRET_STORES.get('vault'), vaultStore);
  });

  test('splits path and field', () => {
    assert.deepEqual(parseVaultPath(ref('secret/data/openai/api-key#key')), { path: 'secret/data/openai/api-key', field: 'key' });
    assert.deepEqual(parseVaultPath(ref('/kv/openai/#api_key')), { path: 'kv/openai', field: 'api_key' });
  });

  for (const bad of ['secret/data/openai', 'secret/data/openai#', '#key']) {
    test(`refuses ${bad}`, () => throwsCode(() => parseVaultPath(ref(bad)), 'VAULT_BAD_REFERENCE', /vault:/));
  }
});

describe('vault store: KV answers', () => {
  const table: Array<{ name: string; body: unknown; want?: string; code?: string }> = [
    {
      name: 'KV v2: data.data beside data.metadata',
      body: { lease_duration: 0, data: { data: { key: SECRET, other: 'x' }, metadata: { version: 3, destroyed: false } } },
      want: SECRET,
    },
    { name: 'KV v1: fields at data', body: { lease_duration: 2764800, data: { key: SECRET } }, want: SECRET },
    // A v1 secret that happens to have a field named "data" is not mistaken for v2.
    { name: 'KV v1 with a field called data', body: { data: { data: { key: 'nested' }, key: SECRET } }, want: SECRET },
    { name: 'KV v2 missing field', body: { data: { data: { other: SECRET }, metadata: { version: 1 } } }, code: 'VAULT_FIELD_MISSING' },
    { name: 'KV v1 missing field', body: { data: { other: SECRET } }, code: 'VAULT_FIELD_MISSING' },
    { name: 'non-string field', body: { data: { key: 42 } }, code: 'VAULT_FIELD_MISSING' },
    { name: 'empty field', body: { data: { key: '' } }, code: 'VAULT_FIELD_MISSING' },
    { name: 'KV v2 deleted version (data null)', body: { data: { data: null, metadata: { version: 2, deletion_time: 'x' } } }, code: 'VAULT_FIELD_MISSING' },
    { name: 'no data', body: { errors: [] }, code: 'VAULT_BAD_ANSWER' },
  ];
  for (const row of table) {
    test(row.name, () => {
      const r = ref('secret/data/openai#key');
      if (row.want !== undefined) assert.equal(fieldFromKvAnswer(row.body, 'key', r), row.want);
      else throwsCode(() => fieldFromKvAnswer(row.body, 'key', r), row.code!, /\$\{vault:secret\/data\/openai#key\}/);
    });
  }
});

describe('vault store: auth selection from the environment', () => {
  const addr = { VAULT_ADDR: 'http://127.0.0.1:8200/' };

  test('token auth, with namespace', () => {
    assert.deepEqual(vaultSettingsFromEnv({ ...addr, VAULT_TOKEN: 'hvs.x', VAULT_NAMESPACE: 'team-a' }), {
      addr: 'http://127.0.0.1:8200',
      namespace: 'team-a',
      auth: { method: 'token', token: 'hvs.x' },
    });
  });

  test('Kubernetes auth with defaults', () => {
    assert.deepEqual(vaultSettingsFromEnv({ ...addr, VAULT_K8S_ROLE: 'llmproxy' }).auth, { method: 'kubernetes', role: 'llmproxy', jwtFile: DEFAULT_K8S_TOKEN_FILE, mount: 'kubernetes' });
  });

  test('Kubernetes auth with a custom mount and token file', () => {
    assert.deepEqual(vaultSettingsFromEnv({ ...addr, VAULT_K8S_ROLE: 'r', VAULT_K8S_MOUNT: 'k8s-east', VAULT_K8S_TOKEN_FILE: '/t' }).auth, { method: 'kubernetes', role: 'r', jwtFile: '/t', mount: 'k8s-east' });
  });

  test('AppRole with a secret ID or a secret ID file', () => {
    assert.deepEqual(vaultSettingsFromEnv({ ...addr, VAULT_ROLE_ID: 'rid', VAULT_SECRET_ID: 'sid' }).auth, { method: 'approle', roleId: 'rid', secretId: { value: 'sid' } });
    assert.deepEqual(vaultSettingsFromEnv({ ...addr, VAULT_ROLE_ID: 'rid', VAULT_SECRET_ID_FILE: '/s' }).auth, { method: 'approle', roleId: 'rid', secretId: { file: '/s' } });
  });

  const refused: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
    ['no address', { VAULT_TOKEN: 'hvs.x' }, /VAULT_ADDR is not set/],
    ['an address that is not http(s)', { VAULT_ADDR: 'vault:8200', VAULT_TOKEN: 'hvs.x' }, /http\(s\)/],
    ['no auth method', { ...addr }, /no Vault auth method/],
    ['an empty token counts as unset', { ...addr, VAULT_TOKEN: '' }, /no Vault auth method/],
    ['two methods', { ...addr, VAULT_TOKEN: 'hvs.x', VAULT_K8S_ROLE: 'r' }, /token, kubernetes/],
    ['AppRole without a secret ID', { ...addr, VAULT_ROLE_ID: 'rid' }, /VAULT_SECRET_ID/],
    ['AppRole with both secret ID forms', { ...addr, VAULT_ROLE_ID: 'rid', VAULT_SECRET_ID: 's', VAULT_SECRET_ID_FILE: '/s' }, /not both/],
  ];
  for (const [name, env, message] of refused) {
    test(`refuses ${name}`, () => throwsCode(() => vaultSettingsFromEnv(env), 'VAULT_CONFIG', message));
  }
});
