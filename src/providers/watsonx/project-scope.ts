import { GatewayError } from '../../errors/gateway-error.js';
import type { WatsonxScope } from './openai_to_watsonx.js';

/**
 * Transparent mode's guard on what a watsonx request bills. Every watsonx inference call names
 * the project or deployment space that pays for it in its JSON body (`project_id` / `space_id`),
 * and the gateway's IAM token may well reach other projects than the instance's: a client must
 * not be able to bill one of those with it.
 *
 * - A body that names the instance's project (or space) is forwarded byte for byte.
 * - A body that names another project, or a space when the instance bills a project (and the
 *   reverse), is refused with 403 `permission_denied`.
 * - On the inference routes (`ml/v1/text/...`) a body that names neither gets the instance's
 *   inserted right after its opening brace (the rest of the bytes untouched), so clients need
 *   not know the project; such a body must be a JSON object (else 400).
 * - Bodies of other routes an operator allowed (`allow_paths`) are checked the same way when they
 *   are JSON objects, but never filled in.
 *
 * JSON.parse keeps the last of duplicate keys while other parsers keep the first, so a body
 * repeating the key (`{"project_id":"other","project_id":"ours"}`) is refused (400) rather than
 * trusted: the gateway and watsonx must agree on what is billed.
 *
 * @example
 * const body = scopedBody({ project_id: 'p-1' }, ['ml', 'v1', 'text', 'chat'], raw);
 */
export function scopedBody(scope: WatsonxScope, segments: readonly string[], body: Buffer | null): Buffer | null {
  if (body === null || body.length === 0) return body;
  const inference = segments[0] === 'ml' && segments[1] === 'v1' && segments[2] === 'text';
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
  const [own, other, value] = 'project_id' in scope ? (['project_id', 'space_id', scope.project_id] as const) : (['space_id', 'project_id', scope.space_id] as const);
  const kind = own === 'project_id' ? 'project' : 'deployment space';
  if (Object.hasOwn(fields, other)) {
    throw new GatewayError('permission_denied', `this instance bills its own ${kind}: the request may not name a ${other === 'project_id' ? 'project' : 'deployment space'} ("${other}")`);
  }
  if (Object.hasOwn(fields, own)) {
    if (fields[own] !== value) throw new GatewayError('permission_denied', `this instance bills its own ${kind}: "${own}" must be left out or name it`);
    if (mayRepeat(text, own) && topLevelKeys(text).filter((k) => k === own).length > 1) {
      throw new GatewayError('invalid_request', `"${own}" appears more than once in the request body`);
    }
    return body;
  }
  if (!inference) return body;
  const brace = text.indexOf('{'); // only whitespace (ASCII) can precede it: byte offset = character offset
  const insert = `${JSON.stringify(own)}:${JSON.stringify(value)}${Object.keys(fields).length > 0 ? ',' : ''}`;
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
