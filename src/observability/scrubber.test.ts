import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKey } from '../clientauth/api-key/format.js';
import { SecretScrubber } from './scrubber.js';

describe('SecretScrubber', () => {
  test('replaces every occurrence of a registered secret', () => {
    const s = new SecretScrubber();
    s.add('sk-provider-key-123456');
    assert.equal(
      s.scrub('upstream said: invalid key sk-provider-key-123456 (sk-provider-key-123456)'),
      'upstream said: invalid key [REDACTED] ([REDACTED])',
    );
  });

  test('replaces several registered secrets, including inside JSON and URLs', () => {
    const s = new SecretScrubber();
    s.add('AKIAIOSFODNN7EXAMPLE');
    s.add('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
    const line = JSON.stringify({ url: 'https://x/?key=AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' });
    const out = s.scrub(line);
    assert.equal(out, JSON.stringify({ url: 'https://x/?key=[REDACTED]', secret: '[REDACTED]' }));
  });

  test('matches a secret literally, even when it contains regular-expression characters', () => {
    const s = new SecretScrubber();
    s.add('a.b*c+d?e(f)[g]$^|\\');
    assert.equal(s.scrub('x a.b*c+d?e(f)[g]$^|\\ y'), 'x [REDACTED] y');
    assert.equal(s.scrub('aXbbbcdde(f)[g]'), 'aXbbbcdde(f)[g]', 'no pattern semantics');
  });

  test('masks a secret nested inside a longer one whole, whichever was registered first', () => {
    for (const order of [['sk-inner-secret-42', 'prefix-sk-inner-secret-42-suffix'], ['prefix-sk-inner-secret-42-suffix', 'sk-inner-secret-42']]) {
      const s = new SecretScrubber();
      for (const v of order) s.add(v);
      assert.equal(s.scrub('a prefix-sk-inner-secret-42-suffix b sk-inner-secret-42 c'), 'a [REDACTED] b [REDACTED] c', order.join(' then '));
    }
  });

  test('a secret deleted and added again is still masked, longest first', () => {
    const s = new SecretScrubber();
    s.add('short-secret-1');
    s.scrub('warm the order cache');
    s.add('a-short-secret-1-longer');
    s.delete('short-secret-1');
    s.add('short-secret-1');
    assert.equal(s.scrub('a-short-secret-1-longer / short-secret-1'), '[REDACTED] / [REDACTED]');
  });

  test('leaves text without secrets unchanged', () => {
    const s = new SecretScrubber();
    s.add('sk-provider-key-123456');
    assert.equal(s.scrub('nothing to see here'), 'nothing to see here');
    assert.equal(s.scrub('sk-provider-key-12345'), 'sk-provider-key-12345', 'a prefix of a secret is not the secret');
  });

  test(`does not register values shorter than ${SecretScrubber.MIN_LENGTH} characters`, () => {
    const s = new SecretScrubber();
    s.add('short');
    s.add('1234567');
    s.add('12345678');
    assert.equal(s.scrub('short 1234567 12345678'), 'short 1234567 [REDACTED]');
  });

  test('forgets a deleted secret', () => {
    const s = new SecretScrubber();
    s.add('sk-old-provider-key-1');
    s.add('sk-new-provider-key-2');
    s.delete('sk-old-provider-key-1');
    assert.equal(s.scrub('sk-old-provider-key-1 sk-new-provider-key-2'), 'sk-old-provider-key-1 [REDACTED]');
  });

  test('redacts the secret of anything shaped like a gateway key, keeping its public id', () => {
    const s = new SecretScrubber();
    const { key, id, secret } = generateKey();
    const out = s.scrub(`GET /v1/models?api_key=${key} from 10.0.0.1`);
    assert.equal(out, `GET /v1/models?api_key=llmp_${id}_[REDACTED] from 10.0.0.1`);
    assert.ok(!out.includes(secret));
  });

  test('redacts gateway-key shapes even when they are not valid keys (truncated, bad checksum)', () => {
    const s = new SecretScrubber();
    assert.equal(s.scrub('Bearer llmp_abc_def'), 'Bearer llmp_abc_[REDACTED]');
    assert.equal(s.scrub('"llmp_AAAAAAAAAAAA_0123456789abcdef","llmp_B_x"'), '"llmp_AAAAAAAAAAAA_[REDACTED]","llmp_B_[REDACTED]"');
  });

  test('leaves llmp_ text that has no secret part alone', () => {
    const s = new SecretScrubber();
    assert.equal(s.scrub('metric llmp_requests and key id llmp_abc_'), 'metric llmp_requests and key id llmp_abc_');
  });
});
