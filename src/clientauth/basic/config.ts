import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';

/** `Authorization: Basic` for users created with `llmproxy users create`. Opt-in. */
export const basicConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Every Basic user needs a second factor (as `api_keys.require_totp` does for keys). */
    require_totp: z.boolean().default(false),
    /** How long a verified password is trusted without re-running argon2 (user changes apply at once). */
    cache_ttl: duration().prefault('10m'),
    /** How often the store is polled for user changes made by other processes. */
    change_poll: duration().prefault('1s'),
  })
  .prefault({});

export type BasicConfig = z.output<typeof basicConfigSchema>;
