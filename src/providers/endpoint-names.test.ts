import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bedrockEndpointOf } from './bedrock/endpoints.js';
import { endpointNameProblem } from './endpoint-names.js';
import { OPENAI_ENDPOINTS } from './openai-compatible/compatible.js';
import { vertexEndpointOf } from './vertex/endpoints.js';

const seg = (path: string) => path.split('/');

describe('endpoint names and the providers\' mappings of native paths', () => {
  test('the vocabulary is closed; near misses say what to write', () => {
    assert.equal(endpointNameProblem('chat'), undefined);
    assert.match(endpointNameProblem('messages')!, /the Anthropic Messages API is "chat"/);
    assert.match(endpointNameProblem('images')!, /^"images" is not an endpoint \(known: /);
  });

  test('OpenAI routes, by method and path', () => {
    const table: Array<[string, string, string | undefined]> = [
      ['POST', 'v1/chat/completions', 'chat'],
      ['POST', 'v1/completions', 'completions'],
      ['POST', 'v1/embeddings', 'embeddings'],
      ['GET', 'v1/models/gpt-4o', 'models'],
      ['POST', 'v1/responses', 'responses'],
      ['DELETE', 'v1/responses/resp_1', 'responses'],
      ['POST', 'v1/responses/input_tokens', 'count_tokens'],
      ['GET', 'v1/chat/completions', undefined],
      ['GET', 'v1/organization/costs', undefined],
    ];
    for (const [method, path, want] of table) assert.equal(OPENAI_ENDPOINTS(method, seg(path)), want, `${method} ${path}`);
  });

  test('Bedrock: InvokeModel of an embedding model is embeddings, of any other chat', () => {
    assert.equal(bedrockEndpointOf('POST', seg('model/amazon.titan-embed-text-v2:0/invoke')), 'embeddings');
    assert.equal(bedrockEndpointOf('POST', seg('model/cohere.embed-english-v3/invoke')), 'embeddings');
    assert.equal(bedrockEndpointOf('POST', seg('model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream')), 'chat');
    assert.equal(bedrockEndpointOf('POST', seg('model/us.anthropic.claude-3-haiku-20240307-v1:0/converse')), 'chat');
    assert.equal(bedrockEndpointOf('POST', seg('model/anthropic.claude-3-haiku-20240307-v1:0/count-tokens')), 'count_tokens');
    assert.equal(bedrockEndpointOf('GET', seg('inference-profiles')), 'models');
    assert.equal(bedrockEndpointOf('POST', seg('openai/v1/responses')), 'responses');
    assert.equal(bedrockEndpointOf('POST', seg('model/x/unknown')), undefined);
  });

  test('Vertex: by the model method; Anthropic\'s count-tokens; :predict only for embedding models', () => {
    const p = (tail: string) => seg(`v1/projects/p/locations/us-central1/publishers/${tail}`);
    assert.equal(vertexEndpointOf('POST', p('google/models/gemini-2.0-flash:streamGenerateContent')), 'chat');
    assert.equal(vertexEndpointOf('POST', p('anthropic/models/claude-sonnet-4@20250514:rawPredict')), 'chat');
    assert.equal(vertexEndpointOf('POST', p('anthropic/models/count-tokens:rawPredict')), 'count_tokens');
    assert.equal(vertexEndpointOf('POST', p('google/models/gemini-2.0-flash:countTokens')), 'count_tokens');
    assert.equal(vertexEndpointOf('POST', p('google/models/text-embedding-005:predict')), 'embeddings');
    assert.equal(vertexEndpointOf('POST', p('google/models/imagen-3.0-generate-002:predict')), undefined);
    assert.equal(vertexEndpointOf('GET', p('google/models/gemini-2.0-flash:generateContent')), undefined);
  });
});
