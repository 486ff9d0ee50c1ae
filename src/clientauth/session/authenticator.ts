import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import type { SessionRecord, SessionStore } from '../../store/identity-types.js';
import type { KeyRecord, KeyStore } from '../../store/types.js';
import type { AuthOutcome, Authenticator } from '../authenticator.js';
import type { UserDirectory } from '../basic/users.js';
import { presentedCredential } from '../credentials.js';
import type { Principal } from '../../request/principal.js';
import { NO_AGE_LIMIT, keyLife, type KeyAgePolicy } from '../api-key/policy.js';
import { keyPrincipal } from '../api-key/verifier.js';
import { compileScopes } from '../scopes.js';
import { SESSION_PREFIX, parseSessionToken, sessionSecretMatches } from './token.js';

/** An OIDC console session's principal: roles from its sign-in, no scopes or limits (as for an OIDC bearer token). */
const ALL_SCOPES = compileScopes({ instances: null, models: null });
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };

/** A session check's outcome: the record comes along on success. */
export type SessionOutcome = { ok: true; principal: Principal; session: SessionRecord } | Extract<AuthOutcome, { ok: false }>;

export interface SessionAuthenticatorOptions {
  sessions: SessionStore;
  keys: KeyStore;
  users: UserDirectory;
  /** Whether caches may be used now (IdentityWatch.trusted). */
  trusted: () => boolean;
  maxEntries?: number;
  now?: () => number;
  /** `auth.api_keys.enabled` and its age policy: a key's sessions are refused when keys are off, or as the key itself would be. */
  keyPolicy?: { enabled: boolean; age: KeyAgePolicy };
}

/**
 * Session tokens (`llms_...`) from `POST /auth/v1/session`, in any header that carries a gateway
 * credential. A session stands for both factors of its key or user, so the TOTP step skips
 * requests this authenticator decided.
 *
 * A session dies with its subject: a revoked or expired key, a disabled user, or a password
 * changed after the session was created refuse it; in this process at once (IdentityWatch
 * clears the caches on every change), in other processes within the poll interval. The secret
 * is compared (SHA-256, constant time) on every request; records are cached, never results.
 */
export class SessionAuthenticator implements Authenticator {
  readonly method = 'session';
  readonly #options: Required<Omit<SessionAuthenticatorOptions, 'sessions' | 'keys' | 'users' | 'trusted'>>;
  readonly #sessions: SessionStore;
  readonly #keys: KeyStore;
  readonly #users: UserDirectory;
  readonly #trusted: () => boolean;
  readonly #sessionCache = new Map<string, SessionRecord>();
  readonly #keyCache = new Map<string, { record: KeyRecord; principal: Principal }>();

  constructor(options: SessionAuthenticatorOptions) {
    this.#sessions = options.sessions;
    this.#keys = options.keys;
    this.#users = options.users;
    this.#trusted = options.trusted;
    this.#options = { maxEntries: options.maxEntries ?? 10_000, now: options.now ?? Date.now, keyPolicy: options.keyPolicy ?? { enabled: true, age: NO_AGE_LIMIT } };
  }

  claims(ctx: RequestContext): boolean {
    return presentedCredential(ctx.req.headers)?.startsWith(SESSION_PREFIX) ?? false;
  }

  async authenticate(ctx: RequestContext): Promise<AuthOutcome> {
    const outcome = await this.verify(presentedCredential(ctx.req.headers) ?? '', 'token');
    return outcome.ok ? { ok: true, principal: outcome.principal } : outcome;
  }

  /**
   * Checks a session token of `kind` and the subject it stands for; the session record comes
   * along on success (the console checks its idle time). A token of the other kind is unknown.
   */
  async verify(token: string, kind: SessionRecord['kind']): Promise<SessionOutcome> {
    const parsed = parseSessionToken(token);
    if (!parsed) return { ok: false, reason: 'malformed', guess: true };
    const session = await this.#session(parsed.id);
    if (!session || session.kind !== kind) return { ok: false, reason: 'unknown_session', guess: true };
    if (!sessionSecretMatches(parsed.secret, session.secretHash)) return { ok: false, reason: 'bad_secret', guess: true, keyId: session.keyId ?? undefined };
    const now = this.#options.now();
    const keyId = session.keyId ?? undefined;
    if (session.revokedAt !== null) return { ok: false, reason: 'session_revoked', guess: false, keyId };
    if (session.expiresAt <= now) return { ok: false, reason: 'session_expired', guess: false, keyId };
    if (session.principal !== null) {
      const p = session.principal;
      return { ok: true, session, principal: { id: p.id, kind: 'oidc', user: p.user, roles: p.roles, scopes: ALL_SCOPES, limits: NO_LIMITS } };
    }
    if (session.keyId !== null) {
      const policy = this.#options.keyPolicy;
      if (!policy.enabled) return { ok: false, reason: 'api_keys_disabled', guess: false, keyId };
      const key = await this.#key(session.keyId);
      if (!key) return { ok: false, reason: 'revoked', guess: false, keyId };
      const life = keyLife(key.record, now, policy.age);
      if (!life.ok) return { ok: false, reason: life.reason, guess: false, keyId };
      return { ok: true, session, principal: key.principal };
    }
    const user = await this.#read(() => this.#users.get(session.user!));
    if (!user) return { ok: false, reason: 'unknown_user', guess: false };
    if (user.record.disabled) return { ok: false, reason: 'user_disabled', guess: false };
    if (user.record.passwordChangedAt > session.createdAt) return { ok: false, reason: 'session_revoked', guess: false };
    return { ok: true, session, principal: user.principal };
  }

  /** Records a use of session `id` at `at` in the store and in the cached record. */
  async touch(session: SessionRecord, at: number): Promise<void> {
    await this.#read(() => this.#sessions.touch(session.id, at));
    const cached = this.#sessionCache.get(session.id);
    if (cached) cached.lastSeenAt = at;
  }

  /** Forgets cached sessions (identity change). */
  clearSessions(): void {
    this.#sessionCache.clear();
  }

  /** Forgets key `id` (revoked, expiry changed). */
  forgetKey(id: string): void {
    this.#keyCache.delete(id);
  }

  async #session(id: string): Promise<SessionRecord | undefined> {
    if (this.#trusted()) {
      const hit = this.#sessionCache.get(id);
      if (hit) return hit;
    }
    const record = await this.#read(() => this.#sessions.get(id));
    if (record) remember(this.#sessionCache, id, record, this.#options.maxEntries);
    return record;
  }

  async #key(id: string): Promise<{ record: KeyRecord; principal: Principal } | undefined> {
    if (this.#trusted()) {
      const hit = this.#keyCache.get(id);
      if (hit) return hit;
    }
    const record = await this.#read(() => this.#keys.get(id));
    if (!record) return undefined;
    const known = { record, principal: keyPrincipal(record) };
    remember(this.#keyCache, id, known, this.#options.maxEntries);
    return known;
  }

  async #read<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      throw new GatewayError('store_unavailable', 'the session store is unavailable; try again shortly', { cause: err });
    }
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}
