import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';

/** `auth.api_keys`: gateway API keys, the kind that also decides requests presenting no credential. */
export const apiKeysConfigSchema = z
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
  .prefault({});

export type ApiKeysConfig = z.output<typeof apiKeysConfigSchema>;
