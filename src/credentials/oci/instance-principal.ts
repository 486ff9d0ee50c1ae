import { generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { request } from 'undici';
import type { Endpoint } from '../../config-fields/fields.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import { signOci, type OciCredential } from '../../signing/oci.js';
import type { UpstreamRequest } from '../../upstream/types.js';
import type { CredentialSource } from '../cache.js';
import { OciAuthError, rsaPrivateKey, SessionTokenCredentials, tokenExpiry } from './token.js';

const generateRsa = promisify(generateKeyPair);

/** Bounds each metadata and federation call even when the cache's own timeout is longer. */
const CALL_TIMEOUT_MS = 10_000;

/** The instance metadata service wants this header on every v2 call (it refuses calls without it). */
const METADATA_AUTHORIZATION = 'Bearer Oracle';

/**
 * Instance principal as a credential source. One fetch is what oci-common's
 * `InstancePrincipalsAuthenticationDetailsProviderBuilder` + `X509FederationClient` do to renew:
 *
 * 1. read `identity/cert.pem`, `identity/key.pem` and `identity/intermediate.pem` from the
 *    instance metadata service (`Authorization: Bearer Oracle`); the platform rotates them, so
 *    they are read at every renewal;
 * 2. take the tenancy from the certificate subject (`OU=opc-tenant:<ocid>`, or `opc-identity:`);
 * 3. generate a fresh 2048-bit session RSA key pair;
 * 4. `POST {federation}/v1/x509` with `{certificate, publicKey, intermediateCertificates,
 *    purpose: "DEFAULT"}` (PEM bodies without armour or newlines), signed as an OCI request
 *    with the instance key under `keyId = {tenancy}/fed-x509/{SHA-1 fingerprint of the
 *    certificate, colon-separated lower-case hex}`;
 * 5. answer `{token}`: the credential is `keyId = ST${token}` with the session key, expiring
 *    at the token's `exp`.
 *
 * Hand-written rather than oci-common's federation client: that client sends with global
 * `fetch()` and its own retries, circuit breaker and `console.log`, cannot be aborted, and
 * caches the token itself; here the refreshing cache owns timing, retries and single flight.
 * oci-common still supplies the region tables (short code → region id → realm domain) for the
 * default federation endpoint, loaded only when no `federation_endpoint` is configured.
 */
export class InstancePrincipalSource implements CredentialSource<OciCredential> {
  readonly method = 'instance_principal';
  readonly #metadata: Endpoint;
  #federation: Endpoint | undefined;
  readonly #credentials: SessionTokenCredentials;
  readonly #now: () => number;
  /** The tenancy of the first certificate: a later certificate for another one is refused, as the SDKs do. */
  #tenancy: string | undefined;

  constructor(metadata: Endpoint, federation: Endpoint | undefined, scrubber: SecretScrubber, now: () => number = Date.now) {
    this.#metadata = metadata;
    this.#federation = federation;
    this.#credentials = new SessionTokenCredentials(scrubber);
    this.#now = now;
  }

  async fetch(signal: AbortSignal): Promise<OciCredential> {
    const [certPem, keyPem, intermediatePem] = await Promise.all([
      this.#metadataText('identity/cert.pem', signal),
      this.#metadataText('identity/key.pem', signal),
      this.#metadataText('identity/intermediate.pem', signal),
    ]);
    const cert = certificate(certPem, 'identity/cert.pem');
    certificate(intermediatePem, 'identity/intermediate.pem');
    const tenancy = tenancyOf(cert);
    if (this.#tenancy !== undefined && this.#tenancy !== tenancy) throw new OciAuthError(`the instance certificate now names tenancy ${tenancy}, not ${this.#tenancy}`);
    const instanceKey = rsaPrivateKey(keyPem, undefined, 'the instance key (identity/key.pem)');
    if (!cert.checkPrivateKey(instanceKey)) throw new OciAuthError('the instance key (identity/key.pem) does not match the instance certificate');
    const federation = (this.#federation ??= await defaultFederationEndpoint(await this.#metadataText('instance/region', signal)));
    const session = await generateRsa('rsa', { modulusLength: 2048 });
    const token = await this.#federate(federation, {
      certificate: armourless(certPem),
      publicKey: armourless(session.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
      intermediateCertificates: [armourless(intermediatePem)],
      purpose: 'DEFAULT',
    }, { type: 'oci', keyId: federationKeyId(tenancy, cert), privateKey: instanceKey }, signal);
    this.#tenancy = tenancy;
    const expiresAt = tokenExpiry(token, 'auth service token');
    if (expiresAt <= this.#now()) throw new OciAuthError('the auth service answered with an expired token');
    return this.#credentials.make(token, session.privateKey, expiresAt);
  }

  async #metadataText(path: string, signal: AbortSignal): Promise<string> {
    const url = `${this.#metadata.origin}${this.#metadata.basePath}/${path}`;
    let res;
    try {
      res = await request(url, {
        headers: { authorization: METADATA_AUTHORIZATION, accept: 'text/plain' },
        signal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]),
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
      });
    } catch (err) {
      throw new OciAuthError(`the instance metadata service at ${url} could not be reached: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.body.text();
    // Not the body: it is a private key for identity/key.pem.
    if (res.statusCode !== 200) throw new OciAuthError(`the instance metadata service answered HTTP ${res.statusCode} for ${url}`);
    return text;
  }

  async #federate(federation: Endpoint, body: Record<string, unknown>, signer: OciCredential, signal: AbortSignal): Promise<string> {
    const url = new URL(`${federation.origin}${federation.basePath}/v1/x509`);
    const unsigned: UpstreamRequest = { method: 'POST', path: url.pathname, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
    const req = signOci(unsigned, signer, url.host);
    let res;
    try {
      res = await request(url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]),
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
      });
    } catch (err) {
      throw new OciAuthError(`the OCI auth service at ${url.origin} could not be reached: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.body.text();
    let parsed: Record<string, unknown> | undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) parsed = value as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's page): reported by status below.
    }
    if (res.statusCode !== 200) {
      const code = typeof parsed?.['code'] === 'string' ? ` ${parsed['code'].slice(0, 60)}` : '';
      const message = typeof parsed?.['message'] === 'string' ? `: ${parsed['message'].slice(0, 200)}` : '';
      throw new OciAuthError(`the OCI auth service refused the instance_principal federation (HTTP ${res.statusCode}${code})${message}`);
    }
    const token = parsed?.['token'];
    if (typeof token !== 'string' || token.length === 0) throw new OciAuthError('the OCI auth service answered without a token');
    return token;
  }
}

function certificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new OciAuthError(`the instance metadata ${what} is not a PEM certificate`, { cause });
  }
}

/**
 * The tenancy OCID in an instance certificate's subject: `OU=opc-tenant:<ocid>` (or
 * `opc-identity:` on some platforms), as oci-common's `AuthUtils.getTenantIdFromCertificate`.
 */
export function tenancyOf(cert: X509Certificate): string {
  for (const line of cert.subject.split('\n')) {
    const value = line.slice(line.indexOf('=') + 1);
    for (const prefix of ['opc-tenant:', 'opc-identity:']) {
      const at = value.indexOf(prefix);
      if (at !== -1) return value.slice(at + prefix.length);
    }
  }
  throw new OciAuthError('the instance certificate names no tenancy (no OU=opc-tenant:...)');
}

/** `{tenancy}/fed-x509/{sha1 fingerprint}` with oci-common's spelling of the fingerprint (sshpk: lower-case, colons). */
export function federationKeyId(tenancy: string, cert: X509Certificate): string {
  return `${tenancy}/fed-x509/${cert.fingerprint.toLowerCase()}`;
}

/** A PEM without its BEGIN/END lines and newlines, as the federation request carries certificates and keys. */
export function armourless(pem: string): string {
  return pem.replace(/-----(?:BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/**
 * The auth service of the region the metadata service names (`iad`, or `us-ashburn-1`):
 * `https://auth.{region id}.{realm's second-level domain}`, oci-common's template, with its
 * region tables (and `~/.oci/regions-config.json` / `OCI_REGION_METADATA` for regions newer than
 * the SDK). An unknown region is taken as an OC1 one, as the SDK does.
 */
export async function defaultFederationEndpoint(regionText: string): Promise<Endpoint> {
  const text = regionText.trim().toLowerCase();
  if (!/^[a-z0-9-]{2,40}$/.test(text)) throw new OciAuthError('the instance metadata service answered an invalid region');
  const { Region } = await import('oci-common');
  const regionId = Region.getRegionIdFromShortCode(text);
  const region = Region.fromRegionId(regionId) as { realm?: { secondLevelDomain?: string } } | undefined;
  return { origin: `https://auth.${regionId}.${region?.realm?.secondLevelDomain ?? 'oraclecloud.com'}`, basePath: '' };
}

