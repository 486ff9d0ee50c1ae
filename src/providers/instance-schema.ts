import { z } from 'zod';
import { duration, endpointUrl, size } from '../config-fields/fields.js';
import { vaultDynamicProblem } from '../credentials/vault-dynamic-spelling.js';
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

/** Fields every instance accepts, whatever its provider. */
const commonShape = {
  default: z.boolean().default(false),
  /** Native routes reachable in transparent mode beyond the provider's inference routes. */
  allow_paths: z.array(pathRuleSchema).default([]),
  timeouts: timeoutsSchema.prefault({}),
  body_limit: size().optional(),
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
    authentication: seedSpellings(authentication),
  });
}

/** `authentication` refusing the seed's `type: vault_dynamic` with the block that replaces it. */
function seedSpellings<A extends z.ZodType>(authentication: A) {
  const accepted = authenticationTypes(authentication);
  return z.preprocess((block, ctx) => {
    const problem = vaultDynamicProblem(accepted, block);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['type'] });
    return block;
  }, authentication);
}

/** For providers whose upstream is built in (the demo): the same fields without `endpoint`. */
export function builtinInstanceSchema<T extends string, A extends z.ZodType>(type: T, authentication: A) {
  return z.strictObject({ type: z.literal(type), ...commonShape, authentication });
}

/** The `type` values an `authentication` union accepts (through `.prefault()` and similar wrappers). */
function authenticationTypes(schema: z.core.$ZodType): ReadonlySet<unknown> {
  for (let s: z.core.$ZodType | undefined = schema, depth = 0; s !== undefined && depth < 8; depth++) {
    const values = s._zod.propValues?.['type'];
    if (values !== undefined) return values;
    s = (s._zod.def as { innerType?: z.core.$ZodType }).innerType;
  }
  return new Set();
}
