import type { KeyLimits, KeyScopes } from '../../store/access-types.js';
import type { KeyRecord, KeyStore } from '../../store/types.js';
import { BUILTIN_ROLE_TABLE, DEFAULT_ROLE, type RoleTable } from '../rbac.js';
import { endpointListProblem } from '../scopes.js';
import { generateKey } from './format.js';
import { hashSecret } from './hash.js';

export interface KeySpec {
  name: string;
  user?: string | null;
  role?: string;
  scopes?: Partial<KeyScopes>;
  limits?: Partial<KeyLimits>;
  expiresAt?: number | null;
}

export interface IssuedKey {
  record: KeyRecord;
  /** The full key: shown once, never stored. */
  key: string;
}

/** Thrown for a key request that cannot be honoured (bad role, unknown key...). */
export class KeyRequestError extends Error {
  override readonly name = 'KeyRequestError';
}

async function newKey(spec: KeySpec, rotatedFrom: string | null, roles: RoleTable = BUILTIN_ROLE_TABLE) {
  const role = spec.role ?? DEFAULT_ROLE;
  if (!roles.isKnown(role)) throw new KeyRequestError(`unknown role "${role}" (known: ${roles.names.join(', ')})`);
  if (!spec.name.trim()) throw new KeyRequestError('a key needs a name');
  const endpoints = spec.scopes?.endpoints ?? null;
  const problem = endpointListProblem(endpoints);
  if (problem !== undefined) throw new KeyRequestError(`endpoints: ${problem}`);
  const { key, id, secret } = generateKey();
  return {
    key,
    record: {
      id,
      name: spec.name.trim(),
      user: spec.user ?? null,
      role,
      secretHash: await hashSecret(secret),
      expiresAt: spec.expiresAt ?? null,
      scopes: { instances: spec.scopes?.instances ?? null, models: spec.scopes?.models ?? null, ...(endpoints !== null ? { endpoints: [...new Set(endpoints)] } : {}) },
      limits: { rpm: spec.limits?.rpm ?? null, tpm: spec.limits?.tpm ?? null, budgetUsd: spec.limits?.budgetUsd ?? null },
      rotatedFrom,
    },
  };
}

export async function issueKey(store: KeyStore, spec: KeySpec, roles?: RoleTable): Promise<IssuedKey> {
  const { key, record } = await newKey(spec, null, roles);
  return { key, record: await store.create(record) };
}

/** The first-start admin key, created only when the store holds no key at all. */
export async function issueBootstrapKey(store: KeyStore): Promise<IssuedKey | undefined> {
  const { key, record } = await newKey({ name: 'bootstrap-admin', role: 'admin' }, null);
  const created = await store.createIfEmpty(record);
  return created ? { key, record: created } : undefined;
}

/**
 * Replaces key `id` with a new key with the same name, user, role, scopes, limits and expiry.
 * The old key keeps working for `overlapMs` (0: revoked at once).
 */
export async function rotateKey(store: KeyStore, id: string, overlapMs: number, now = Date.now()): Promise<IssuedKey & { old: KeyRecord }> {
  const old = await store.get(id);
  if (!old) throw new KeyRequestError(`no key with id ${id}`);
  if (old.revokedAt !== null) throw new KeyRequestError(`key ${id} is revoked; create a new key instead`);
  const { key, record } = await newKey(
    { name: old.name, user: old.user, role: old.role, scopes: old.scopes, limits: old.limits, expiresAt: old.expiresAt },
    old.id,
  );
  const result = await store.rotate(id, record, now + overlapMs);
  return { key, record: result.replacement, old: result.old };
}
