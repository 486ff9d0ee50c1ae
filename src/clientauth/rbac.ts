/**
 * Roles and permissions (seed 003/002): `llm:read` lists models, `llm:write` calls them,
 * `llm:admin` changes through the admin API, `admin:read` reads it (keys, users, usage, audit,
 * lockdown; what the console's viewer sees), `secrets:*` credential administration (read:
 * credential health; write: refresh a credential now), `metrics:read` /metrics when it requires
 * authentication. Every route declares the permission it needs. `llm:admin` implies `admin:read`,
 * so a custom role written before `admin:read` existed keeps reading what it could.
 */
export const PERMISSIONS = ['llm:read', 'llm:write', 'llm:admin', 'admin:read', 'secrets:read', 'secrets:write', 'metrics:read'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const BUILTIN_ROLES: Readonly<Record<string, ReadonlySet<Permission>>> = {
  admin: new Set<Permission>(['llm:read', 'llm:write', 'llm:admin', 'admin:read', 'secrets:read', 'secrets:write', 'metrics:read']),
  developer: new Set<Permission>(['llm:read', 'llm:write']),
  viewer: new Set<Permission>(['llm:read', 'admin:read', 'secrets:read', 'metrics:read']),
};

export const DEFAULT_ROLE = 'developer';

/**
 * The roles a gateway knows: the built-in three plus the custom roles of `rbac.roles` in the
 * config. Keys, users, OIDC claims and service accounts name roles; a route asks the table
 * whether any of a principal's roles grants its permission. `rbac.assignments` adds roles to
 * named OIDC subjects and users ({@link withAssigned}).
 *
 * @example
 * const roles = new RoleTable({ auditor: ['llm:read', 'secrets:read'] }, { 'user:alice': ['auditor'] });
 * roles.grants(['auditor'], 'secrets:read'); // true
 * roles.withAssigned('user:alice', 'alice', ['developer']); // ['developer', 'auditor']
 */
export class RoleTable {
  readonly #roles: Map<string, ReadonlySet<Permission>>;
  readonly #assignments: ReadonlyMap<string, readonly string[]>;

  constructor(custom: Readonly<Record<string, readonly Permission[]>> = {}, assignments: Readonly<Record<string, readonly string[]>> = {}) {
    this.#roles = new Map(Object.entries(BUILTIN_ROLES));
    for (const [name, permissions] of Object.entries(custom)) {
      if (this.#roles.has(name)) throw new Error(`role "${name}" is built in and cannot be redefined`);
      this.#roles.set(name, new Set(permissions.includes('llm:admin') ? [...permissions, 'admin:read'] : permissions));
    }
    for (const [who, names] of Object.entries(assignments)) {
      for (const role of names) if (!this.#roles.has(role)) throw new Error(`rbac.assignments."${who}": unknown role "${role}"`);
    }
    this.#assignments = new Map(Object.entries(assignments));
  }

  /** The table of a config's `rbac.roles` and `rbac.assignments`. */
  static fromConfig(roles: Readonly<Record<string, { permissions: readonly Permission[] }>>, assignments: Readonly<Record<string, readonly string[]>> = {}): RoleTable {
    return new RoleTable(Object.fromEntries(Object.entries(roles).map(([name, r]) => [name, r.permissions])), assignments);
  }

  /**
   * `roles` plus what `rbac.assignments` gives the principal: under its id (`oidc:<issuer>#<sub>`
   * for OIDC, `user:<name>` for a Basic user) and under its user name. The same array when
   * nothing is assigned. Called when a principal is made, never per request.
   */
  withAssigned(principalId: string, user: string | null, roles: readonly string[]): readonly string[] {
    if (this.#assignments.size === 0) return roles;
    const extra = [...(this.#assignments.get(principalId) ?? []), ...(user === null ? [] : (this.#assignments.get(user) ?? []))].filter((r) => !roles.includes(r));
    return extra.length === 0 ? roles : [...roles, ...new Set(extra)];
  }

  isKnown(role: string): boolean {
    return this.#roles.has(role);
  }

  get names(): string[] {
    return [...this.#roles.keys()];
  }

  /** Every permission any of `roles` grants (the console shows only the controls they allow). */
  permissions(roles: readonly string[]): Permission[] {
    return PERMISSIONS.filter((p) => this.grants(roles, p));
  }

  grants(roles: readonly string[], permission: Permission): boolean {
    for (const r of roles) if (this.#roles.get(r)?.has(permission)) return true;
    return false;
  }
}

/** The built-in roles only (no config): the CLI without a config, and tests. */
export const BUILTIN_ROLE_TABLE = new RoleTable();

export function isKnownRole(role: string, table: RoleTable = BUILTIN_ROLE_TABLE): boolean {
  return table.isKnown(role);
}

export function hasPermission(roles: readonly string[], permission: Permission, table: RoleTable = BUILTIN_ROLE_TABLE): boolean {
  return table.grants(roles, permission);
}

/** Reading (GET, HEAD) needs `llm:read`; anything else on an inference route `llm:write`. */
export function inferencePermission(method: string): Permission {
  return method === 'GET' || method === 'HEAD' ? 'llm:read' : 'llm:write';
}
