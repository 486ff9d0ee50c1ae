import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** `auth.sessions`: session tokens exchanged at `POST /auth/v1/session`. */
export const sessionConfigSchema = z
  .strictObject({
    /** `POST /auth/v1/session` exchanges a key (or Basic user) plus a TOTP code for a session token. */
    enabled: z.boolean().default(true),
    /** Lifetime of a session token (at most 24h). */
    ttl: duration()
      .prefault('1h')
      .refine((ms) => ms > 0 && ms <= DAY_MS, 'must be more than 0 and at most 24h'),
  })
  .prefault({});

export type SessionConfig = z.output<typeof sessionConfigSchema>;
