import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatRequest } from '../../protocol/openai.js';
import type { TranslatorOptions } from '../../protocol/translator.js';
import { isVertexClaudeModel, vertexClaudeChat } from './openai_to_anthropic_rawpredict.js';

const MODEL = 'claude-3-5-haiku@20241022';
const OPTIONS: TranslatorOptions = { model: MODEL, id: 'chatcmpl-1', created: 1700000000, stream: false, includeUsage: true };
const BODY = { model: 'alias', messages: [{ role: 'user', content: 'Hi' }] } as ChatRequest;
const chat = vertexClaudeChat({ project: 'proj-test-1', location: 'us-east5' });
const BASE = '/v1/projects/proj-test-1/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022';

describe('Claude on Vertex AI rawPredict', () => {
  test('non-streaming: :rawPredict, vertex-2023-10-16, no model in the body', () => {
    const r = chat(OPTIONS).request(BODY);
    assert.equal(r.path, `${BASE}:rawPredict`);
    assert.deepEqual(JSON.parse(r.body.toString('utf8')), { anthropic_version: 'vertex-2023-10-16', max_tokens: 4096, messages: [{ role: 'user', content: 'Hi' }] });
  });

  test('streaming: :streamRawPredict with stream: true, SSE decoded as on api.anthropic.com', () => {
    const t = chat({ ...OPTIONS, stream: true });
    const r = t.request(BODY);
    assert.equal(r.path, `${BASE}:streamRawPredict`);
    const json = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(json['stream'], true);
    assert.equal(json['model'], undefined);
    const sse = [
      { type: 'message_start', message: { usage: { input_tokens: 3, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi!' } },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } },
      { type: 'message_stop' },
    ].map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
    const chunks = [...t.push(Buffer.from(sse)), ...t.end()];
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hi!');
    assert.deepEqual(chunks.at(-1)?.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  });

  test('claude-* models only', () => {
    assert.ok(isVertexClaudeModel(MODEL));
    assert.ok(!isVertexClaudeModel('gemini-2.0-flash'));
  });
});
