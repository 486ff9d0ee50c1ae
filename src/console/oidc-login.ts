import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { request } from 'undici';
import type { OidcIssuerConfig } from '../clientauth/oidc/config.js';
import { describe, discoverIssuer, IssuerKeys } from '../clientauth/oidc/key-set.js';
import type { RoleTable } from '../clientauth/rbac.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { Principal } from '../request/principal.js';
import { readSecretOnce } from '../secrets/read-once.js';
import { boundedText } from '../util/bounded-text.js';

/** Longest token-endpoint answer read (an ID token and an access token fit many times over). */
const TOKEN_RESPONSE_LIMIT = 64 * 1024;
/** How long a started sign-in may take at the identity provider. */
export const LOGIN_TTL_SECONDS = 600;

/** What the login cookie carries from the start of a sign-in to its callback (nothing a third party could use). */
interface PendingLogin {
  /** Index of the issuer in `auth.oidc`. */
  p: number;
  state: string;
  nonce: string;
  verifier: string;
  redirect: string;
}

/** A sign-in that failed; `message` is plain words for the sign-in page (nothing secret, nothing from the token). */
export class OidcLoginError extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

interface Endpoints {
  authorization: string;
  token: string;
  keys: IssuerKeys;
}

const random = () => randomBytes(32).toString('base64url');

/**
 * Console sign-in through the authorization-code flow with PKCE (RFC 7636, S256) against the
 * `auth.oidc` issuers that have a `console` client. State, nonce and verifier travel in an
 * HttpOnly cookie, so any replica can finish a sign-in another started. The ID token is
 * verified like a bearer token (signature by the issuer's keys, `iss`, `aud` = the client id,
 * expiry with clock skew) plus its `nonce`; roles come from the issuer's `roles_claim`.
 */
export class ConsoleOidc {
  readonly #issuers: ReadonlyArray<{ index: number; config: OidcIssuerConfig }>;
  readonly #endpoints = new Map<number, Promise<Endpoints>>();
  readonly #secrets = new Map<number, Promise<string | undefined>>();

  constructor(
    issuers: readonly OidcIssuerConfig[],
    private readonly deps: { roles: RoleTable; logger: Logger; scrubber: SecretScrubber; baseDir: string },
  ) {
    this.#issuers = issuers.map((config, index) => ({ index, config })).filter((i) => i.config.console !== undefined);
  }

  /** The sign-in buttons: `id` is the issuer's index in `auth.oidc`. */
  providers(): Array<{ id: string; label: string }> {
    return this.#issuers.map(({ index, config }) => ({ id: String(index), label: config.console!.label ?? new URL(config.issuer).host }));
  }

  /** Where to send the browser, and the login cookie's value. */
  async start(providerId: string, defaultRedirect: string): Promise<{ location: string; cookie: string }> {
    const issuer = this.#issuer(providerId);
    const endpoints = await this.#endpointsOf(issuer.index, issuer.config);
    const client = issuer.config.console!;
    const pending: PendingLogin = { p: issuer.index, state: random(), nonce: random(), verifier: random(), redirect: client.redirect_uri ?? defaultRedirect };
    const url = new URL(endpoints.authorization);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: pending.redirect,
      scope: client.scopes.join(' '),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: createHash('sha256').update(pending.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return { location: url.toString(), cookie: Buffer.from(JSON.stringify(pending)).toString('base64url') };
  }

  /** Checks the callback against the login cookie, redeems the code and verifies the ID token. */
  async finish(query: URLSearchParams, cookie: string | undefined): Promise<Principal> {
    const pending = parsePending(cookie);
    if (pending === undefined) throw new OidcLoginError('The sign-in took too long or was started in another browser; please try again.', 'oidc_no_login');
    const state = query.get('state') ?? '';
    if (!sameText(state, pending.state)) throw new OidcLoginError('The sign-in could not be matched to this browser; please try again.', 'oidc_state_mismatch');
    const error = query.get('error');
    if (error !== null) throw new OidcLoginError(`The identity provider refused the sign-in (${error.slice(0, 64).replace(/[^\w.-]/g, '')}).`, 'oidc_denied');
    const code = query.get('code');
    if (code === null || code === '' || code.length > 4096) throw new OidcLoginError('The identity provider sent no authorization code.', 'oidc_no_code');
    const issuer = this.#issuers.find((i) => i.index === pending.p);
    if (issuer === undefined) throw new OidcLoginError('That identity provider is no longer configured.', 'oidc_unknown_provider');
    const { config } = issuer;
    const endpoints = await this.#endpointsOf(issuer.index, config);
    const idToken = await this.#redeem(issuer.index, config, endpoints.token, code, pending);
    const { jwtVerify } = await import('jose');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(idToken, await endpoints.keys.getter(), {
        issuer: config.issuer,
        audience: config.console!.client_id,
        algorithms: config.algorithms,
        clockTolerance: config.clock_skew / 1000,
        requiredClaims: ['exp', 'sub', 'iat'],
      }));
    } catch (err) {
      this.deps.logger.warn({ issuer: config.issuer, err: describe(err) }, 'console sign-in: the ID token did not verify');
      throw new OidcLoginError('The identity provider’s answer could not be verified.', 'oidc_bad_id_token');
    }
    if (typeof payload['nonce'] !== 'string' || !sameText(payload['nonce'], pending.nonce)) throw new OidcLoginError('The identity provider’s answer could not be verified.', 'oidc_nonce_mismatch');
    const { oidcPrincipal } = await import('../clientauth/oidc/authenticator.js');
    return oidcPrincipal(config, payload, this.deps.roles);
  }

  #issuer(providerId: string): { index: number; config: OidcIssuerConfig } {
    const found = this.#issuers.find((i) => String(i.index) === providerId);
    if (found === undefined) throw new OidcLoginError('No such identity provider.', 'oidc_unknown_provider');
    return found;
  }

  #endpointsOf(index: number, config: OidcIssuerConfig): Promise<Endpoints> {
    let pending = this.#endpoints.get(index);
    if (pending === undefined) {
      pending = (async () => {
        const doc = await discoverIssuer(config.issuer, config.timeout, this.deps.logger);
        const authorization = doc['authorization_endpoint'];
        const token = doc['token_endpoint'];
        const jwks = config.jwks_uri ?? doc['jwks_uri'];
        if (typeof authorization !== 'string' || typeof token !== 'string' || typeof jwks !== 'string') {
          throw new OidcLoginError('The identity provider does not offer the authorization-code flow.', 'oidc_no_code_flow');
        }
        const keys = new IssuerKeys({ issuer: config.issuer, jwksUri: jwks, cacheMs: config.jwks_cache, cooldownMs: config.jwks_cooldown, timeoutMs: config.timeout, logger: this.deps.logger });
        return { authorization, token, keys };
      })();
      // A failed discovery is tried again by the next sign-in.
      pending.catch(() => this.#endpoints.delete(index));
      this.#endpoints.set(index, pending);
    }
    return pending;
  }

  async #redeem(index: number, config: OidcIssuerConfig, tokenEndpoint: string, code: string, pending: PendingLogin): Promise<string> {
    const client = config.console!;
    let secret = this.#secrets.get(index);
    if (secret === undefined) {
      secret = client.client_secret === undefined ? Promise.resolve(undefined) : readSecretOnce(`auth.oidc.${index}.console.client_secret`, client.client_secret, this.deps.baseDir);
      secret.then((s) => s !== undefined && this.deps.scrubber.add(s), () => this.#secrets.delete(index));
      this.#secrets.set(index, secret);
    }
    const clientSecret = await secret;
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: pending.redirect, code_verifier: pending.verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (clientSecret === undefined) form.set('client_id', client.client_id);
    else headers['authorization'] = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
    let status: number;
    let text: string;
    try {
      const res = await request(tokenEndpoint, { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(config.timeout) });
      status = res.statusCode;
      text = await boundedText(res.body, TOKEN_RESPONSE_LIMIT);
    } catch (err) {
      this.deps.logger.warn({ issuer: config.issuer, err: describe(err) }, 'console sign-in: the token endpoint could not be reached');
      throw new OidcLoginError('The identity provider could not be reached; try again shortly.', 'oidc_unreachable');
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // reported below
    }
    if (status !== 200 || typeof body['id_token'] !== 'string') {
      // Only the OAuth error code is logged: a description may echo what the client sent.
      this.deps.logger.warn({ issuer: config.issuer, status, error: typeof body['error'] === 'string' ? body['error'].slice(0, 64) : undefined }, 'console sign-in: the code was not redeemed');
      throw new OidcLoginError('The identity provider did not accept the sign-in; please try again.', 'oidc_code_refused');
    }
    return body['id_token'];
  }
}

function parsePending(cookie: string | undefined): PendingLogin | undefined {
  if (cookie === undefined || cookie.length > 2048) return undefined;
  try {
    const p = JSON.parse(Buffer.from(cookie, 'base64url').toString('utf8')) as PendingLogin;
    const ok = typeof p.p === 'number' && [p.state, p.nonce, p.verifier, p.redirect].every((s) => typeof s === 'string' && s.length > 0);
    return ok ? p : undefined;
  } catch {
    return undefined;
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
