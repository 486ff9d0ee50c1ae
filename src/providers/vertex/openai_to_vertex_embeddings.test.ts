import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { EmbeddingsRequest } from '../../protocol/openai.js';
import { vertexEmbeddings } from './openai_to_vertex_embeddings.js';

const MODEL = 'text-embedding-005';
const PATH = `/v1/projects/my-project/locations/us-central1/publishers/google/models/${MODEL}:predict`;
const translator = (model = MODEL) => vertexEmbeddings({ project: 'my-project', location: 'us-central1' })({ model });
const request = (body: Partial<EmbeddingsRequest> & Record<string, unknown>) => translator().request({ model: 'm', input: 'hello', ...body } as EmbeddingsRequest);
const prediction = (values: number[], tokens: number) => ({ embeddings: { values, statistics: { truncated: false, token_count: tokens } } });

describe('OpenAI embeddings → Vertex AI text embeddings :predict', () => {
  const cases: Array<[string, Partial<EmbeddingsRequest> & Record<string, unknown>, Record<string, unknown>, string[]]> = [
    ['a string', { input: 'hello' }, { instances: [{ content: 'hello' }] }, []],
    ['an array: one instance per text', { input: ['a', 'b', 'c'] }, { instances: [{ content: 'a' }, { content: 'b' }, { content: 'c' }] }, []],
    ['dimensions', { dimensions: 256 }, { instances: [{ content: 'hello' }], parameters: { outputDimensionality: 256 } }, []],
    ['null dimensions', { dimensions: null }, { instances: [{ content: 'hello' }] }, []],
    ['encoding_format (the gateway applies it)', { encoding_format: 'base64' }, { instances: [{ content: 'hello' }] }, []],
    ['user is dropped', { user: 'u1' }, { instances: [{ content: 'hello' }] }, ['user']],
  ];
  for (const [name, body, vertex, dropped] of cases) {
    test(`request: ${name}`, () => {
      const native = request(body);
      assert.equal(native.path, PATH);
      assert.equal(native.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(native.body.toString('utf8')), vertex);
      assert.deepEqual(native.dropped, dropped);
    });
  }

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['token ids', { input: [1, 2, 3] }, /embeds text only/],
    ['lists of token ids', { input: [[1, 2], [3]] }, /embeds text only/],
    ['an unknown parameter', { input_type: 'query' }, /do not support "input_type"/],
  ];
  for (const [name, body, message] of refused) {
    test(`request refused: ${name}`, () => {
      assert.throws(() => request(body), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && message.test(err.message));
    });
  }

  test('request refused: a model id that is not one path segment', () => {
    assert.throws(() => translator('../models/x').request({ model: 'm', input: 'x' }), { code: 'invalid_request' });
  });

  test('response: every prediction in order, token counts summed', () => {
    const t = translator();
    t.request({ model: 'm', input: ['a', 'b'] });
    const out = t.response(Buffer.from(JSON.stringify({ predictions: [prediction([0.1, -0.2], 2), prediction([0.3, 0.4], 3)], metadata: { billableCharacterCount: 2 } })));
    assert.deepEqual(out, {
      object: 'list',
      model: MODEL,
      data: [
        { object: 'embedding', index: 0, embedding: [0.1, -0.2] },
        { object: 'embedding', index: 1, embedding: [0.3, 0.4] },
      ],
      usage: { prompt_tokens: 5, total_tokens: 5 },
    });
    assert.deepEqual(t.usage(), { inputTokens: 5 });
  });

  test('response without statistics counts no tokens', () => {
    const t = translator();
    t.request({ model: 'm', input: 'a' });
    assert.deepEqual(t.response(Buffer.from('{"predictions":[{"embeddings":{"values":[1]}}]}')).usage, { prompt_tokens: 0, total_tokens: 0 });
  });

  const faulty: Array<[string, string]> = [
    ['not JSON', 'x'],
    ['null', 'null'],
    ['no predictions', '{"results":[]}'],
    ['no values', '{"predictions":[{"embeddings":{}}]}'],
    ['values that are not numbers', '{"predictions":[{"embeddings":{"values":["a"]}}]}'],
    ['fewer embeddings than inputs', '{"predictions":[]}'],
  ];
  for (const [name, body] of faulty) {
    test(`response is the provider's fault: ${name}`, () => {
      const t = translator();
      t.request({ model: 'm', input: 'a' });
      assert.throws(() => t.response(Buffer.from(body)), { code: 'upstream_error' });
    });
  }

  test("errors: Google's error object", () => {
    const body = { error: { code: 400, message: 'outputDimensionality 5000 is not supported.', status: 'INVALID_ARGUMENT' } };
    assert.equal(translator().errorMessage(Buffer.from(JSON.stringify(body))), 'INVALID_ARGUMENT: outputDimensionality 5000 is not supported.');
    assert.equal(translator().errorMessage(Buffer.from('<html>')), undefined);
  });
});
