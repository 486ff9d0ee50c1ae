import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Gateway API key format: `llmp_<id>_<secret><checksum>`.
 *
 * - `llmp_` makes a leaked key recognisable (secret scanners: `llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}`).
 * - `id`: 12 base62 characters, public: it names the key in lists, logs and the audit trail.
 * - `secret`: 32 base62 characters, about 190 bits from the CSPRNG; stored only as a slow hash.
 * - `checksum`: CRC-32 of everything before it, 6 base62 characters, so a mistyped or truncated
 *   key is refused without a store look-up, and a scanner can tell a real key from noise
 *   (the same scheme as GitHub's tokens).
 */
export const KEY_PREFIX = 'llmp_';
const ID_LENGTH = 12;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_LENGTH = KEY_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = new RegExp(`^${KEY_PREFIX}([0-9A-Za-z]{${ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`);

export interface ParsedKey {
  id: string;
  secret: string;
}

/** Uniform random base62 (rejection sampling: bytes >= 248 are discarded, so no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function newKeyId(): string {
  return randomBase62(ID_LENGTH);
}

/** A new key for `id`: the full key string (shown once) and its secret part (to be hashed). */
export function generateKey(id = newKeyId()): { key: string; id: string; secret: string } {
  const secret = randomBase62(SECRET_LENGTH);
  const body = `${KEY_PREFIX}${id}_${secret}`;
  return { key: body + checksum(body), id, secret };
}

/** The id and secret of a well-formed key with a valid checksum; undefined otherwise. */
export function parseKey(key: string): ParsedKey | undefined {
  if (key.length !== KEY_LENGTH) return undefined;
  const m = SHAPE.exec(key);
  if (!m) return undefined;
  const body = key.slice(0, KEY_LENGTH - CHECKSUM_LENGTH);
  if (checksum(body) !== m[3]) return undefined;
  return { id: m[1]!, secret: m[2]! };
}
