import type { SecretScrubber } from '../observability/scrubber.js';
import type { SecretRef } from './ref.js';

export interface SecretReadContext {
  /** Folder of the config file; relative paths resolve against it. */
  baseDir: string;
  signal: AbortSignal;
  /**
   * Where a store registers the credentials it obtains in order to read (access tokens of Google
   * or IBM IAM), so no log line shows them; absent for one-off reads at start-up. The values a
   * store returns are registered by `SecretResolver`, not here.
   */
  scrubber?: SecretScrubber;
}

/**
 * A backend behind `${scheme:...}`. One file per store in this folder; listed in registry.ts.
 * Every value `read` returns is registered with the log scrubber by `SecretResolver`, for every
 * store alike, so a store never registers its values itself; a store that obtains a credential
 * to read with (a token) masks it through `ctx.scrubber`. Values are taken as written (one
 * trailing newline dropped, see value.ts) by the caller, so a store returns them untrimmed.
 *
 * @example
 * const store: SecretStore = {
 *   scheme: 'env',
 *   validate: (ref) => (ref.path.includes('=') ? 'an environment variable name has no "="' : undefined),
 *   read: async (ref) => process.env[ref.path]!,
 * };
 */
export interface SecretStore {
  readonly scheme: string;
  /**
   * Checks the reference's syntax when the config loads, without reading anything: returns what
   * is wrong (the config error, prefixed with the field's path), or undefined when it is usable.
   */
  validate(ref: SecretRef): string | undefined;
  /** Returns the current value. Errors must describe the reference, never a value. */
  read(ref: SecretRef, ctx: SecretReadContext): Promise<string>;
}

/** One read of a leasing store: every field it returned, valid while the lease lives. */
export interface SecretLease {
  /** The store's lease id; not shown in logs or errors either. */
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
  /** 0: the lease does not expire. */
  readonly durationSeconds: number;
  readonly renewable: boolean;
}

/**
 * A store whose reads are leases (Vault dynamic secrets): one read yields several fields that
 * belong together (an access key id and its secret), valid for a lease the gateway renews,
 * replaces with a new read when it cannot be renewed, and revokes at shutdown. References that
 * name the same `source` share one lease (see lease.ts); `read` is not used for them.
 *
 * @example
 * // ${vault-dynamic:aws/creds/bedrock#access_key} and ${vault-dynamic:aws/creds/bedrock#secret_key}
 * store.leaseSource(ref) // { source: 'aws/creds/bedrock', field: 'access_key' }
 */
export interface LeasingSecretStore extends SecretStore {
  leaseSource(ref: SecretRef): { source: string; field: string };
  issue(source: string, signal: AbortSignal): Promise<SecretLease>;
  /** Extends the lease; the answer's duration may be shorter than asked (a max TTL). Rejects with `status` set when the store refused. */
  renew(lease: SecretLease, incrementSeconds: number, signal: AbortSignal): Promise<{ durationSeconds: number; renewable: boolean }>;
  revoke(lease: SecretLease, signal: AbortSignal): Promise<void>;
}

export function isLeasingStore(store: SecretStore): store is LeasingSecretStore {
  return 'leaseSource' in store && typeof store.leaseSource === 'function';
}
