/**
 * Roles and permissions (seed 003/002): `llm:read` lists models, `llm:write` calls them,
 * `llm:admin` the admin API, `secrets:*` credential administration, `metrics:read` /metrics when
 * it requires authentication. Every route declares the permission it needs.
 */
export type Permission = 'llm:read' | 'llm:write' | 'llm:admin' | 'secrets:read' | 'secrets:write' | 'metrics:read';

export const BUILTIN_ROLES: Readonly<Record<string, ReadonlySet<Permission>>> = {
  admin: new Set<Permission>(['llm:read', 'llm:write', 'llm:admin', 'secrets:read', 'secrets:write', 'metrics:read']),
  developer: new Set<Permission>(['llm:read', 'llm:write']),
  viewer: new Set<Permission>(['llm:read', 'metrics:read']),
};

export const DEFAULT_ROLE = 'developer';

export function isKnownRole(role: string): boolean {
  return Object.hasOwn(BUILTIN_ROLES, role);
}

export function hasPermission(roles: readonly string[], permission: Permission): boolean {
  // hasOwn: a role named after an Object.prototype member (`constructor`) must not be looked up.
  for (const r of roles) if (Object.hasOwn(BUILTIN_ROLES, r) && BUILTIN_ROLES[r]!.has(permission)) return true;
  return false;
}

/** Reading (GET, HEAD) needs `llm:read`; anything else on an inference route `llm:write`. */
export function inferencePermission(method: string): Permission {
  return method === 'GET' || method === 'HEAD' ? 'llm:read' : 'llm:write';
}
