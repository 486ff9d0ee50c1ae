import { z } from 'zod';
import { duration } from '../config-fields/fields.js';
import { FEDERATED_AUTH_FIELDS } from './federated-config.js';
import { LOCAL_AUTH_FIELDS } from './local-config.js';
import { PERMISSIONS } from './rbac.js';

/** The `auth` section: API keys, failed attempts, then the local and federated client-auth kinds. */
export const authSchema = z.strictObject({
  api_keys: z
    .strictObject({
      enabled: z.boolean().default(true),
      require_totp: z.boolean().default(false),
      /** How long a verified key is trusted without a slow hash (revocations still apply at once). */
      cache_ttl: duration().prefault('10m'),
      /** How often the store is polled for revocations made by other processes. */
      revocation_poll: duration().prefault('1s'),
      /** Create and print one admin key on first start with an empty store. */
      bootstrap_admin: z.boolean().default(true),
    })
    .prefault({}),
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
  ...LOCAL_AUTH_FIELDS,
  ...FEDERATED_AUTH_FIELDS,
});

const roleName = z.string().regex(/^[a-z][a-z0-9_.:-]{0,62}$/, 'role names are lower case letters, digits, "_", ".", ":" and "-", starting with a letter');

/** Custom roles beside the built-in admin, developer and viewer. */
export const rbacSchema = z.strictObject({
  roles: z
    .record(roleName, z.strictObject({ permissions: z.array(z.enum(PERMISSIONS)).min(1) }))
    .default({})
    .superRefine((roles, ctx) => {
      for (const name of ['admin', 'developer', 'viewer']) {
        if (Object.hasOwn(roles, name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is a built-in role and cannot be redefined' });
      }
    }),
});

export type AuthConfig = z.output<typeof authSchema>;
