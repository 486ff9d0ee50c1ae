import { z } from 'zod';
import { duration, secretRef } from '../config-fields/fields.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Config fields under `auth:` for Basic users, TOTP and sessions (spread into the auth schema).
 *
 * @example
 * auth:
 *   basic: { enabled: true }
 *   totp:
 *     encryption_key: ${env:LLMPROXY_TOTP_KEY}
 *     required_roles: [admin]
 *     lockout: 15m
 *   sessions: { ttl: 1h }
 */
export const LOCAL_AUTH_FIELDS = {
  /** `Authorization: Basic` for users created with `llmproxy users create`. Opt-in. */
  basic: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** Every Basic user needs a second factor (as `api_keys.require_totp` does for keys). */
      require_totp: z.boolean().default(false),
      /** How long a verified password is trusted without re-running argon2 (user changes apply at once). */
      cache_ttl: duration().prefault('10m'),
      /** How often the store is polled for user changes made by other processes. */
      change_poll: duration().prefault('1s'),
    })
    .prefault({}),
  totp: z
    .strictObject({
      /**
       * A secret reference (`${env:LLMPROXY_TOTP_KEY}`); when set, TOTP secrets are stored
       * encrypted with AES-256-GCM under a key derived from it. Without it they are stored as
       * they are (a warning is logged once).
       */
      encryption_key: secretRef().optional(),
      /** Principals with any of these roles need a second factor. */
      required_roles: z.array(z.string().min(1)).default([]),
      /** Wrong codes in a row before the subject's second factor is locked. */
      max_failures: z.number().int().min(1).max(100).default(5),
      /** How long a locked second factor stays locked. */
      lockout: duration().prefault('15m'),
    })
    .prefault({}),
  sessions: z
    .strictObject({
      /** `POST /auth/v1/session` exchanges a key (or Basic user) plus a TOTP code for a session token. */
      enabled: z.boolean().default(true),
      /** Lifetime of a session token (at most 24h). */
      ttl: duration()
        .prefault('1h')
        .refine((ms) => ms > 0 && ms <= DAY_MS, 'must be more than 0 and at most 24h'),
    })
    .prefault({}),
};
