import type { UserRecord } from '../../store/identity-types.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** What a user name may be: what a client sends before the colon of a Basic credential. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/** The public JSON shape of a user (never the password hash). */
export function userJson(u: UserRecord) {
  return {
    name: u.name,
    role: u.role,
    status: u.disabled ? ('disabled' as const) : ('active' as const),
    has_password: u.passwordHash !== null,
    created_at: iso(u.createdAt),
    updated_at: iso(u.updatedAt),
    password_changed_at: iso(u.passwordChangedAt),
    scopes: { instances: u.scopes.instances, models: u.scopes.models, endpoints: u.scopes.endpoints ?? null },
    limits: { rpm: u.limits.rpm, tpm: u.limits.tpm, budget_usd: u.limits.budgetUsd },
  };
}
