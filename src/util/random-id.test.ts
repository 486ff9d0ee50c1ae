import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomId } from './random-id.js';

describe('randomId', () => {
  test('gives base64url ids of the asked length, all different, across many pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = randomId(12); // 5000 × 12 bytes: the 4 KiB pool is refilled about 15 times
      assert.match(id, /^[A-Za-z0-9_-]{16}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 5000);
    assert.match(randomId(7), /^[A-Za-z0-9_-]{10}$/);
  });

  test('refuses more than a pool slice can give', () => {
    assert.throws(() => randomId(257), RangeError);
  });
});
