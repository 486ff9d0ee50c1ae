import { GatewayError } from '../errors/gateway-error.js';

/**
 * Transparent-mode path handling: the safety check on the client's native path, and the
 * per-provider allowlist of native routes.
 *
 * Paths are checked and matched in their raw (still percent-encoded) form and forwarded exactly
 * as received. Nothing is ever resolved: a path that could mean something else after decoding
 * (`..`, `%2e%2e`, `%2f`, `//`, backslashes) is refused outright, and an allowlist entry only
 * matches literal segments, so an encoded spelling of an allowed route is refused, never
 * widened.
 */

/** `[METHOD ]pattern`, pattern segments: literal, `*` (one segment), `**` (the rest; last only). */
export interface PathRule {
  readonly method: string | null;
  readonly segments: readonly string[];
  readonly source: string;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const LITERAL_SEGMENT = /^[A-Za-z0-9._~:@!$&'()+,;=-]+$/;

/** Parses an allowlist entry such as `POST v1/chat/completions` or `GET v1/models/*`. */
export function parsePathRule(text: string): PathRule | { error: string } {
  const parts = text.trim().split(/\s+/);
  if (parts.length > 2 || parts[0] === '') return { error: `"${text}" is not "[METHOD ]path"` };
  const method = parts.length === 2 ? parts[0]!.toUpperCase() : null;
  if (method !== null && !METHODS.has(method)) return { error: `"${parts[0]}" is not an HTTP method` };
  const pattern = parts[parts.length - 1]!.replace(/^\/+/, '');
  const segments = pattern.split('/');
  for (const [i, s] of segments.entries()) {
    if (s === '**' && i !== segments.length - 1) return { error: `"**" may only end a pattern ("${text}")` };
    if (s !== '*' && s !== '**' && (!LITERAL_SEGMENT.test(s) || s === '.' || s === '..')) {
      return { error: `segment "${s}" of "${text}" is not a plain path segment` };
    }
  }
  return { method, segments, source: text.trim() };
}

/** Parses rules written in code; a bad rule there is a programming error. */
export function rules(...texts: string[]): PathRule[] {
  return texts.map((t) => {
    const r = parsePathRule(t);
    if ('error' in r) throw new Error(r.error);
    return r;
  });
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
// Backslash, control characters, DEL, '#', and the encoded separators and NUL.
const FORBIDDEN = /[\\\x00-\x20\x7f#]|%(?:2f|5c|00)/i;
// The same, allowing `%2F` (for providers whose identifiers contain `/`, e.g. Bedrock ARNs).
const FORBIDDEN_BUT_ENCODED_SLASH = /[\\\x00-\x20\x7f#]|%(?:5c|00)/i;
const BAD_PERCENT = /%(?![0-9a-f]{2})/i;

/**
 * Checks the native path the client asked for (the part after `/transparent/{instance}`,
 * without the query) and returns its segments. Throws `invalid_path` (400) for anything that
 * could escape the instance's base path. With `allowEncodedSlash`, `%2F` may appear inside a
 * segment: it is forwarded as is and cannot split a segment at the gateway, which never decodes.
 */
export function checkNativePath(path: string, allowEncodedSlash = false): string[] {
  if (path.length < 2 || path.charCodeAt(0) !== 47 /* / */) {
    throw new GatewayError('invalid_path', 'a native API path is required after the instance name');
  }
  if ((allowEncodedSlash ? FORBIDDEN_BUT_ENCODED_SLASH : FORBIDDEN).test(path) || BAD_PERCENT.test(path) || path.includes('//')) {
    throw new GatewayError('invalid_path', 'the path contains a forbidden sequence (encoded slash, backslash, empty segment or control character)');
  }
  const segments = path.slice(1).split('/');
  for (const s of segments) {
    if (DOT_SEGMENT.test(s)) throw new GatewayError('invalid_path', 'the path contains a dot segment');
  }
  return segments;
}

/** The first rule matching `method` and `segments`, or undefined. */
export function matchPathRule(rulesList: readonly PathRule[], method: string, segments: readonly string[]): PathRule | undefined {
  for (const rule of rulesList) {
    if (rule.method !== null && rule.method !== method && !(rule.method === 'GET' && method === 'HEAD')) continue;
    if (segmentsMatch(rule.segments, segments)) return rule;
  }
  return undefined;
}

function segmentsMatch(pattern: readonly string[], segments: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '**') return segments.length > i && segments.slice(i).every((s) => s !== '');
    const s = segments[i];
    if (s === undefined) return false;
    if (p === '*' ? s === '' : p !== s) return false;
  }
  return pattern.length === segments.length;
}
