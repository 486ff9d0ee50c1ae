import type { KeyRecord, KeyStore } from '../../store/types.js';

/** `auth.api_keys.max_age`, `on_max_age` and `warn_before`, in milliseconds. */
export interface KeyAgePolicy {
  /** null: keys live until they expire or are revoked. */
  maxAgeMs: number | null;
  onMaxAge: 'refuse' | 'warn';
  warnBeforeMs: number;
}

export const NO_AGE_LIMIT: KeyAgePolicy = { maxAgeMs: null, onMaxAge: 'warn', warnBeforeMs: 14 * 86_400_000 };

/**
 * Where a key stands at `now`: refused (revoked, expired, older than `max_age` under `refuse`),
 * or accepted, with `endsAt` set when its end is near (within `warn_before`) or, under `warn`,
 * already past `max_age` (`tooOld`). A key's end is its expiry or creation + `max_age`, whichever
 * comes first. A few comparisons, no allocation for a key far from its end: it runs on every
 * request, cached or not.
 *
 * @example
 * keyLife({ createdAt: Date.parse('2026-01-01'), expiresAt: null, revokedAt: null }, Date.parse('2026-03-25'),
 *   { maxAgeMs: 90 * 86_400_000, onMaxAge: 'refuse', warnBeforeMs: 14 * 86_400_000 })
 * // { ok: true, endsAt: Date.parse('2026-04-01'), tooOld: false }
 */
export function keyLife(r: Pick<KeyRecord, 'createdAt' | 'expiresAt' | 'revokedAt'>, now: number, policy: KeyAgePolicy): KeyLife {
  if (r.revokedAt !== null && r.revokedAt <= now) return REVOKED;
  if (r.expiresAt !== null && r.expiresAt <= now) return EXPIRED;
  const ageEnd = policy.maxAgeMs === null ? null : r.createdAt + policy.maxAgeMs;
  if (ageEnd !== null && ageEnd <= now) return policy.onMaxAge === 'refuse' ? TOO_OLD : { ok: true, endsAt: ageEnd, tooOld: true };
  const end = ageEnd === null ? r.expiresAt : r.expiresAt === null ? ageEnd : Math.min(ageEnd, r.expiresAt);
  if (end !== null && end - now <= policy.warnBeforeMs) return { ok: true, endsAt: end, tooOld: false };
  return FINE;
}

export type KeyLife = { ok: false; reason: 'revoked' | 'expired' | 'key_too_old' } | { ok: true; endsAt: number | null; tooOld: boolean };

const REVOKED: KeyLife = { ok: false, reason: 'revoked' };
const EXPIRED: KeyLife = { ok: false, reason: 'expired' };
const TOO_OLD: KeyLife = { ok: false, reason: 'key_too_old' };
const FINE: KeyLife = { ok: true, endsAt: null, tooOld: false };

/** The policy `auth.api_keys` configures. */
export function agePolicyOf(config: { max_age?: number | undefined; on_max_age: 'refuse' | 'warn'; warn_before: number }): KeyAgePolicy {
  return { maxAgeMs: config.max_age ?? null, onMaxAge: config.on_max_age, warnBeforeMs: config.warn_before };
}

const DAY = 86_400_000;
/** The age buckets of `llmproxy_api_keys{age}`: label, and creation times from `now - to` (exclusive) back to `now - from`. */
const AGE_BUCKETS = [
  { age: '<30d', from: 0, to: 30 * DAY },
  { age: '30-60d', from: 30 * DAY, to: 60 * DAY },
  { age: '60-90d', from: 60 * DAY, to: 90 * DAY },
  { age: '>90d', from: 90 * DAY, to: Infinity },
] as const;

/** Active keys per age bucket, each one indexed count in the store. */
export async function countKeysByAge(keys: Pick<KeyStore, 'search'>, now = Date.now()): Promise<Array<{ age: string; count: number }>> {
  return Promise.all(
    AGE_BUCKETS.map(async (b) => {
      const { total } = await keys.search({
        status: 'active',
        now,
        createdBefore: now - b.from + 1,
        ...(b.to === Infinity ? {} : { createdSince: now - b.to + 1 }),
        limit: 1,
      });
      return { age: b.age, count: total };
    }),
  );
}
