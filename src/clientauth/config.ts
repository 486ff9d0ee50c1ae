import { z } from 'zod';
import { duration } from '../config-fields/fields.js';
import { PERMISSIONS } from './rbac.js';
import { CLIENT_AUTH_KINDS } from './registry.js';

/** Each kind's `auth` section under its name, typed from the registry's tuple. */
type KindSections<Kinds extends ReadonlyArray<{ section: string; schema: z.ZodType }>> = { [K in Kinds[number] as K['section']]: K['schema'] };

function kindSections<Kinds extends ReadonlyArray<{ section: string; schema: z.ZodType }>>(kinds: Kinds): KindSections<Kinds> {
  // Object.fromEntries cannot know the keys; they are exactly the kinds' sections, as the type says.
  return Object.fromEntries(kinds.map((k) => [k.section, k.schema])) as KindSections<Kinds>;
}

/** The `auth` section: every client-auth kind's section (from the registry), and the failed-attempt throttle. */
export const authSchema = z.strictObject({
  /**
   * `required` (default): every request needs a credential one of the kinds accepts. `none`: local
   * development only; no credential is asked for and every request is an admin (clientauth/no-auth.ts).
   * Refused at startup unless every listener is on a loopback address. `AUTH_ENABLED=false` sets it.
   */
  mode: z.enum(['required', 'none']).default('required'),
  ...kindSections(CLIENT_AUTH_KINDS),
  failed_attempts: z
    .strictObject({
      /** Failed authentications per client address within `window` before 429. */
      limit: z.number().int().positive().default(20),
      window: duration().prefault('1m'),
      /** Slow credential checks (argon2 password hashes, key hashes) running at once for one client address; more wait their turn or get 429. */
      max_concurrent_per_client: z.number().int().positive().default(4),
      /** Slow credential checks running at once in the whole process (argon2 shares libuv's small thread pool with DNS and files). */
      max_concurrent: z.number().int().positive().default(32),
    })
    .prefault({}),
});

const roleName = z.string().regex(/^[a-z][a-z0-9_.:-]{0,62}$/, 'role names are lower case letters, digits, "_", ".", ":" and "-", starting with a letter');

/**
 * Who `rbac.assignments` names: an OIDC (or ALB) subject by issuer and `sub` as the gateway
 * identifies it (`oidc:<issuer>#<sub>`), a Basic user (`user:<name>`), or a bare user name that
 * matches a Basic user of that name or an OIDC identity whose `user_claim` value it is.
 */
function isAssignee(s: string): boolean {
  return /^(oidc|alb):https?:\/\/[^#\s]+#\S+$/.test(s) || /^user:[^\s:]+$/.test(s) || /^[^\s:]+$/.test(s);
}

/** Custom roles beside the built-in admin, developer and viewer, and roles given to named users and subjects. */
export const rbacSchema = z.strictObject({
  roles: z
    .record(roleName, z.strictObject({ permissions: z.array(z.enum(PERMISSIONS)).min(1) }))
    .default({})
    .superRefine((roles, ctx) => {
      for (const name of ['admin', 'developer', 'viewer']) {
        if (Object.hasOwn(roles, name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is a built-in role and cannot be redefined' });
      }
    }),
  /**
   * Roles given in config to OIDC subjects and Basic users, added to the roles their token's
   * claims or their stored record give them (never removing one).
   *
   * @example
   * assignments:
   *   "oidc:https://login.example.com#248289761001": [admin]
   *   "user:alice": [viewer]
   *   "bob@example.com": [developer]
   */
  assignments: z.record(z.string().min(1).max(512), z.array(z.string().min(1)).min(1)).default({}),
}).superRefine((rbac, ctx) => {
  for (const [who, names] of Object.entries(rbac.assignments)) {
    if (!isAssignee(who)) ctx.addIssue({ code: 'custom', path: ['assignments', who], message: 'must be "oidc:<issuer>#<sub>", "user:<name>" or a user name without ":"' });
    names.forEach((role, i) => {
      if (!['admin', 'developer', 'viewer'].includes(role) && !Object.hasOwn(rbac.roles, role)) {
        ctx.addIssue({ code: 'custom', path: ['assignments', who, i], message: `unknown role "${role}" (built in: admin, developer, viewer; or one of rbac.roles)` });
      }
    });
  }
});

export type AuthConfig = z.output<typeof authSchema>;
