import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { URI } from 'otpauth';
import { backupCodeHashes, findBackupCode, newBackupCode, newTotpSecret, normaliseBackupCode, totpFor } from './codes.js';
import { TotpSecretBox } from './secret-box.js';

describe('TOTP secrets, URIs and backup codes', () => {
  test('the otpauth:// URI is what authenticator apps expect (issuer, label, SHA1, 6 digits, 30 s)', () => {
    const secret = newTotpSecret();
    assert.match(secret, /^[A-Z2-7]{32}$/, '160 bits in base32');
    const uri = totpFor(secret, 'ci bot').toString();
    const url = new URL(uri);
    assert.equal(url.protocol, 'otpauth:');
    assert.equal(url.host, 'totp');
    assert.equal(decodeURIComponent(url.pathname), '/llmproxy:ci bot');
    assert.equal(url.searchParams.get('issuer'), 'llmproxy');
    assert.equal(url.searchParams.get('secret'), secret);
    assert.equal(url.searchParams.get('algorithm'), 'SHA1');
    assert.equal(url.searchParams.get('digits'), '6');
    assert.equal(url.searchParams.get('period'), '30');
    // Parsed back by otpauth it yields the same codes.
    const parsed = URI.parse(uri);
    const t = Date.UTC(2026, 5, 1);
    assert.equal(parsed.generate({ timestamp: t } as never), totpFor(secret).generate({ timestamp: t }));
  });

  test('backup codes: printed as xxxx-xxxx-xxxx, stored as salted HMACs that match only their code', () => {
    const codes = Array.from({ length: 10 }, newBackupCode);
    for (const c of codes) assert.match(c, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    const stored = backupCodeHashes(codes);
    assert.equal(new Set(stored.map((s) => s.salt)).size, 10, 'a salt per code');
    for (const s of stored) assert.ok(!codes.some((c) => s.hash.includes(c.replace(/-/g, ''))));
    codes.forEach((c, i) => assert.equal(findBackupCode(normaliseBackupCode(c)!, stored), i));
    assert.equal(findBackupCode(normaliseBackupCode(newBackupCode())!, stored), undefined);
    assert.equal(normaliseBackupCode('ABCD EFGH-JKMN'), 'abcdefghjkmn');
    assert.equal(normaliseBackupCode('abcd-efgh-jkm0'), undefined, '0 is not in the alphabet');
    assert.equal(normaliseBackupCode('123456'), undefined);
  });

  test('secrets at rest: AES-256-GCM bound to the subject when a key is configured, plain otherwise', () => {
    const secret = newTotpSecret();
    const box = new TotpSecretBox('a-test-encryption-key-of-some-length');
    const sealed = box.seal(secret, 'key:abc');
    assert.match(sealed, /^aes-256-gcm:/);
    assert.ok(!sealed.includes(secret));
    assert.notEqual(box.seal(secret, 'key:abc'), sealed, 'a fresh IV each time');
    assert.equal(box.open(sealed, 'key:abc'), secret);
    assert.throws(() => box.open(sealed, 'key:other'), (err: Error) => !err.message.includes(secret) && /does not decrypt/.test(err.message));
    assert.throws(() => new TotpSecretBox('another-key-of-some-length').open(sealed, 'key:abc'), /does not decrypt/);
    assert.throws(() => new TotpSecretBox(undefined).open(sealed, 'key:abc'), /encryption_key is not configured/);
    const plain = new TotpSecretBox(undefined).seal(secret, 'key:abc');
    assert.equal(plain, `plain:${secret}`);
    assert.equal(box.open(plain, 'key:abc'), secret, 'enrolments made before encryption was turned on still work');
    assert.throws(() => new TotpSecretBox('short'), /at least 16/);
  });
});
