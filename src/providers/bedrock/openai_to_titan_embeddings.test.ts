import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { EmbeddingsRequest } from '../../protocol/openai.js';
import { openaiToTitanEmbeddings } from './openai_to_titan_embeddings.js';

const MODEL = 'amazon.titan-embed-text-v2:0';
const translator = () => openaiToTitanEmbeddings({ model: MODEL });
const request = (body: Partial<EmbeddingsRequest> & Record<string, unknown>) => translator().request({ model: 'm', input: 'hello', ...body } as EmbeddingsRequest);

describe('OpenAI embeddings → Bedrock Titan InvokeModel', () => {
  const cases: Array<[string, Partial<EmbeddingsRequest> & Record<string, unknown>, Record<string, unknown>, string[]]> = [
    ['a string', { input: 'hello' }, { inputText: 'hello' }, []],
    ['one string in an array', { input: ['hello'] }, { inputText: 'hello' }, []],
    ['dimensions', { dimensions: 256 }, { inputText: 'hello', dimensions: 256 }, []],
    ['null dimensions', { dimensions: null }, { inputText: 'hello' }, []],
    ['encoding_format (the gateway applies it)', { encoding_format: 'base64' }, { inputText: 'hello' }, []],
    ['user is dropped', { user: 'u1' }, { inputText: 'hello' }, ['user']],
  ];
  for (const [name, body, titan, dropped] of cases) {
    test(`request: ${name}`, () => {
      const native = request(body);
      assert.equal(native.path, `/model/${encodeURIComponent(MODEL)}/invoke`);
      assert.deepEqual(JSON.parse(native.body.toString('utf8')), titan);
      assert.deepEqual(native.dropped, dropped);
    });
  }

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['several inputs', { input: ['a', 'b'] }, /one input per request; "input" holds 2/],
    ['token ids', { input: [1, 2, 3] }, /embeds text only/],
    ['an unknown parameter', { input_type: 'query' }, /do not support "input_type"/],
  ];
  for (const [name, body, message] of refused) {
    test(`request refused: ${name}`, () => {
      assert.throws(() => request(body), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && message.test(err.message));
    });
  }

  test('response: the embedding and its token count, in OpenAI shape', () => {
    const t = translator();
    const out = t.response(Buffer.from(JSON.stringify({ embedding: [0.1, -0.2], embeddingsByType: { float: [0.1, -0.2] }, inputTextTokenCount: 3 })));
    assert.deepEqual(out, { object: 'list', model: MODEL, data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2] }], usage: { prompt_tokens: 3, total_tokens: 3 } });
    assert.deepEqual(t.usage(), { inputTokens: 3 });
  });

  test('response without an embedding is the provider fault', () => {
    assert.throws(() => translator().response(Buffer.from('{"results":[]}')), { code: 'upstream_error' });
  });

  test('errors: Bedrock message / Message', () => {
    assert.equal(translator().errorMessage(Buffer.from('{"message":"Malformed input request"}')), 'Malformed input request');
    assert.equal(translator().errorMessage(Buffer.from('{"Message":"Too many requests"}')), 'Too many requests');
    assert.equal(translator().errorMessage(Buffer.from('x')), undefined);
  });
});
