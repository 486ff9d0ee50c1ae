import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { encodeEmbeddings, float32Base64, float32Values, textInputs } from './embeddings.js';
import { isEmbeddingsInput } from './openai-schema.js';
import type { EmbeddingsResponse } from './openai.js';

const list = (embedding: number[] | string): EmbeddingsResponse => ({ object: 'list', model: 'm', data: [{ object: 'embedding', index: 0, embedding }], usage: { prompt_tokens: 1, total_tokens: 1 } });

describe('embeddings input', () => {
  const cases: Array<[string, unknown, boolean]> = [
    ['a string', 'hello', true],
    ['an empty string (the provider decides)', '', true],
    ['strings', ['a', 'b'], true],
    ['token ids', [1, 2, 3], true],
    ['lists of token ids', [[1, 2], [3]], true],
    ['an empty array', [], false],
    ['mixed strings and numbers', ['a', 1], false],
    ['non-integer tokens', [1.5], false],
    ['an empty token list', [[]], false],
    ['an object', { text: 'a' }, false],
    ['missing', undefined, false],
  ];
  for (const [name, input, ok] of cases) test(`${name}: ${ok ? 'accepted' : 'refused'}`, () => assert.equal(isEmbeddingsInput(input), ok));

  test('textInputs: texts pass, token ids are refused with invalid_request', () => {
    assert.deepEqual(textInputs('a', 'X'), ['a']);
    assert.deepEqual(textInputs(['a', 'b'], 'X'), ['a', 'b']);
    assert.throws(() => textInputs([1, 2], 'X'), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && /X embeds text only/.test(err.message));
    assert.throws(() => textInputs([[1], [2]], 'X'), { code: 'invalid_request' });
  });
});

describe('encoding_format', () => {
  test("base64 is little-endian float32, as OpenAI sends it (the openai SDK's decoding reads it back)", () => {
    const values = [0.5, -0.25, 1];
    const b64 = float32Base64(values);
    assert.equal(b64, Buffer.from(new Float32Array(values).buffer).toString('base64'));
    // The openai SDK's toFloat32Array.
    const buf = Buffer.from(b64, 'base64');
    assert.deepEqual(Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4)), values);
    assert.deepEqual(float32Values(b64), values);
  });

  test('floats become base64 when asked; base64 becomes floats; the same form is left alone', () => {
    assert.equal(encodeEmbeddings(list([0.5]), 'base64').data[0]!.embedding, float32Base64([0.5]));
    assert.deepEqual(encodeEmbeddings(list(float32Base64([0.5, 2])), 'float').data[0]!.embedding, [0.5, 2]);
    assert.deepEqual(encodeEmbeddings(list([0.1]), 'float').data[0]!.embedding, [0.1]);
    assert.equal(encodeEmbeddings(list('AAAAPw=='), 'base64').data[0]!.embedding, 'AAAAPw==');
  });

  test('a base64 answer that is not whole float32 values is the provider fault', () => {
    assert.throws(() => encodeEmbeddings(list(Buffer.from([1, 2, 3]).toString('base64')), 'float'), { code: 'upstream_error' });
  });
});
