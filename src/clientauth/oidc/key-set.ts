import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { request } from 'undici';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/logger.js';

export interface IssuerKeysOptions {
  issuer: string;
  /** Skips discovery when set. */
  jwksUri?: string | undefined;
  cacheMs: number;
  cooldownMs: number;
  timeoutMs: number;
  logger: Logger;
  now?: () => number;
}

/** After a failed discovery, callers get the 503 at once for this long instead of each waiting on the provider. */
export const DISCOVERY_RETRY_MS = 5_000;

/** The 503 every discovery or key-set failure becomes: no detail about the token, none about the provider. */
export function identityProviderUnavailable(cause?: unknown): GatewayError {
  return new GatewayError('identity_provider_unavailable', 'The identity provider is unreachable; try again later.', { cause, retryAfter: 5 });
}

/**
 * An issuer's signing keys. Discovery (`${issuer}/.well-known/openid-configuration`) runs on
 * first use, single-flight, and its answer is kept; the key set is jose's remote JWKS (cached for
 * `cacheMs`, refetched when a token names an unknown `kid` at most once per `cooldownMs`, so a
 * key rotated in at the provider is picked up without a restart, and a key removed there stops
 * verifying once the set is refetched). When a refetch fails, the last fetched set keeps
 * verifying (logged), so a brief provider outage does not lock every caller out. A failed
 * discovery is not retried for DISCOVERY_RETRY_MS: meanwhile requests get the 503 at once rather
 * than each waiting on an unreachable provider.
 *
 * @example
 * const keys = new IssuerKeys({ issuer, cacheMs: 600_000, cooldownMs: 30_000, timeoutMs: 5_000, logger });
 * await jwtVerify(token, await keys.getter(), { issuer, audience });
 */
/**
 * The issuer's discovery document (`${issuer}/.well-known/openid-configuration`), checked to name
 * that issuer (OpenID Connect Discovery 1.0 §4.3). Rejects with `identity_provider_unavailable`.
 */
export async function discoverIssuer(issuer: string, timeoutMs: number, logger: Logger): Promise<Record<string, unknown>> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  try {
    const res = await request(url, { method: 'GET', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`discovery answered HTTP ${res.statusCode}`);
    }
    const doc = (await res.body.json()) as Record<string, unknown>;
    if (doc === null || typeof doc !== 'object' || doc['issuer'] !== issuer) throw new Error('discovery document names another issuer');
    return doc;
  } catch (err) {
    logger.warn({ issuer, err: describe(err) }, 'identity provider discovery failed');
    throw identityProviderUnavailable(err);
  }
}

export class IssuerKeys {
  readonly #o: IssuerKeysOptions;
  #getter: JWTVerifyGetKey | undefined;
  #pending: Promise<JWTVerifyGetKey> | undefined;
  #failed: { until: number; error: GatewayError } | undefined;

  constructor(options: IssuerKeysOptions) {
    this.#o = options;
  }

  /** Rejects with `identity_provider_unavailable` when discovery fails. */
  getter(): Promise<JWTVerifyGetKey> {
    if (this.#getter) return Promise.resolve(this.#getter);
    const now = this.#o.now?.() ?? Date.now();
    if (this.#failed && this.#failed.until > now) return Promise.reject(this.#failed.error);
    this.#pending ??= this.#build()
      .catch((err: unknown) => {
        if (err instanceof GatewayError) this.#failed = { until: (this.#o.now?.() ?? Date.now()) + DISCOVERY_RETRY_MS, error: err };
        throw err;
      })
      .finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #build(): Promise<JWTVerifyGetKey> {
    const jwksUri = this.#o.jwksUri ?? (await this.#discover());
    const remote = createRemoteJWKSet(new URL(jwksUri), {
      cacheMaxAge: this.#o.cacheMs,
      cooldownDuration: this.#o.cooldownMs,
      timeoutDuration: this.#o.timeoutMs,
    });
    const { logger, issuer } = this.#o;
    const getter: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        if (!isKeySetFetchFailure(err)) throw err;
        const last = remote.jwks();
        if (last === undefined) {
          logger.warn({ issuer, err: describe(err) }, 'identity provider key set unavailable');
          throw identityProviderUnavailable(err);
        }
        logger.warn({ issuer, err: describe(err) }, 'identity provider key set refresh failed; using the last fetched keys');
        return createLocalJWKSet(last)(header, token);
      }
    };
    this.#getter = getter;
    return getter;
  }

  async #discover(): Promise<string> {
    const { issuer, timeoutMs, logger } = this.#o;
    const doc = await discoverIssuer(issuer, timeoutMs, logger);
    const jwksUri = doc['jwks_uri'];
    if (typeof jwksUri !== 'string' || !/^https?:\/\//.test(jwksUri)) {
      logger.warn({ issuer, err: 'discovery document has no http(s) jwks_uri' }, 'identity provider discovery failed');
      throw identityProviderUnavailable();
    }
    return jwksUri;
  }
}

/** Failures to obtain the key set (as opposed to a token that does not verify). */
export function isKeySetFetchFailure(err: unknown): boolean {
  if (err instanceof GatewayError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID' || code === 'ERR_JOSE_GENERIC') return true;
  // fetch() itself: connection refused, DNS, TLS.
  return err instanceof TypeError;
}

/** Why a token did not verify, for the audit trail; `guess` marks forgeries (counted by the throttle). */
export function verificationFailure(err: unknown): { reason: string; guess: boolean } {
  const e = err as { code?: unknown; claim?: unknown } | null;
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return { reason: 'expired', guess: false };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return { reason: e.claim === 'aud' ? 'wrong_audience' : e.claim === 'iss' ? 'wrong_issuer' : `invalid_claim_${String(e.claim)}`, guess: false };
    case 'ERR_JWKS_NO_MATCHING_KEY':
      // Not counted as a guess: during a key rotation at the provider, legitimate new tokens land here until the cooldown ends.
      return { reason: 'unknown_kid', guess: false };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return { reason: 'bad_signature', guess: true };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return { reason: 'alg_not_allowed', guess: true };
    default:
      return { reason: 'malformed', guess: true };
  }
}

/** An error's name and message for a log line; jose and undici messages carry no token. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.name}: ${err.message}${cause}`;
  }
  return String(err);
}
