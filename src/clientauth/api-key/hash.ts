import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

/**
 * The slow hash of a key's secret: argon2id with OWASP's minimum parameters (19 MiB, 2 passes,
 * 1 lane). The secret already carries ~190 bits of entropy; the hash is there so a copy of the
 * database yields nothing usable. Verification runs once per key and process, then the
 * in-memory verification cache answers (see ApiKeyVerifier).
 */
const PARAMS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashSecret(secret: string): Promise<string> {
  return argon2.hash(secret, PARAMS);
}

export async function verifySecret(hash: string, secret: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, secret);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/**
 * The hash of a random secret nobody knows, with the same algorithm and parameters as real ones,
 * made once per process (the key verifier's `start` makes it, so no request pays for it). An
 * unknown key id or user name is verified against it, so it costs as much time as a wrong secret
 * and response times do not tell which ids or names exist.
 */
export function dummySecretHash(): Promise<string> {
  dummy ??= hashSecret(randomBytes(32).toString('base64url'));
  return dummy;
}
