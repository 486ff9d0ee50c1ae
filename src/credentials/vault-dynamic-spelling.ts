/**
 * The design seed writes a Vault-held provider key as its own authentication type:
 *
 * ```yaml
 * authentication: { type: vault_dynamic, vault_path: secret/openai/api-key, refresh_interval: 1h }
 * ```
 *
 * That block cannot be mapped silently: `vault_path` is a `vault kv` CLI path (the KV v2 API
 * path has `data/` after the mount, which only a lookup of the mount can tell), it names no field,
 * and "dynamic" may mean a KV secret re-read on an interval or a leased engine secret. So the
 * config load refuses it and the error spells out the block that replaces it, built from the
 * block's own path and interval.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The config error for a `vault_dynamic` block, or undefined when `block` is not one. `accepted`
 * is the set of authentication types the instance's provider takes: the replacement is written in
 * one of them (`access_keys` for AWS keys from Vault's AWS engine, else `api_key`).
 */
export function vaultDynamicProblem(accepted: ReadonlySet<unknown>, block: unknown): string | undefined {
  if (!isObject(block) || block['type'] !== 'vault_dynamic') return undefined;
  const path = typeof block['vault_path'] === 'string' && block['vault_path'].trim() !== '' ? block['vault_path'].trim().replace(/^\/+|\/+$/g, '') : undefined;
  const field = ['vault_field', 'field', 'key'].map((k) => block[k]).find((v): v is string => typeof v === 'string' && v !== '') ?? 'key';
  const interval = typeof block['refresh_interval'] === 'string' ? `, refresh_interval: ${block['refresh_interval']}` : '';
  const lead = '"vault_dynamic" is not an authentication type: a Vault secret is a reference inside the provider\'s own type.';
  if (accepted.has('access_keys')) {
    const source = path ?? 'aws/creds/<role>';
    return (
      `${lead} For AWS keys from Vault's AWS secrets engine (one lease for both keys, renewed and revoked by the gateway) write ` +
      `{ type: access_keys, access_key_id: "\${vault-dynamic:${source}#access_key}", secret_access_key: "\${vault-dynamic:${source}#secret_key}" }`
    );
  }
  if (!accepted.has('api_key')) {
    return `${lead} Write one of this provider's types (${[...accepted].join(', ')}) with a "\${vault:<path>#<field>}" or "\${vault-dynamic:<engine path>#<field>}" reference in its secret field`;
  }
  const slash = path?.indexOf('/') ?? -1;
  const kv2 = path === undefined ? 'secret/data/<path>' : slash < 0 || path.includes('/data/') ? path : `${path.slice(0, slash)}/data${path.slice(slash)}`;
  const kv1 = path ?? 'secret/<path>';
  return (
    `${lead} For a key kept in Vault KV (vault kv put ${kv1} ${field}=...) write ` +
    `{ type: api_key, api_key: "\${vault:${kv2}#${field}}"${interval} } (KV v2; for a KV v1 mount "\${vault:${kv1}#${field}}"); ` +
    `for a secret a Vault engine issues with a lease use "\${vault-dynamic:<engine path>#<field>}"`
  );
}
