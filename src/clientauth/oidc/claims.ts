import type { RoleTable } from '../rbac.js';

/**
 * The value of a claim: the exact name first (`cognito:groups`, `https://example.com/roles`),
 * else a dotted path into nested objects (`realm_access.roles`, `resource_access.llmproxy.roles`).
 */
export function claimAt(payload: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** String claim values: a list's strings, or a single string as one value. */
export function claimValues(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * Turns claim values into gateway roles (DESIGN.md "Pinned details": values are role names,
 * optionally renamed by `role_map`). Unknown values are dropped; `defaultRole` applies when
 * nothing is left.
 *
 * @example
 * mapRoles(['llm-admins', 'viewer', 'other'], { 'llm-admins': 'admin' }, undefined, roles) // ['admin', 'viewer']
 */
export function mapRoles(
  values: readonly string[],
  roleMap: Readonly<Record<string, string>>,
  defaultRole: string | undefined,
  table: RoleTable,
): string[] {
  const out = new Set<string>();
  for (const v of values) {
    const role = Object.hasOwn(roleMap, v) ? roleMap[v]! : v;
    if (table.isKnown(role)) out.add(role);
  }
  if (out.size === 0 && defaultRole !== undefined) out.add(defaultRole);
  return [...out];
}

/** Checks at start-up that every role a mapping names exists; throws naming the config path. */
export function checkRoleNames(path: string, roleMap: Readonly<Record<string, string>>, defaultRole: string | undefined, table: RoleTable): void {
  for (const [value, role] of Object.entries(roleMap)) {
    if (!table.isKnown(role)) throw new Error(`${path}.role_map.${value}: unknown role "${role}" (known: ${table.names.join(', ')})`);
  }
  if (defaultRole !== undefined && !table.isKnown(defaultRole)) {
    throw new Error(`${path}.default_role: unknown role "${defaultRole}" (known: ${table.names.join(', ')})`);
  }
}

/** Does the payload carry `expected` in `claim` (equal, or contained in a list)? */
export function claimMatches(payload: Record<string, unknown>, claim: string, expected: string | number | boolean): boolean {
  const v = claimAt(payload, claim);
  return Array.isArray(v) ? v.includes(expected) : v === expected;
}
