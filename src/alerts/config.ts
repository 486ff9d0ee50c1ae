import { z } from 'zod';
import { duration, secretRef } from '../config-fields/fields.js';

/**
 * The `alerts` section: usage anomaly detection (alerts/anomaly.ts) and where alerts are sent
 * besides the audit trail, the metrics and the log (alerts/webhook.ts). Every object is strict.
 *
 * @example
 * alerts:
 *   webhook_url: ${file:/run/secrets/alert-webhook}   # a secret reference: such URLs carry a token
 *   anomaly: { enabled: true, window: 1h, baseline: 7d, factor: 5, min_requests: 50 }
 */
const anomalySchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** How often the usage store is read and compared (in the background, never on a request). */
    interval: duration().prefault('5m'),
    /** The recent span compared: requests, tokens and cost of each key and user over the last `window`... */
    window: duration().prefault('1h'),
    /** ...against their average per `window` over the `baseline` before it. */
    baseline: duration().prefault('7d'),
    /** A measure is anomalous when the window's value is at least `factor` times the baseline's average. */
    factor: z.number().gt(1).default(5),
    /** A key or user with fewer requests than this in the window is never reported (quiet keys swing widely). */
    min_requests: z.number().int().nonnegative().default(50),
    /** Tokens (input + output) in the window below this never make the token measure anomalous. */
    min_tokens: z.number().int().nonnegative().default(0),
    /** Cost in the window below this (USD) never makes the cost measure anomalous. */
    min_cost_usd: z.number().nonnegative().default(0),
    /** After an alert, the same key or user is not reported again for this long (default: `window`), across every replica. */
    cooldown: duration().optional(),
  })
  .superRefine((a, ctx) => {
    if (a.baseline < a.window) ctx.addIssue({ code: 'custom', path: ['baseline'], message: 'must be at least as long as alerts.anomaly.window' });
  });

export const alertsSchema = z.strictObject({
  /** An https (or http) URL every alert is POSTed to as JSON; a secret reference, re-read before each delivery. */
  webhook_url: secretRef().optional(),
  /** Each delivery attempt gives up after this long. */
  webhook_timeout: duration().prefault('5s'),
  /** Attempts per alert (a network error, a timeout, 429 or 5xx is retried; other statuses are not). */
  webhook_attempts: z.number().int().min(1).max(10).default(4),
  /** Wait before the first retry; doubled before each further one. */
  webhook_retry_delay: duration().prefault('1s'),
  anomaly: anomalySchema.prefault({}),
});

/** The `alerts` section. */
export type AlertsConfig = z.output<typeof alertsSchema>;
export type AnomalyConfig = AlertsConfig['anomaly'];
