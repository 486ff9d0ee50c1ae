import type { BearerCredential, NamedHeaderCredential } from '../signing/header.js';
import type { OciCredential } from '../signing/oci.js';
import type { AwsCredential } from '../signing/sigv4.js';

/**
 * A provider credential the gateway obtained (layer 2). Obtaining it is the job of this folder;
 * applying it to a request is the job of signing/, where each signer declares the shape it
 * applies (so signing/ needs nothing from this folder).
 */
export type Credential = BearerCredential | NamedHeaderCredential | AwsCredential | OciCredential;

export type CredentialStatus = 'pending' | 'ok' | 'error';

/** What `config check`, `/ready` and the credential metrics report; never the secret. */
export interface CredentialState {
  /** Authentication method as configured, e.g. `api_key`. */
  method: string;
  status: CredentialStatus;
  /** Epoch ms of the last successful fetch. */
  lastRefreshAt: number | undefined;
  /** Epoch ms; undefined for credentials that do not expire. */
  expiresAt: number | undefined;
  /** A short description of the last failure (a reference or an error code, never a value). */
  lastError: string | undefined;
}

/**
 * A credential as the request path sees it: `get()` answers from memory whenever it can;
 * `invalidate()` is called after the upstream rejected the credential.
 *
 * @example
 * const cred = await instance.credential.get();
 * signer.sign(request, cred);
 */
export interface CachedCredential<C extends Credential = Credential> {
  get(): Promise<C>;
  invalidate(): void;
  readonly state: CredentialState;
  /**
   * For credentials fetched from an endpoint: the first fetch, at startup and in `config check`;
   * rejects when it fails. Such credentials count their own fetches in
   * `llmproxy_credential_refresh_total`. Absent for credentials made from secret values.
   */
  prime?(): Promise<void>;
  /**
   * Obtains the credential again now, whatever its age (an operator's "refresh now"): a new
   * fetch, or the one already in flight; rejects when it fails (the last good credential is
   * kept). Callers limit how often they ask. Absent for credentials that cannot be re-obtained.
   */
  refresh?(): Promise<void>;
}
