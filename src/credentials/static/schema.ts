import { z } from 'zod';
import { duration, secretRef } from '../../config-fields/fields.js';

/** `authentication: { type: api_key, api_key: "${...}" }`, shared by every key-based provider. */
export const apiKeyAuthSchema = z.strictObject({
  type: z.literal('api_key'),
  api_key: secretRef(),
  /** Overrides `secrets.refresh_interval` for this instance's secret. */
  refresh_interval: duration().optional(),
});

export type ApiKeyAuth = z.output<typeof apiKeyAuthSchema>;
