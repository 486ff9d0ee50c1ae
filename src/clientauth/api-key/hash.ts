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
