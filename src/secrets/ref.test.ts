import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSecretRef } from './ref.js';

describe('parseSecretRef', () => {
  const refs: Array<[string, { scheme: string; path: string }]> = [
    ['${env:OPENAI_API_KEY}', { scheme: 'env', path: 'OPENAI_API_KEY' }],
    ['${OPENAI_API_KEY}', { scheme: 'env', path: 'OPENAI_API_KEY' }],
    ['${_x1}', { scheme: 'env', path: '_x1' }],
    ['${file:/run/secrets/openai}', { scheme: 'file', path: '/run/secrets/openai' }],
    ['${file:relative/key.txt}', { scheme: 'file', path: 'relative/key.txt' }],
    ['${vault:kv/data/x#field}', { scheme: 'vault', path: 'kv/data/x#field' }],
    ['${aws-sm:arn:aws:secretsmanager:us-east-1:1:secret:x}', { scheme: 'aws-sm', path: 'arn:aws:secretsmanager:us-east-1:1:secret:x' }],
  ];
  for (const [text, expected] of refs) {
    test(`${text} → ${expected.scheme}:${expected.path}`, () => {
      assert.deepEqual(parseSecretRef(text), { ...expected, raw: text });
    });
  }

  test('surrounding whitespace is ignored, and raw keeps the text as written', () => {
    assert.deepEqual(parseSecretRef('  ${env:K} '), { scheme: 'env', path: 'K', raw: '  ${env:K} ' });
  });

  const notRefs = ['sk-abc', '', '${}', '${env:}', '$OPENAI', '{env:K}', '${env:K}x', 'x${env:K}', '${env:a}b}', '${1ABC}', '${A-B}', '${Env:K}', '${env:K'];
  for (const text of notRefs) {
    test(`${JSON.stringify(text)} is not a reference`, () => assert.equal(parseSecretRef(text), undefined));
  }
});
