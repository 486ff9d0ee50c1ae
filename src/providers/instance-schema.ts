import { z } from 'zod';
import { duration, endpointUrl, size } from '../config-fields/fields.js';
import { parsePathRule, type PathRule } from './transparent-path.js';

/** An allowlist entry in config, parsed to a PathRule. */
export const pathRuleSchema = z.string().transform((text, ctx): PathRule => {
  const rule = parsePathRule(text);
  if ('error' in rule) {
    ctx.addIssue({ code: 'custom', message: rule.error });
    return z.NEVER;
  }
  return rule;
});

export const timeoutsSchema = z.strictObject({
  connect: duration().optional(),
  first_byte: duration().optional(),
  idle: duration().optional(),
});

/**
 * `instances.X.limits`: limits that protect the instance's provider quota whichever key, user or
 * token calls it, on top of each caller's own; shared by every replica when `storage.redis` is set.
 *
 * @example
 * limits: { rpm: 500, tpm: 200000, budget_usd: 2000, concurrency: 20 }
 */
export const instanceLimitsSchema = z.strictObject({
  /** Requests per minute to this instance, all callers together (fixed one-minute windows). */
  rpm: z.number().int().positive().optional(),
  /** Tokens (input + output) per minute to this instance: admitted against an estimate, charged with the reported usage. */
  tpm: z.number().int().positive().optional(),
  /** Monthly spend on this instance in USD (UTC calendar month), priced as usage is. */
  budget_usd: z.number().positive().optional(),
  /** Requests in flight to this instance at once (a stream counts until it ends). */
  concurrency: z.number().int().positive().optional(),
});

export type InstanceLimits = z.output<typeof instanceLimitsSchema>;

/** Fields every instance accepts, whatever its provider. */
const commonShape = {
  default: z.boolean().default(false),
  /** Native routes reachable in transparent mode beyond the provider's inference routes. */
  allow_paths: z.array(pathRuleSchema).default([]),
  timeouts: timeoutsSchema.prefault({}),
  body_limit: size().optional(),
  limits: instanceLimitsSchema.optional(),
};

/**
 * The config schema of one provider's instances: the common fields, `endpoint` (unless the
 * provider has no configurable upstream), the provider's own fields and its `authentication`
 * union, all strict.
 */
export function instanceSchema<T extends string, S extends z.ZodRawShape, A extends z.ZodType>(
  type: T,
  shape: S,
  authentication: A,
) {
  return z.strictObject({
    type: z.literal(type),
    endpoint: endpointUrl().optional(),
    ...commonShape,
    ...shape,
    authentication,
  });
}

/** For providers whose upstream is built in (the demo): the same fields without `endpoint`. */
export function builtinInstanceSchema<T extends string, A extends z.ZodType>(type: T, authentication: A) {
  return z.strictObject({ type: z.literal(type), ...commonShape, authentication });
}
