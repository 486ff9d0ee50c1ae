import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase62 } from '../api-key/format.js';

/**
 * Session token format: `llms_<id>_<secret>` — `llms_` tells it apart from an API key (`llmp_`)
 * so the session authenticator can claim it without a look-up; `id` is 16 base62 characters
 * (public, names the session), `secret` 32 base62 characters (~190 bits from the CSPRNG).
 */
export const SESSION_PREFIX = 'llms_';
const SHAPE = /^llms_([0-9A-Za-z]{16})_([0-9A-Za-z]{32})$/;

export function newSessionToken(): { token: string; id: string; secret: string } {
  const id = randomBase62(16);
  const secret = randomBase62(32);
  return { token: `${SESSION_PREFIX}${id}_${secret}`, id, secret };
}

export function parseSessionToken(token: string): { id: string; secret: string } | undefined {
  const m = SHAPE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/**
 * SHA-256 of the secret part, hex. A fast hash is enough: the secret has ~190 bits of entropy,
 * so the stored hash cannot be reversed by guessing, and a fast hash lets every request compare
 * against the stored record without a verification cache.
 */
export function hashSessionSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function sessionSecretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSessionSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
