import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `bytes` random bytes (at most 256) as base64url, for ids made per request (`chatcmpl-...`).
 * Drawn from a pool refilled from the CSPRNG 4 KiB at a time, as node's randomUUID does: one
 * randomBytes call per id cost about 1.5% of the gateway's CPU in protocol mode.
 */
export function randomId(bytes: number): string {
  if (bytes > 256) throw new RangeError('randomId: at most 256 bytes');
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}
