/**
 * `${vault-dynamic:<path>#<field>}`: one field of a HashiCorp Vault dynamic secret, a
 * credential a secrets engine issues on each read with a lease (`aws/creds/<role>`,
 * `aws/sts/<role>`, `database/creds/<role>`, ...). Every reference naming the same path shares
 * one read and its lease (lease.ts), so
 *
 * ```yaml
 * authentication:
 *   type: access_keys
 *   access_key_id: "${vault-dynamic:aws/creds/bedrock#access_key}"
 *   secret_access_key: "${vault-dynamic:aws/creds/bedrock#secret_key}"
 * ```
 *
 * signs with a key id and a secret from the same lease, before and after it is replaced. The
 * gateway renews the lease at two thirds of its duration, reads a new one when Vault refuses
 * the renewal or caps it at the role's max TTL, and revokes it at shutdown. Vault is reached and
 * logged in to exactly as for `${vault:...}` (VAULT_ADDR, VAULT_TOKEN / Kubernetes / AppRole
 * auth; see vault.ts); the token's policy needs `read` on the path and `update` on
 * `sys/leases/renew` and `sys/leases/revoke`.
 */
import { parseProblem, type SecretRef } from './ref.js';
import type { LeasingSecretStore } from './types.js';
import { sharedVaultClient, VaultError } from './vault.js';

/** Splits `aws/creds/bedrock#access_key` into the engine path (the lease's source) and the field. */
export function parseDynamicPath(ref: SecretRef): { source: string; field: string } {
  const hash = ref.path.lastIndexOf('#');
  const source = hash < 0 ? '' : ref.path.slice(0, hash).replace(/^\/+|\/+$/g, '');
  const field = hash < 0 ? '' : ref.path.slice(hash + 1);
  if (source === '' || field === '') {
    throw new VaultError('VAULT_BAD_REFERENCE', `${ref.raw}: expected \${vault-dynamic:<engine path>#<field>}, e.g. \${vault-dynamic:aws/creds/my-role#access_key}`);
  }
  return { source, field };
}

export const vaultDynamicStore: LeasingSecretStore = {
  scheme: 'vault-dynamic',
  validate: (ref) => parseProblem(() => parseDynamicPath(ref)),
  leaseSource: parseDynamicPath,
  read(ref) {
    // Reached only from settings read once at start-up (readSecretOnce): a lease nobody renews or revokes.
    return Promise.reject(
      new VaultError('VAULT_BAD_REFERENCE', `${ref.raw}: a dynamic secret is a lease the gateway renews and revokes; it can stand only in an instance's authentication`),
    );
  },
  issue: (source, signal) => sharedVaultClient().issueLease(source, signal),
  renew: (lease, increment, signal) => sharedVaultClient().renewLease(lease.id, increment, signal),
  revoke: (lease, signal) => sharedVaultClient().revokeLease(lease.id, signal),
};
