import { hash, randomBytes } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/logger.js';
import type { KeyRecord, KeyStore } from '../../store/types.js';
import type { Principal } from '../../request/principal.js';
import { compileScopes } from '../scopes.js';
import { parseKey } from './format.js';
import { importedLookup, looksImported } from './imported.js';
import { NO_AGE_LIMIT, keyLife, type KeyAgePolicy } from './policy.js';
import type { VerificationAttempt } from '../throttle.js';
import { dummySecretHash, verifySecret } from './hash.js';

export type KeyFailure = 'malformed' | 'unknown_key' | 'bad_secret' | 'revoked' | 'expired' | 'key_too_old';

/**
 * `notice`: the key is accepted but near its end (`endsAt`, within `warn_before`), or already past
 * `max_age` under `on_max_age: warn` (`tooOld`); the authenticator puts it in a response header.
 */
export type KeyVerification =
  | { ok: true; principal: Principal; notice?: KeyNotice }
  | { ok: false; reason: KeyFailure; keyId: string | undefined };

export interface ApiKeyVerifierOptions {
  /** How long a verified secret is trusted without re-running the slow hash. */
  cacheTtlMs: number;
  /** How often the store is polled for changes made by other processes (revocations). */
  pollMs: number;
  /**
   * Announced changes (Redis, several replicas): while it has heard every announcement since the
   * last successful poll, cached results stay trusted even when the store cannot be polled.
   */
  watch?: { trustedSince(): number | undefined };
  /** Beyond this since the last successful poll, cached results are not trusted. */
  maxStalenessMs?: number;
  maxEntries?: number;
  logger: Logger;
  now?: () => number;
  /** The slow check (argon2id), for real and dummy hashes alike; injectable so tests can count how often it runs and on what. */
  verifySecret?: (hash: string, secret: string) => Promise<boolean>;
  /** `auth.api_keys.max_age`, `on_max_age`, `warn_before` (default: no age limit, warnings 14 days before an expiry). */
  agePolicy?: KeyAgePolicy;
}

export interface KeyNotice {
  keyId: string;
  endsAt: number;
  tooOld: boolean;
}

interface Known {
  record: KeyRecord;
  principal: Principal;
}

/**
 * Verifies gateway API keys without a slow hash on every request.
 *
 * The first time a key is seen, its record is read and its secret checked against the argon2id
 * hash. The result is remembered under a keyed digest of the presented key (SHA-256 with a
 * per-process random key in front: the cache never holds the key itself, and its map keys are
 * useless outside this process). Later requests with the same key cost one digest and a map read.
 *
 * A key's state (revoked, expiry) is never cached as part of that result: it is read from the
 * latest record on every request. Records change in this process at once (`invalidate`), and
 * from other processes (the CLI, other replicas) through a poll of the store's change counter
 * every `pollMs`, and at once when another replica announces the change (`watch`). If polling
 * fails for longer than `maxStalenessMs` (5 s), cached results are not trusted and each request
 * reads the store, so a revocation is never missed for longer — unless the announcement channel
 * has been heard without a gap since the last successful poll: then no revocation can have been
 * missed, and keys verified before keep working while the store is unreachable.
 *
 * Imported keys (`llmproxy keys import`, not `llmp_<id>_...`) carry no id: a credential of their
 * shape (imported.ts) is looked up by SHA-256 of the whole key, then checked and cached the same
 * way. A key's age policy (`max_age`, `on_max_age`, `warn_before`) is judged on every request
 * from the cached record, by a few comparisons (policy.ts).
 *
 * Guessing is bounded by the caller's `VerificationAttempt`: a check the cache cannot answer
 * reserves a failure slot of the client's address before it reads the store, and every argon2
 * run waits for a place under the concurrency caps. An unknown key id is verified against a
 * dummy hash of the same cost, so it cannot be told from a wrong secret by response time.
 */
export class ApiKeyVerifier {
  readonly #store: KeyStore;
  readonly #options: Required<Omit<ApiKeyVerifierOptions, 'logger' | 'watch'>>;
  /** Key id → when its nearing end or excess age was last logged (at most once a day per key and process). */
  readonly #noticed = new Map<string, number>();
  readonly #watch: ApiKeyVerifierOptions['watch'];
  /** Settles once the dummy hash exists; `start` waits for it, so requests never pay for making it. */
  readonly #dummyHash: Promise<string>;
  readonly #logger: Logger;
  /**
   * Prefix of the cache tag: SHA-256(this process's random key ‖ presented key), so the cache
   * holds no key nor an unkeyed digest of one. One-shot `hash` rather than an HMAC object: the
   * tag is computed on every request, and createHmac cost four times as much.
   */
  readonly #tagKey = randomBytes(32).toString('hex');
  /** Tag of the presented key → key id and until when the verification holds. */
  readonly #verified = new Map<string, { id: string; until: number }>();
  /** Key id → latest record and its principal. */
  readonly #known = new Map<string, Known>();
  readonly #pending = new Map<string, Promise<KeyVerification>>();
  readonly #lastUsed = new Map<string, number>();
  #rev = 0;
  #lastPollOk = 0;
  #pollFailing = false;
  #timers: NodeJS.Timeout[] = [];
  readonly #invalidateListeners = new Set<(id: string) => void>();

  constructor(store: KeyStore, options: ApiKeyVerifierOptions) {
    this.#store = store;
    this.#logger = options.logger;
    this.#watch = options.watch;
    this.#options = {
      cacheTtlMs: options.cacheTtlMs,
      pollMs: options.pollMs,
      maxStalenessMs: options.maxStalenessMs ?? 5000,
      maxEntries: options.maxEntries ?? 10_000,
      now: options.now ?? Date.now,
      verifySecret: options.verifySecret ?? verifySecret,
      agePolicy: options.agePolicy ?? NO_AGE_LIMIT,
    };
    this.#dummyHash = dummySecretHash();
  }

  async start(): Promise<void> {
    await this.#dummyHash;
    this.#rev = await this.#store.currentRev();
    this.#lastPollOk = this.#options.now();
    const poll = setInterval(() => void this.poll(), this.#options.pollMs);
    const touch = setInterval(() => void this.flushLastUsed(), 10_000);
    poll.unref();
    touch.unref();
    this.#timers = [poll, touch];
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.flushLastUsed();
  }

  /**
   * Throws `store_unavailable` when the store must be read and cannot be, and the 429s of
   * `attempt` (no failure slot left, no place for the hash).
   */
  verify(presented: string, attempt: VerificationAttempt): Promise<KeyVerification> {
    // A gateway key names its id; an imported one is found by its lookup tag (imported.ts).
    const parsed = parseKey(presented) ?? (looksImported(presented) ? { lookup: importedLookup(presented), secret: presented } : undefined);
    if (!parsed) return Promise.resolve({ ok: false, reason: 'malformed', keyId: undefined });
    const tag = hash('sha256', this.#tagKey + presented, 'base64');
    const now = this.#options.now();
    const hit = this.#verified.get(tag);
    if (hit !== undefined && hit.until > now && this.#fresh(now)) {
      const known = this.#known.get(hit.id);
      if (known) return Promise.resolve(this.#decide(known, now));
    }
    let pending = this.#pending.get(tag);
    if (!pending) {
      const secretAlreadyVerified = hit !== undefined && hit.until > now;
      // A secret this process verified before is no guess (only its record is re-read); requests
      // that join a run already under way add no slow work, and are counted when they fail.
      if (!secretAlreadyVerified) attempt.reserve();
      pending = this.#slow(parsed, tag, secretAlreadyVerified, attempt).finally(() => this.#pending.delete(tag));
      this.#pending.set(tag, pending);
    }
    return pending;
  }

  /**
   * Whether cached results may decide: the store was polled lately, or every announced change
   * since the last successful poll has been heard (a revocation anywhere is then already applied).
   */
  #fresh(now: number): boolean {
    if (now - this.#lastPollOk <= this.#options.maxStalenessMs) return true;
    const since = this.#watch?.trustedSince();
    return since !== undefined && since <= this.#lastPollOk;
  }

  /** Drops what is known of key `id` (after a change made in this process). */
  invalidate(id: string): void {
    this.#known.delete(id);
    for (const [tag, v] of this.#verified) if (v.id === id) this.#verified.delete(tag);
    for (const l of this.#invalidateListeners) l(id);
  }

  /** Calls `listener` whenever key `id` is invalidated (in-process change or a polled revocation); session tokens die with their key. */
  onInvalidate(listener: (id: string) => void): () => void {
    this.#invalidateListeners.add(listener);
    return () => void this.#invalidateListeners.delete(listener);
  }

  /** One poll of the store's change counter; exposed for tests. */
  async poll(): Promise<void> {
    try {
      const { records, rev } = await this.#store.changesSince(this.#rev);
      for (const record of records) {
        // A revocation drops every cached verification of the key at once; other changes
        // (an expiry moved by a rotation) replace the record the next request is decided on.
        if (record.revokedAt !== null) this.invalidate(record.id);
        else if (this.#known.has(record.id)) this.#known.set(record.id, known(record));
      }
      this.#rev = rev;
      this.#lastPollOk = this.#options.now();
      if (this.#pollFailing) this.#logger.info('key store reachable again; revocation watch resumed');
      this.#pollFailing = false;
    } catch (err) {
      if (!this.#pollFailing) {
        this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'key store poll failed; verified keys are re-checked against the store until it recovers');
      }
      this.#pollFailing = true;
    }
  }

  async flushLastUsed(): Promise<void> {
    if (this.#lastUsed.size === 0) return;
    const batch = new Map(this.#lastUsed);
    this.#lastUsed.clear();
    try {
      await this.#store.touch(batch);
    } catch (err) {
      this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not record key last-use times');
    }
  }

  /**
   * Concurrent requests with the same key share one run (`#pending`), started by the first of them:
   * its slot and its address's place under the concurrency caps cover the run.
   */
  async #slow(
    presented: { id: string; secret: string } | { lookup: string; secret: string },
    tag: string,
    secretAlreadyVerified: boolean,
    attempt: VerificationAttempt,
  ): Promise<KeyVerification> {
    const { secret } = presented;
    let record: KeyRecord | undefined;
    try {
      record = 'id' in presented ? await this.#store.get(presented.id) : await this.#store.findByLookup(presented.lookup);
    } catch (err) {
      throw new GatewayError('store_unavailable', 'the key store is unavailable; try again shortly', { cause: err });
    }
    if (!record) {
      const dummyHash = await this.#dummyHash;
      await attempt.slow(() => this.#options.verifySecret(dummyHash, secret));
      return { ok: false, reason: 'unknown_key', keyId: 'id' in presented ? presented.id : undefined };
    }
    const id = record.id;
    const hash = record.secretHash;
    if (!secretAlreadyVerified && !(await attempt.slow(() => this.#options.verifySecret(hash, secret)))) {
      return { ok: false, reason: 'bad_secret', keyId: id };
    }
    const now = this.#options.now();
    const k = known(record);
    // Remembered even when revoked or expired: state is decided per request from the record, and
    // a forgotten client retrying a revoked key must not cost a slow hash each time.
    this.#known.set(id, k);
    this.#remember(tag, id, now);
    return this.#decide(k, now);
  }

  #remember(tag: string, id: string, now: number): void {
    this.#verified.delete(tag);
    this.#verified.set(tag, { id, until: now + this.#options.cacheTtlMs });
    if (this.#verified.size > this.#options.maxEntries) {
      // Maps iterate in insertion order: the first entry is the oldest.
      this.#verified.delete(this.#verified.keys().next().value!);
    }
  }

  #decide(k: Known, now: number): KeyVerification {
    const r = k.record;
    const life = keyLife(r, now, this.#options.agePolicy);
    if (!life.ok) return { ok: false, reason: life.reason, keyId: r.id };
    this.#lastUsed.set(r.id, now);
    if (life.endsAt === null) return { ok: true, principal: k.principal };
    const notice = { keyId: r.id, endsAt: life.endsAt, tooOld: life.tooOld };
    this.#logNotice(notice, now);
    return { ok: true, principal: k.principal, notice };
  }

  /** One log line per key, process and day while a key is near its end or past `max_age`: enough to act on, not one per request. */
  #logNotice(notice: KeyNotice, now: number): void {
    const last = this.#noticed.get(notice.keyId);
    if (last !== undefined && now - last < 86_400_000) return;
    this.#noticed.set(notice.keyId, now);
    const at = new Date(notice.endsAt).toISOString();
    if (notice.tooOld) this.#logger.warn({ key_id: notice.keyId, max_age_reached_at: at }, 'API key is older than auth.api_keys.max_age and still accepted (on_max_age: warn); rotate it');
    else this.#logger.warn({ key_id: notice.keyId, ends_at: at }, 'API key reaches the end of its life soon; rotate it');
  }
}

/** The principal of an API key; sessions of the key stand for the same one. */
export function keyPrincipal(record: KeyRecord): Principal {
  return {
    id: record.id,
    kind: 'api-key',
    user: record.user,
    roles: [record.role],
    scopes: compileScopes(record.scopes),
    limits: record.limits,
    keyId: record.id,
  };
}

function known(record: KeyRecord): Known {
  return { record, principal: keyPrincipal(record) };
}
