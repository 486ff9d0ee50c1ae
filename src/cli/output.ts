import type { TotpEnrolment, UserRecord } from '../store/identity-types.js';
import { keyJson, keyStatus } from '../clientauth/api-key/view.js';
import { userJson } from '../clientauth/basic/view.js';
import type { KeyRecord } from '../store/types.js';

export { keyJson, keyStatus, userJson };

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

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
    `endpoints:    ${j.scopes.endpoints?.join(', ') ?? 'all'}`,
    `limits:       rpm ${j.limits.rpm ?? '-'}, tpm ${j.limits.tpm ?? '-'}, budget ${j.limits.budget_usd === null ? '-' : `$${j.limits.budget_usd}`}`,
    ...(j.rotated_from ? [`rotated from: ${j.rotated_from}`] : []),
    ...(j.imported ? ['format:       imported (found by the SHA-256 of its secret)'] : []),
  ].join('\n');
}

export function describeUser(u: UserRecord): string {
  const j = userJson(u);
  return [
    `name:         ${j.name}`,
    `role:         ${j.role}`,
    `status:       ${j.status}`,
    `password:     ${j.has_password ? `set ${j.password_changed_at}` : 'none'}`,
    `created:      ${j.created_at}`,
    `instances:    ${j.scopes.instances?.join(', ') ?? 'all'}`,
    `models:       ${j.scopes.models?.join(', ') ?? 'all'}`,
    `endpoints:    ${j.scopes.endpoints?.join(', ') ?? 'all'}`,
    `limits:       rpm ${j.limits.rpm ?? '-'}, tpm ${j.limits.tpm ?? '-'}, budget ${j.limits.budget_usd === null ? '-' : `$${j.limits.budget_usd}`}`,
  ].join('\n');
}

/** The public JSON shape of a TOTP enrolment (never its secret or backup codes). */
export function totpJson(e: TotpEnrolment, now = Date.now()) {
  const [kind, ...rest] = e.subject.split(':');
  return {
    ...(kind === 'key' ? { key_id: rest.join(':') } : { user: rest.join(':') }),
    required: e.required,
    encrypted: !e.secret.startsWith('plain:'),
    enrolled_at: iso(e.createdAt),
    last_used_at: e.lastStep === null ? null : iso(e.lastStep * 30_000),
    backup_codes_left: e.backupCodesLeft,
    locked_until: e.lockedUntil !== null && e.lockedUntil > now ? iso(e.lockedUntil) : null,
  };
}
