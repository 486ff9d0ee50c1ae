import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchPathRule } from '../transparent-path.js';
import { UsageObserver } from '../usage.js';
import { OLLAMA_OPENAI_SERVED, ollama } from './index.js';

describe('ollama: transparent rules', () => {
  test('every OpenAI route it names exists in the shared list', () => {
    const sources = new Set(ollama.transparentRules.map((r) => r.source));
    for (const s of OLLAMA_OPENAI_SERVED) assert.ok(sources.has(s), s);
  });

  const cases: Array<[method: string, path: string, allowed: boolean]> = [
    ['POST', 'v1/chat/completions', true],
    ['POST', 'v1/embeddings', true],
    ['GET', 'v1/models', true],
    ['GET', 'v1/models/llama3.2:3b', true],
    ['POST', 'v1/responses', true],
    ['GET', 'v1/responses/resp_1', false], // stateless: nothing stored to fetch
    ['POST', 'api/chat', true],
    ['POST', 'api/generate', true],
    ['POST', 'api/embed', true],
    ['GET', 'api/tags', true],
    ['POST', 'api/pull', false],
    ['POST', 'api/push', false],
    ['POST', 'api/create', false],
    ['POST', 'api/copy', false],
    ['DELETE', 'api/delete', false],
    ['GET', 'api/chat', false],
  ];
  for (const [method, path, allowed] of cases) {
    test(`${method} /${path}: ${allowed ? 'allowed' : 'refused'}`, () => {
      assert.equal(matchPathRule(ollama.transparentRules, method, path.split('/')) !== undefined, allowed);
    });
  }
});

describe('ollama: usage', () => {
  const observe = (body: unknown, contentType = 'application/json') => {
    const o = UsageObserver.for(ollama.usage, contentType)!;
    o.push(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    return o.end();
  };

  test('native /api/chat answer: prompt_eval_count and eval_count', () => {
    const body = { model: 'llama3.2', created_at: '2025-01-01T00:00:00Z', message: { role: 'assistant', content: 'hi' }, done: true, done_reason: 'stop', prompt_eval_count: 26, eval_count: 298 };
    assert.deepEqual(observe(body), { model: 'llama3.2', inputTokens: 26, outputTokens: 298 });
  });

  test('native /api/embed answer: input tokens only', () => {
    assert.deepEqual(observe({ model: 'all-minilm', embeddings: [[0.1]], prompt_eval_count: 8 }), { model: 'all-minilm', inputTokens: 8, outputTokens: 0 });
  });

  test('OpenAI-compatible answers and streams: OpenAI fields', () => {
    assert.deepEqual(observe({ model: 'llama3.2', usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }), { model: 'llama3.2', inputTokens: 5, outputTokens: 7 });
    const sse = `data: ${JSON.stringify({ model: 'llama3.2', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } })}\n\ndata: [DONE]\n\n`;
    assert.deepEqual(observe(sse, 'text/event-stream'), { model: 'llama3.2', inputTokens: 3, outputTokens: 4 });
  });

  test('a native NDJSON stream is forwarded unobserved (no usage, no error)', () => {
    const ndjson = [{ model: 'llama3.2', message: { content: 'h' }, done: false }, { model: 'llama3.2', done: true, prompt_eval_count: 2, eval_count: 1 }].map((l) => JSON.stringify(l)).join('\n') + '\n';
    assert.equal(observe(ndjson, 'application/x-ndjson'), undefined);
  });
});
