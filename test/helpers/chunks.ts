/**
 * Ways to cut a byte stream into chunks, for decoders whose result must not depend on where
 * the network split their input.
 *
 * @example
 * for (const seed of [1, 2, 3]) assert.deepEqual(decodeAll(randomChunks(bytes, seed)), expected);
 */

/** A small deterministic PRNG (mulberry32), so a failing split can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `bytes` cut at random points into chunks of 1 to `max` bytes. */
export function randomChunks(bytes: Uint8Array, seed: number, max = 64): Uint8Array[] {
  const random = prng(seed);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(random() * max);
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/** `bytes` cut at `offsets` (taken modulo length + 1, any order; a repeated offset gives an empty chunk). */
export function cutAt<T extends Uint8Array>(bytes: T, offsets: readonly number[]): T[] {
  const points = offsets.map((o) => o % (bytes.length + 1)).sort((a, b) => a - b);
  const out: T[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p) as T);
    from = p;
  }
  out.push(bytes.subarray(from) as T);
  return out;
}
