import { z } from 'zod';
import { duration, secretRef } from '../../config-fields/fields.js';

/** `auth.totp`: the second factor of keys, Basic users and roles that require one. */
export const totpConfigSchema = z
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
  .prefault({});

export type TotpConfig = z.output<typeof totpConfigSchema>;
