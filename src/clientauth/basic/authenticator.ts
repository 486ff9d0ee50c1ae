import { createHmac, randomBytes } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import { dummySecretHash } from '../api-key/hash.js';
import type { AuthOutcome, Authenticator } from '../authenticator.js';
import type { VerificationAttempt } from '../throttle.js';
import { MAX_PASSWORD_LENGTH, verifyPassword } from './password.js';
import type { UserDirectory } from './users.js';

export interface BasicAuthenticatorOptions {
  users: UserDirectory;
  /** How long a verified password is trusted without argon2 (`auth.basic.cache_ttl`). */
  cacheTtlMs: number;
  /** Whether caches may be used now (IdentityWatch.trusted). */
  trusted: () => boolean;
  maxEntries?: number;
  now?: () => number;
  /** The slow check (argon2id), for real and dummy hashes alike; injectable so tests can count how often it runs and on what. */
  verifyPassword?: (hash: string, password: string) => Promise<boolean>;
}

/** The `Authorization: Basic` value, when the request carries one (RFC 7617; scheme case-insensitive). */
function basicValue(ctx: RequestContext): string | undefined {
  const raw = ctx.req.headers.authorization;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value.length < 6 || value.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  return value.slice(6).trim();
}

/** User and password from a Basic credential, or undefined when it is not one. */
export function parseBasic(encoded: string): { user: string; password: string } | undefined {
  if (encoded.length === 0 || encoded.length > 4 * MAX_PASSWORD_LENGTH || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * `Authorization: Basic base64(user:password)` for users created with `llmproxy users create`.
 *
 * The first success for a credential runs argon2; the result is remembered under an HMAC of the
 * presented header value with a per-process random key (as the API key verifier does: the map
 * never holds a password, and its keys are useless outside this process), for `cacheTtlMs`.
 * Any user change (password, disable) clears every remembered result (`clear`, wired to
 * IdentityWatch), and the user's state (disabled) is read from the latest record per request.
 *
 * A check the cache cannot answer reserves a failure slot of the client's address first and runs
 * argon2 under the concurrency caps (`VerificationAttempt`). An unknown user name, or a user
 * without a password, is verified against a dummy hash of the same cost (`dummySecretHash`), so
 * response times do not tell which user names exist.
 */
export class BasicAuthenticator implements Authenticator {
  readonly method = 'basic';
  readonly #options: Required<Omit<BasicAuthenticatorOptions, 'users' | 'trusted'>>;
  readonly #users: UserDirectory;
  readonly #trusted: () => boolean;
  readonly #hmacKey = randomBytes(32);
  readonly #verified = new Map<string, { user: string; until: number }>();
  readonly #pending = new Map<string, Promise<AuthOutcome>>();
  /** Bumped by `clear`, so a verification that started before a user change is not remembered. */
  #generation = 0;

  constructor(options: BasicAuthenticatorOptions) {
    this.#users = options.users;
    this.#trusted = options.trusted;
    this.#options = {
      cacheTtlMs: options.cacheTtlMs,
      maxEntries: options.maxEntries ?? 10_000,
      now: options.now ?? Date.now,
      verifyPassword: options.verifyPassword ?? verifyPassword,
    };
  }

  claims(ctx: RequestContext): boolean {
    return basicValue(ctx) !== undefined;
  }

  async authenticate(ctx: RequestContext, attempt: VerificationAttempt): Promise<AuthOutcome> {
    const encoded = basicValue(ctx) ?? '';
    const parsed = parseBasic(encoded);
    if (!parsed) return { ok: false, reason: 'malformed', guess: true };
    const tag = createHmac('sha256', this.#hmacKey).update(encoded).digest('base64');
    const now = this.#options.now();
    const hit = this.#verified.get(tag);
    if (hit !== undefined && hit.until > now && this.#trusted()) return this.#decide(hit.user);
    let pending = this.#pending.get(tag);
    if (!pending) {
      // Requests that join a run under way add no slow work; they are counted when they fail.
      attempt.reserve();
      pending = this.#slow(parsed.user, parsed.password, tag, attempt).finally(() => this.#pending.delete(tag));
      this.#pending.set(tag, pending);
    }
    return pending;
  }

  /** Forgets every verified password (a user changed). */
  clear(): void {
    this.#verified.clear();
    this.#generation++;
  }

  async #decide(name: string): Promise<AuthOutcome> {
    const known = await this.#read(name);
    if (!known) return { ok: false, reason: 'unknown_user', guess: true };
    if (known.record.disabled) return { ok: false, reason: 'user_disabled', guess: false };
    return { ok: true, principal: known.principal };
  }

  /** Concurrent requests with the same credential share one run, started (and its slot reserved) by the first. */
  async #slow(name: string, password: string, tag: string, attempt: VerificationAttempt): Promise<AuthOutcome> {
    const generation = this.#generation;
    const known = await this.#read(name);
    const hash = known?.record.passwordHash ?? null;
    if (!known || hash === null) {
      const dummyHash = await dummySecretHash();
      await attempt.slow(() => this.#options.verifyPassword(dummyHash, password));
      return { ok: false, reason: 'unknown_user', guess: true };
    }
    if (!(await attempt.slow(() => this.#options.verifyPassword(hash, password)))) return { ok: false, reason: 'bad_password', guess: true };
    this.#verified.delete(tag);
    if (generation === this.#generation) this.#verified.set(tag, { user: name, until: this.#options.now() + this.#options.cacheTtlMs });
    if (this.#verified.size > this.#options.maxEntries) this.#verified.delete(this.#verified.keys().next().value!);
    if (generation !== this.#generation) return this.#decide(name);
    if (known.record.disabled) return { ok: false, reason: 'user_disabled', guess: false };
    return { ok: true, principal: known.principal };
  }

  async #read(name: string) {
    try {
      return await this.#users.get(name);
    } catch (err) {
      throw new GatewayError('store_unavailable', 'the user store is unavailable; try again shortly', { cause: err });
    }
  }
}
