import { GatewayError } from '../errors/gateway-error.js';

/**
 * JSON the gateway parses in protocol mode, with its nesting bounded. `JSON.parse` itself copes
 * with any depth, but what comes after it does not: `JSON.stringify`, and any recursive walk,
 * throw a RangeError (a 500) past a few thousand levels. So a client body deeper than
 * `server.json_depth_limit` is refused before it is parsed (400), and provider answers and JSON
 * carried inside strings (tool-call arguments) are held to NESTED_JSON_DEPTH_LIMIT.
 */

/** The default of `server.json_depth_limit`: the deepest client body protocol mode parses. */
export const DEFAULT_JSON_DEPTH_LIMIT = 128;

/**
 * The deepest JSON accepted from a provider answer or stream event, and inside a client's
 * string that holds JSON (tool-call `arguments`). Deep enough for any real answer, shallow
 * enough that a client body (≤ 1000 levels, the config maximum) holding it still serialises.
 */
export const NESTED_JSON_DEPTH_LIMIT = 256;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * True when `text` nests arrays and objects more than `limit` levels deep (`{}` is one level).
 * One pass over the bytes, skipping string contents, so it costs what reading the body costs
 * and never recurses. It does not check that the text is JSON: `JSON.parse` does that after.
 * On UTF-8 bytes it is exact too: no byte of a multi-byte sequence is an ASCII character.
 *
 * @example
 * exceedsJsonDepth(Buffer.from('{"a":[[1]]}'), 3); // false
 * exceedsJsonDepth(Buffer.from('{"a":[[1]]}'), 2); // true
 */
export function exceedsJsonDepth(text: Uint8Array | string, limit: number): boolean {
  // Each level opens with one character: shorter text cannot nest deeper (most stream events).
  if (text.length <= limit) return false;
  // The structural characters are ASCII, so UTF-8 bytes scan as the characters do. One loop over
  // bytes (strings, the rarer case, are encoded first): a per-character accessor that served
  // both types cost 2-3 times more per byte.
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/** JSON that nests deeper than the parser was allowed to go. */
export class JsonTooDeep extends Error {
  override readonly name = 'JsonTooDeep';
  readonly limit: number;

  constructor(limit: number) {
    super(`JSON nested deeper than ${limit} levels`);
    this.limit = limit;
  }
}

/**
 * `JSON.parse` that first refuses text nested deeper than `limit` (JsonTooDeep); a SyntaxError
 * otherwise, as `JSON.parse` throws. For the callers that already turn any parse failure into
 * their own error.
 */
export function parseJsonWithin(text: Uint8Array | string, limit: number = NESTED_JSON_DEPTH_LIMIT): unknown {
  if (exceedsJsonDepth(text, limit)) throw new JsonTooDeep(limit);
  return JSON.parse(typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8'));
}

/**
 * A provider's JSON answer, parsed; a body that is not JSON, or nests deeper than
 * NESTED_JSON_DEPTH_LIMIT, is the provider's fault: 502 `upstream_error`. `T` is what the
 * caller hopes for, not a check: read the result defensively.
 */
export function parseProviderJson<T>(body: Buffer | string, provider: string): T {
  if (exceedsJsonDepth(body, NESTED_JSON_DEPTH_LIMIT)) {
    throw new GatewayError('upstream_error', `${provider} answered with JSON nested deeper than ${NESTED_JSON_DEPTH_LIMIT} levels`);
  }
  try {
    return JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as T;
  } catch (err) {
    throw new GatewayError('upstream_error', `${provider} answered with a body that is not JSON`, { cause: err });
  }
}

/** A provider's error body as JSON, or undefined when it is not JSON (a proxy's HTML page, say). */
export function errorBodyJson(body: Buffer | string): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A client's request body as a JSON value: 400 `invalid_request` when it nests deeper than
 * `limit` (`server.json_depth_limit`; checked before parsing) or is not JSON.
 */
export function parseClientJson(body: Buffer | null | undefined, limit: number): unknown {
  const bytes = body ?? Buffer.alloc(0);
  if (exceedsJsonDepth(bytes, limit)) {
    throw new GatewayError('invalid_request', `the request body nests JSON deeper than ${limit} levels, the gateway's limit (server.json_depth_limit)`);
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new GatewayError('invalid_request', 'the request body is not valid JSON');
  }
}
