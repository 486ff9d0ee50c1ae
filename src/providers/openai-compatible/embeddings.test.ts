import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EmbeddingsRequest } from '../../protocol/openai.js';
import { azureEmbeddings } from '../azure/deployment.js';
import { openaiCompatibleEmbeddings } from './embeddings.js';

const BODY: EmbeddingsRequest = { model: 'alias', input: ['a', 'b'], encoding_format: 'base64', dimensions: 256, user: 'u1' };

describe('OpenAI-compatible embeddings', () => {
  test('the request goes out as written, with the provider model id, encoding_format included', () => {
    const native = openaiCompatibleEmbeddings({ model: 'text-embedding-3-small' }).request(BODY);
    assert.equal(native.path, '/v1/embeddings');
    assert.equal(native.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(native.body.toString('utf8')), { ...BODY, model: 'text-embedding-3-small' });
    assert.deepEqual(native.dropped, []);
  });

  test('Azure: per deployment, with the API version; an unmapped invalid name is refused', () => {
    const factory = azureEmbeddings('2024-10-21', { 'text-embedding-3-small': 'embed-prod' });
    assert.equal(factory({ model: 'text-embedding-3-small' }).request(BODY).path, '/openai/deployments/embed-prod/embeddings?api-version=2024-10-21');
    assert.equal(factory({ model: 'other' }).request(BODY).path, '/openai/deployments/other/embeddings?api-version=2024-10-21');
    assert.throws(() => factory({ model: '../admin' }), { code: 'invalid_request' });
  });

  test('the answer is read for usage; floats and base64 strings come back as the provider sent them', () => {
    const t = openaiCompatibleEmbeddings({ model: 'm' });
    const answer = { object: 'list', model: 'm', data: [{ object: 'embedding', index: 0, embedding: 'AAAAPw==' }, { object: 'embedding', index: 1, embedding: [0.5] }], usage: { prompt_tokens: 7, total_tokens: 7 } };
    assert.deepEqual(t.response(Buffer.from(JSON.stringify(answer))), answer);
    assert.deepEqual(t.usage(), { inputTokens: 7 });
  });

  test('error messages: OpenAI error objects and Ollama-style strings', () => {
    const t = openaiCompatibleEmbeddings({ model: 'm' });
    const cases: Array<[unknown, string | undefined]> = [
      [{ error: { message: 'This model does not support specifying dimensions.', type: 'invalid_request_error' } }, 'This model does not support specifying dimensions.'],
      [{ error: 'model "nomic" not found, try pulling it first' }, 'model "nomic" not found, try pulling it first'],
      [{ detail: 'x' }, undefined],
    ];
    for (const [body, message] of cases) assert.equal(t.errorMessage(Buffer.from(JSON.stringify(body))), message);
    assert.equal(t.errorMessage(Buffer.from('<html>')), undefined);
  });

  test('a body that is not JSON is an upstream_error', () => {
    assert.throws(() => openaiCompatibleEmbeddings({ model: 'm' }).response(Buffer.from('nope')), { code: 'upstream_error' });
  });
});
