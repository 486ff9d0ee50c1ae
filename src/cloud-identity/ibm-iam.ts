import { readFile } from 'node:fs/promises';
import { request } from 'undici';
import type { SecretScrubber } from '../observability/scrubber.js';

/**
 * An IAM access token as a bearer credential (the shape `signing/` applies; declared here, below
 * both `credentials/` and `secrets/`, which use this exchange).
 */
export type BearerCredential = { type: 'bearer'; token: string; expiresAt?: number };

/** IAM's base URL: an origin and an optional path prefix (the shape of config's `endpointUrl`). */
export interface IamEndpoint {
  origin: string;
  basePath: string;
}

/** IBM Cloud IAM's public endpoint; `iam_url` overrides it (private endpoints, test emulators). */
export const DEFAULT_IAM_URL = 'https://iam.cloud.ibm.com';

/**
 * Where IBM's compute resources mount their token, tried in this order when `cr_token_file` is
 * not set (IBM's SDK cores do the same): IKS/ROKS projected tokens, then Code Engine.
 */
export const DEFAULT_CR_TOKEN_FILES = [
  '/var/run/secrets/tokens/vault-token',
  '/var/run/secrets/tokens/sa-token',
  '/var/run/secrets/codeengine.cloud.ibm.com/compute-resource-token/token',
] as const;

/** The form fields of one IAM token request besides `grant_type`, read fresh for each fetch. */
export type IamGrant = { grantType: string; params: () => Promise<Record<string, string>> };

export const APIKEY_GRANT = 'urn:ibm:params:oauth:grant-type:apikey';
export const CR_TOKEN_GRANT = 'urn:ibm:params:oauth:grant-type:cr-token';

/** Stops an IAM call that hangs even when the cache's own timeout is longer. */
const IAM_TIMEOUT_MS = 15_000;

/**
 * IBM Cloud IAM's token endpoint (`POST {iam_url}/identity/token`) as a credential source
 * (structurally a `CredentialSource` of `credentials/cache.ts`), used by watsonx instances and by
 * `${ibm-sm:...}` secret references alike:
 * one fetch is one exchange of an API key or a compute-resource token for an access token.
 * The token is registered with the scrubber (the previous one removed) so no log shows it.
 * Errors carry IAM's `errorCode` and message and the HTTP status, never the form sent: the API
 * key and the CR token stay out of logs and `config check`.
 *
 * @example
 * const source = new IamTokenSource('api_key', iamEndpoint, { grantType: APIKEY_GRANT, params: async () => ({ apikey }) }, scrubber);
 * const cred = new RefreshingCredential(source);
 *
 * See https://cloud.ibm.com/apidocs/iam-identity-token-api#gettoken-apikey
 */
export class IamTokenSource {
  readonly method: string;
  readonly #url: string;
  readonly #grant: IamGrant;
  readonly #scrubber: SecretScrubber;
  readonly #now: () => number;
  #previous: string | undefined;

  constructor(method: string, iam: IamEndpoint, grant: IamGrant, scrubber: SecretScrubber, now: () => number = Date.now) {
    this.method = method;
    this.#url = `${iam.origin}${iam.basePath}/identity/token`;
    this.#grant = grant;
    this.#scrubber = scrubber;
    this.#now = now;
  }

  async fetch(signal: AbortSignal): Promise<BearerCredential> {
    const form = new URLSearchParams({ grant_type: this.#grant.grantType, ...(await this.#grant.params()) });
    let res;
    try {
      res = await request(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.any([signal, AbortSignal.timeout(IAM_TIMEOUT_MS)]),
        headersTimeout: IAM_TIMEOUT_MS,
        bodyTimeout: IAM_TIMEOUT_MS,
      });
    } catch (err) {
      // undici's messages name the host and the failure (ECONNREFUSED, timeout), not the body.
      throw new IamError(`IBM IAM at ${this.#url} could not be reached: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
    }
    const text = await res.body.text();
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's HTML page): reported by status below.
    }
    if (res.statusCode !== 200) {
      const code = typeof body?.['errorCode'] === 'string' ? body['errorCode'] : undefined;
      const message = typeof body?.['errorMessage'] === 'string' ? body['errorMessage'].slice(0, 200) : 'no IAM error body';
      throw new IamError(`IBM IAM refused the ${this.method} token exchange (HTTP ${res.statusCode}${code ? ` ${code}` : ''}): ${message}`, code);
    }
    const token = body?.['access_token'];
    if (typeof token !== 'string' || token.length === 0) throw new IamError('IBM IAM answered without an access_token');
    const expiresAt = expiry(body!, this.#now());
    if (this.#previous !== undefined && this.#previous !== token) this.#scrubber.delete(this.#previous);
    this.#scrubber.add(token);
    this.#previous = token;
    return { type: 'bearer', token, ...(expiresAt !== undefined ? { expiresAt } : {}) };
  }
}

/**
 * When the token expires: `expires_in` (seconds from now) measured on our clock, so a skewed
 * host clock does not matter; `expiration` (epoch seconds) only when `expires_in` is absent.
 */
function expiry(body: Record<string, unknown>, now: number): number | undefined {
  const expiresIn = body['expires_in'];
  if (typeof expiresIn === 'number' && expiresIn > 0) return now + expiresIn * 1000;
  const expiration = body['expiration'];
  if (typeof expiration === 'number' && expiration > 0) return expiration * 1000;
  return undefined;
}

/** An IAM exchange that failed; `code` is IAM's `errorCode` (BXNIM0415E...) when it sent one. */
export class IamError extends Error {
  override readonly name = 'IamError';
  constructor(
    message: string,
    readonly code?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The compute-resource token: the configured file, or the first of IBM's default locations
 * that exists. Read at every exchange: the platform rotates it.
 */
export async function readCrToken(files: readonly string[]): Promise<string> {
  for (const file of files) {
    try {
      const token = (await readFile(file, 'utf8')).trim();
      if (token.length > 0) return token;
    } catch (err) {
      if (files.length === 1) throw new IamError(`the compute-resource token file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  throw new IamError(files.length === 1 ? `the compute-resource token file ${files[0]} is empty` : `no compute-resource token in ${files.join(', ')}; set cr_token_file`);
}
