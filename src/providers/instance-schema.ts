import { z } from 'zod';
import { duration, endpointUrl, secretField, secretRef, size } from '../config-fields/fields.js';
import { parseSecretRef } from '../secrets/ref.js';
import { reservedUpstreamHeader } from '../upstream/headers.js';
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

/** An HTTP field name (RFC 9110 §5.6.2 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * One value of an instance's `headers`: a literal (not a secret: a tenant id, a routing tag), or
 * a secret reference, resolved, refreshed and scrubbed like an `api_key`. A registered secret
 * field, so `${env:...}` here is left to the secret machinery rather than expanded at load.
 */
function headerValue() {
  const reference = secretRef();
  const field = z.string().superRefine((text, ctx) => {
    if (parseSecretRef(text) !== undefined) {
      for (const issue of reference.safeParse(text).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message });
    } else if (text.includes('${')) {
      ctx.addIssue({ code: 'custom', message: 'must be a literal value or one whole secret reference such as "${env:TENANT_TOKEN}"' });
    } else if (/[\r\n\0]/.test(text)) {
      ctx.addIssue({ code: 'custom', message: 'a header value cannot contain line breaks or NUL' });
    }
  });
  return secretField(field);
}

/**
 * `headers: { Name: value }`: sent on every upstream request of the instance, in every mode.
 * Refused: names that are not HTTP field names, the same name twice (in any case), and the
 * headers the gateway sets itself (the credential, signatures, framing: reservedUpstreamHeader).
 */
export const upstreamHeadersSchema = z.record(z.string(), headerValue()).superRefine((headers, ctx) => {
  const seen = new Set<string>();
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    const reserved = reservedUpstreamHeader(name);
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not an HTTP header name' });
    else if (reserved !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: `cannot be set here: ${reserved}` });
    else if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: [name], message: 'is set twice (header names are case-insensitive)' });
    seen.add(lower);
  }
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
  headers: upstreamHeadersSchema.default({}),
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
