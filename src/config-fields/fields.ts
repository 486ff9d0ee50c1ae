import { z } from 'zod';
import { parseSecretRef } from '../secrets/ref.js';
import { SECRET_STORES } from '../secrets/registry.js';
import { parseDuration, parseSize } from './units.js';

/** A duration string (`500ms`, `2s`, `5m`, `24h`, `30d`), parsed to milliseconds. */
export function duration() {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be a duration with a unit, such as 500ms, 2s, 5m, 24h or 30d (got "${text}")` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A size: bytes as a number, or a string such as `512kb`, `10mb`; parsed to bytes. */
export function size() {
  return z.union([
    z.number().int().positive(),
    z.string().transform((text, ctx) => {
      const bytes = parseSize(text);
      if (bytes === undefined || bytes <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a size such as 512kb or 10mb (got "${text}")` });
        return z.NEVER;
      }
      return bytes;
    }),
  ]);
}

const LITERAL_SECRET =
  'a literal secret is refused: keep it in a secret store and reference it, e.g. "${env:NAME}" or "${file:/run/secrets/name}"';

/**
 * The fields whose `${...}` references belong to the secret machinery (resolved, refreshed and
 * scrubbed by `SecretResolver`). `${env:NAME}` in every other string field is expanded once when
 * the config loads (expand.ts), so a field the resolver reads must be registered here.
 */
export const SECRET_FIELDS = z.registry<{ secret: true }>();

/** Registers `schema` as a field the secret machinery resolves (see SECRET_FIELDS). */
export function secretField<T extends z.ZodType>(schema: T): T {
  SECRET_FIELDS.add(schema, { secret: true });
  return schema;
}

/** Whether `schema` (or the schema it was derived from) is a secret field. */
export function isSecretField(schema: z.core.$ZodType): boolean {
  return SECRET_FIELDS.get(schema)?.secret === true;
}

/** A field that holds a secret: only a reference to a supported store, valid for that store, is accepted. */
export function secretRef() {
  const reference = z.string().superRefine((text, ctx) => {
    const ref = parseSecretRef(text);
    if (!ref) {
      ctx.addIssue({ code: 'custom', message: LITERAL_SECRET });
      return;
    }
    const store = SECRET_STORES.get(ref.scheme);
    if (!store) {
      ctx.addIssue({
        code: 'custom',
        message: `unsupported secret store "${ref.scheme}" (supported: ${[...SECRET_STORES.keys()].join(', ')})`,
      });
      return;
    }
    // The store's own syntax check, so a malformed reference fails the load naming its field.
    const problem = store.validate(ref);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
  return secretField(reference);
}

/** An http(s) origin plus optional base path: no query, fragment or embedded credentials. */
export function endpointUrl() {
  return z.string().transform((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      // Echo the text without any userinfo: "https://user:pass@..." must not reach an error.
      ctx.addIssue({ code: 'custom', message: `must be an absolute http(s) URL (got "${text.replace(/\/\/.*@/, '//***@')}")` });
      return z.NEVER;
    }
    const problems: string[] = [];
    if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('scheme must be http or https');
    if (url.username || url.password) problems.push('credentials in the URL are refused; use authentication');
    if (url.search || url.hash) problems.push('no query string or fragment');
    if (problems.length > 0) {
      ctx.addIssue({ code: 'custom', message: problems.join('; ') });
      return z.NEVER;
    }
    return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
  });
}

export type Endpoint = { origin: string; basePath: string };
