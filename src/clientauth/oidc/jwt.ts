/**
 * Unverified look at a compact JWT, used only to decide which authenticator and which issuer
 * configuration should verify it. Nothing read here is trusted until the signature is checked.
 */
export interface PeekedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `iss` when it is a string. */
  iss: string | undefined;
}

const SEGMENT = /^[A-Za-z0-9_-]+={0,2}$/;
/** Longer tokens are not JWTs we accept (a header of this size is an attack, not an ID token). */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Decodes header and payload of a compact JWS (three base64url segments; `=` padding tolerated,
 * as AWS ALB emits it), or returns undefined when `token` does not have that shape or the header
 * has no string `alg`.
 */
export function peekJwt(token: string): PeekedJwt | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  if (!SEGMENT.test(h) || !SEGMENT.test(p) || (s !== '' && !SEGMENT.test(s))) return undefined;
  const header = decodeJsonSegment(h);
  if (header === undefined || typeof header['alg'] !== 'string') return undefined;
  const payload = decodeJsonSegment(p);
  if (payload === undefined) return undefined;
  return { header, payload, iss: typeof payload['iss'] === 'string' ? payload['iss'] : undefined };
}

export function decodeJsonSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment.replace(/=+$/, ''), 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1). */
export function bearerToken(authorization: string | string[] | undefined): string | undefined {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  if (value === undefined || value.length <= 7 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7).trim();
  return token === '' ? undefined : token;
}
