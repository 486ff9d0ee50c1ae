import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';

/** `auth.api_keys`: gateway API keys, the kind that also decides requests presenting no credential. */
export const apiKeysConfigSchema = z
  .strictObject({
    /**
     * false: every API key is refused (401, audited as `api_keys_disabled`), the bootstrap admin
     * key included, and none is created; for deployments that use only OIDC, Kubernetes or Basic.
     */
    enabled: z.boolean().default(true),
    require_totp: z.boolean().default(false),
    /** How long a verified key is trusted without a slow hash (revocations still apply at once). */
    cache_ttl: duration().prefault('10m'),
    /** How often the store is polled for revocations made by other processes. */
    revocation_poll: duration().prefault('1s'),
    /** Create and print one admin key on first start with an empty store. */
    bootstrap_admin: z.boolean().default(true),
    /** The longest a key may live, counted from its creation (the seed's 90-day rotation); none when absent. */
    max_age: duration()
      .refine((ms) => ms > 0, 'must be longer than 0')
      .optional(),
    /** What a key older than `max_age` gets: `refuse` (401, audited `key_too_old`) or `warn` (served, with a log line and a response header). */
    on_max_age: z.enum(['refuse', 'warn']).default('warn'),
    /** Within this of a key's end (its expiry, or creation + max_age if sooner), responses carry `X-LLMProxy-Key-Expires` and a log line says so. */
    warn_before: duration().prefault('14d'),
  })
  .prefault({});
export type ApiKeysConfig = z.output<typeof apiKeysConfigSchema>;
