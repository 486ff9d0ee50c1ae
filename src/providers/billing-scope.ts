import { GatewayError } from '../errors/gateway-error.js';

/**
 * Transparent mode's guard on what a request bills, for providers whose JSON body names the
 * project or compartment that pays (watsonx `project_id`/`space_id`, OCI `compartmentId`): the
 * gateway's credential may reach others, and a client must not use them through it.
 *
 * - A body naming the instance's value is forwarded byte for byte.
 * - A body naming another value, or a field of `exclusive` (another kind of billed resource), is
 *   refused with 403 `permission_denied`.
 * - On inference routes a body naming none gets the instance's inserted right after its opening
 *   brace (the other bytes untouched); there the body must be a JSON object (else 400).
 * - Bodies of routes an operator added (`allow_paths`) are checked the same way when they are
 *   JSON objects, but never filled in.
 * - A body repeating the field is refused (400): JSON.parse keeps the last, other parsers the
 *   first, and the gateway and the provider must agree on what is billed.
 *
 * @example
 * billingScopedBody({ field: 'compartmentId', value: ocid, kind: 'compartment' }, true, raw);
 */
export interface BillingScope {
  field: string;
  value: string;
  /** What the field names, for errors: `project`, `compartment`. */
  kind: string;
  /** Fields naming another kind of billed resource, refused outright (watsonx: `space_id`). */
  exclusive?: ReadonlyArray<{ field: string; kind: string }>;
}

export function billingScopedBody(scope: BillingScope, inference: boolean, body: Buffer | null): Buffer | null {
  if (body === null || body.length === 0) {
    if (inference) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
    return body;
  }
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    if (inference) throw new GatewayError('invalid_request', 'the request body is not valid JSON');
    return body;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    if (inference) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
    return body;
  }
  const fields = parsed as Record<string, unknown>;
  const { field, value, kind } = scope;
  for (const other of scope.exclusive ?? []) {
    if (Object.hasOwn(fields, other.field)) {
      throw new GatewayError('permission_denied', `this instance bills its own ${kind}: the request may not name a ${other.kind} ("${other.field}")`);
    }
  }
  if (Object.hasOwn(fields, field)) {
    if (fields[field] !== value) throw new GatewayError('permission_denied', `this instance bills its own ${kind}: "${field}" must be left out or name it`);
    if (mayRepeat(text, field) && topLevelKeys(text).filter((k) => k === field).length > 1) {
      throw new GatewayError('invalid_request', `"${field}" appears more than once in the request body`);
    }
    return body;
  }
  if (!inference) return body;
  const brace = text.indexOf('{'); // only whitespace (ASCII) can precede it: byte offset = character offset
  const insert = `${JSON.stringify(field)}:${JSON.stringify(value)}${Object.keys(fields).length > 0 ? ',' : ''}`;
  return Buffer.concat([body.subarray(0, brace + 1), Buffer.from(insert), body.subarray(brace + 1)]);
}

/**
 * False when `key` cannot occur twice at the top level: written without escapes it appears
 * literally as `"key"`, and only `\u` escapes can spell its letters otherwise.
 */
function mayRepeat(text: string, key: string): boolean {
  if (text.includes('\\u')) return true;
  const quoted = `"${key}"`;
  const first = text.indexOf(quoted);
  return first !== -1 && text.indexOf(quoted, first + quoted.length) !== -1;
}

/** The top-level keys of a JSON object text that JSON.parse accepted, in order, repeats kept. */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(start, i + 1)) as string);
      expectKey = false;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}
