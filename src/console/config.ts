import { z } from 'zod';
import { duration } from '../config-fields/fields.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Paths the gateway's own routes use: the console may not sit on or above them. */
const TAKEN = ['/admin/', '/auth/', '/v1/', '/openai/', '/anthropic/', '/transparent/', '/model/', '/bedrock/', '/health', '/ready', '/metrics'];

/**
 * `server.console`: the admin web console, served by the gateway at `path` (on by default).
 * Its sessions are cookies that end after `idle_timeout` without use or `absolute_timeout`
 * after sign-in, whichever comes first.
 */
export const consoleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    path: z
      .string()
      .regex(/^\/(?:[A-Za-z0-9._~-]+\/)+$/, 'must be a path such as /console/: starts and ends with "/", letters, digits and . _ ~ - between')
      .refine((p) => !TAKEN.some((t) => p.startsWith(t) || t.startsWith(p)), 'must not overlap a gateway route (/admin/, /v1/, /openai/, ...)')
      .default('/console/'),
    idle_timeout: duration()
      .prefault('30m')
      .refine((ms) => ms >= 60_000 && ms <= DAY_MS, 'must be from 1m to 24h'),
    absolute_timeout: duration()
      .prefault('12h')
      .refine((ms) => ms >= 60_000 && ms <= 7 * DAY_MS, 'must be from 1m to 7d'),
  })
  .prefault({});

export type ConsoleConfig = z.output<typeof consoleConfigSchema>;
