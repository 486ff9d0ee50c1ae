import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { KEY_PREFIX, generateKey, newKeyId, parseKey, randomBase62 } from './format.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** The documented scanner pattern (format.ts), anchored. */
const SCANNER = /^llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/;

/** An independent implementation of the documented checksum: CRC-32 of the body, 6 base62 digits, most significant first. */
function checksumOf(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = BASE62[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out;
}

describe('gateway API key format', () => {
  test('a generated key parses back to its id and secret', () => {
    for (let i = 0; i < 200; i++) {
      const { key, id, secret } = generateKey();
      assert.deepEqual(parseKey(key), { id, secret });
    }
  });

  test('a generated key has the documented shape and checksum', () => {
    const { key, id, secret } = generateKey();
    assert.ok(key.startsWith(KEY_PREFIX));
    assert.equal(KEY_PREFIX, 'llmp_');
    assert.match(key, SCANNER);
    assert.equal(id.length, 12);
    const body = `llmp_${id}_${secret}`;
    assert.equal(key, body + checksumOf(body));
  });

  test('generateKey(id) keeps the given id', () => {
    const id = newKeyId();
    assert.match(id, /^[0-9A-Za-z]{12}$/);
    const { key, id: kept } = generateKey(id);
    assert.equal(kept, id);
    assert.equal(parseKey(key)?.id, id);
  });

  test('the secret carries at least 128 bits from a uniform base62 source', () => {
    const secrets = Array.from({ length: 1000 }, () => generateKey().secret);
    for (const s of secrets) {
      assert.match(s, /^[0-9A-Za-z]+$/);
      assert.ok(s.length * Math.log2(62) >= 128, `${s.length} base62 characters are ${s.length * Math.log2(62)} bits`);
    }
    assert.equal(new Set(secrets).size, secrets.length, 'no repeats');
    // Every one of the 62 symbols is used (a hex or lower-case-only secret would carry fewer bits).
    const used = new Set(secrets.join(''));
    assert.equal(used.size, 62);
  });

  test('randomBase62 returns exactly the requested length from the alphabet', () => {
    for (const n of [0, 1, 7, 32, 100, 1000]) {
      const s = randomBase62(n);
      assert.equal(s.length, n);
      assert.match(s, /^[0-9A-Za-z]*$/);
    }
  });

  test('any single-character change anywhere is refused', () => {
    const { key } = generateKey();
    const alphabet = `${BASE62}_-.+/= `;
    let tried = 0;
    for (let i = 0; i < key.length; i++) {
      for (const c of alphabet) {
        if (c === key[i]) continue;
        const changed = key.slice(0, i) + c + key.slice(i + 1);
        assert.equal(parseKey(changed), undefined, `changed position ${i} to "${c}": ${changed}`);
        tried++;
      }
    }
    assert.ok(tried > key.length * 60);
  });

  test('two adjacent characters swapped are refused', () => {
    const { key } = generateKey();
    for (let i = 0; i < key.length - 1; i++) {
      if (key[i] === key[i + 1]) continue;
      const swapped = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2);
      assert.equal(parseKey(swapped), undefined, `swapped ${i} and ${i + 1}`);
    }
  });

  test('truncated and extended keys are refused', () => {
    const { key } = generateKey();
    for (let n = 0; n < key.length; n++) assert.equal(parseKey(key.slice(0, n)), undefined, `first ${n} characters`);
    for (let n = 1; n < key.length; n++) assert.equal(parseKey(key.slice(n)), undefined, `without the first ${n}`);
    assert.equal(parseKey(`${key}a`), undefined);
    assert.equal(parseKey(` ${key}`), undefined);
    assert.equal(parseKey(`${key}\n`), undefined);
  });

  test('a key with another prefix is refused, even with a checksum valid for its body', () => {
    const { id, secret } = generateKey();
    for (const prefix of ['llmx_', 'LLMP_', 'sk_l_', 'lmp__']) {
      const body = `${prefix}${id}_${secret}`;
      assert.equal(parseKey(body + checksumOf(body)), undefined, prefix);
    }
    // The same construction with the right prefix is accepted: the refusal above is the prefix.
    const body = `llmp_${id}_${secret}`;
    assert.deepEqual(parseKey(body + checksumOf(body)), { id, secret });
  });

  test('a body with a correct checksum but the wrong layout is refused', () => {
    const { id, secret } = generateKey();
    // The separator moved: same length, valid checksum, wrong id length.
    const body = `llmp_${id}${secret[0]}_${secret.slice(1)}`;
    assert.equal(parseKey(body + checksumOf(body)), undefined);
  });

  test('garbage is refused', () => {
    for (const s of ['', 'llmp_', 'Bearer llmp_x', 'sk-proj-abc', 'x'.repeat(56)]) assert.equal(parseKey(s), undefined, s);
  });
});
