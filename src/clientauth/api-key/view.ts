import type { KeyRecord } from '../../store/types.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** The public JSON shape of a key (never its hash or secret). */
export function keyJson(r: KeyRecord, now = Date.now()) {
  return {
    id: r.id,
    name: r.name,
    user: r.user,
    role: r.role,
    status: keyStatus(r, now),
    created_at: iso(r.createdAt),
    expires_at: iso(r.expiresAt),
    revoked_at: iso(r.revokedAt),
    last_used_at: iso(r.lastUsedAt),
    scopes: { instances: r.scopes.instances, models: r.scopes.models, endpoints: r.scopes.endpoints ?? null },
    limits: { rpm: r.limits.rpm, tpm: r.limits.tpm, budget_usd: r.limits.budgetUsd },
    rotated_from: r.rotatedFrom,
    /** Imported with `keys import` (not an `llmp_` key): recognised by its lookup tag. */
    imported: r.lookup != null,
  };
}

export function keyStatus(r: KeyRecord, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (r.revokedAt !== null && r.revokedAt <= now) return 'revoked';
  if (r.expiresAt !== null && r.expiresAt <= now) return 'expired';
  return 'active';
}
