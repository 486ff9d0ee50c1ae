import { z } from 'zod';
import { duration } from '../config-fields/fields.js';

/** The `upstream` section: timeouts for every instance that sets none of its own. */
export const upstreamSchema = z.strictObject({
  connect_timeout: duration().prefault('10s'),
  first_byte_timeout: duration().prefault('10m'),
  idle_timeout: duration().prefault('5m'),
});

export type UpstreamConfig = z.output<typeof upstreamSchema>;
