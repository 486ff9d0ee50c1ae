import type { KeyRecord } from '../store/types.js';

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
    scopes: { instances: r.scopes.instances, models: r.scopes.models },
    limits: { rpm: r.limits.rpm, tpm: r.limits.tpm, budget_usd: r.limits.budgetUsd },
    rotated_from: r.rotatedFrom,
  };
}

export function keyStatus(r: KeyRecord, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (r.revokedAt !== null && r.revokedAt <= now) return 'revoked';
  if (r.expiresAt !== null && r.expiresAt <= now) return 'expired';
  return 'active';
}

/** A plain text table: columns padded to the widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function describeKey(r: KeyRecord): string {
  const j = keyJson(r);
  return [
    `id:           ${j.id}`,
    `name:         ${j.name}`,
    `user:         ${j.user ?? '-'}`,
    `role:         ${j.role}`,
    `status:       ${j.status}`,
    `created:      ${j.created_at}`,
    `expires:      ${j.expires_at ?? 'never'}`,
    `revoked:      ${j.revoked_at ?? '-'}`,
    `last used:    ${j.last_used_at ?? 'never'}`,
    `instances:    ${j.scopes.instances?.join(', ') ?? 'all'}`,
    `models:       ${j.scopes.models?.join(', ') ?? 'all'}`,
    `limits:       rpm ${j.limits.rpm ?? '-'}, tpm ${j.limits.tpm ?? '-'}, budget ${j.limits.budget_usd === null ? '-' : `$${j.limits.budget_usd}`}`,
    ...(j.rotated_from ? [`rotated from: ${j.rotated_from}`] : []),
  ].join('\n');
}
