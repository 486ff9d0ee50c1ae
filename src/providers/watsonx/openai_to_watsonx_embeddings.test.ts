import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { EmbeddingsRequest } from '../../protocol/openai.js';
import { watsonxEmbeddings } from './openai_to_watsonx_embeddings.js';

const MODEL = 'ibm/granite-embedding-278m-multilingual';
const translator = (scope: { project_id: string } | { space_id: string } = { project_id: 'p-1' }) => watsonxEmbeddings({ scope, version: '2025-12-05' })({ model: MODEL });
const request = (body: Partial<EmbeddingsRequest> & Record<string, unknown>) => translator().request({ model: 'm', input: 'hello', ...body } as EmbeddingsRequest);

describe('OpenAI embeddings → watsonx.ai text embeddings', () => {
  const cases: Array<[string, Partial<EmbeddingsRequest> & Record<string, unknown>, Record<string, unknown>, string[]]> = [
    ['a string', { input: 'hello' }, { model_id: MODEL, inputs: ['hello'], project_id: 'p-1' }, []],
    ['an array: one batch', { input: ['a', 'b'] }, { model_id: MODEL, inputs: ['a', 'b'], project_id: 'p-1' }, []],
    ['null dimensions', { dimensions: null }, { model_id: MODEL, inputs: ['hello'], project_id: 'p-1' }, []],
    ['encoding_format (the gateway applies it)', { encoding_format: 'base64' }, { model_id: MODEL, inputs: ['hello'], project_id: 'p-1' }, []],
    ['user is dropped', { user: 'u1' }, { model_id: MODEL, inputs: ['hello'], project_id: 'p-1' }, ['user']],
  ];
  for (const [name, body, native, dropped] of cases) {
    test(`request: ${name}`, () => {
      const out = request(body);
      assert.equal(out.path, '/ml/v1/text/embeddings?version=2025-12-05');
      assert.deepEqual(JSON.parse(out.body.toString('utf8')), native);
      assert.deepEqual(out.dropped, dropped);
    });
  }

  test('request: a space instead of a project', () => {
    const out = translator({ space_id: 's-1' }).request({ model: 'm', input: 'x' });
    assert.deepEqual(JSON.parse(out.body.toString('utf8')), { model_id: MODEL, inputs: ['x'], space_id: 's-1' });
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['token ids', { input: [1, 2, 3] }, /embeds text only/],
    ['dimensions', { dimensions: 256 }, /fixed size: "dimensions" is not supported/],
    ['an unknown parameter', { truncate_input_tokens: 10 }, /do not support "truncate_input_tokens"/],
  ];
  for (const [name, body, message] of refused) {
    test(`request refused: ${name}`, () => {
      assert.throws(() => request(body), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && message.test(err.message));
    });
  }

  test('response: the results in order and input_token_count', () => {
    const t = translator();
    t.request({ model: 'm', input: ['a', 'b'] });
    const out = t.response(Buffer.from(JSON.stringify({ model_id: MODEL, results: [{ embedding: [0.1] }, { embedding: [0.2] }], created_at: '2025-01-01T00:00:00.000Z', input_token_count: 7 })));
    assert.deepEqual(out, {
      object: 'list',
      model: MODEL,
      data: [
        { object: 'embedding', index: 0, embedding: [0.1] },
        { object: 'embedding', index: 1, embedding: [0.2] },
      ],
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    assert.deepEqual(t.usage(), { inputTokens: 7 });
  });

  const faulty: Array<[string, string]> = [
    ['not JSON', 'x'],
    ['null', 'null'],
    ['no results', '{"predictions":[]}'],
    ['a result without an embedding', '{"results":[{"input":"a"}]}'],
    ['more embeddings than inputs', '{"results":[{"embedding":[1]},{"embedding":[2]}]}'],
  ];
  for (const [name, body] of faulty) {
    test(`response is the provider's fault: ${name}`, () => {
      const t = translator();
      t.request({ model: 'm', input: 'a' });
      assert.throws(() => t.response(Buffer.from(body)), { code: 'upstream_error' });
    });
  }

  test("errors: IBM's error body", () => {
    const body = { errors: [{ code: 'model_not_supported', message: 'Model not supported', more_info: 'x' }], trace: 't', status_code: 404 };
    assert.match(translator().errorMessage(Buffer.from(JSON.stringify(body))) ?? '', /Model not supported/);
    assert.equal(translator().errorMessage(Buffer.from('x')), undefined);
  });
});
