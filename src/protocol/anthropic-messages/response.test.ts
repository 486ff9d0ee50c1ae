import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { TranslatorOptions } from '../../protocol/translator.js';
import { anthropicChat } from './index.js';

const OPTIONS: TranslatorOptions = { model: 'claude-test-1', id: 'chatcmpl-1', created: 1700000000, stream: false, includeUsage: false };

describe('response (non-streaming)', () => {
  const usage = { input_tokens: 10, cache_creation_input_tokens: 3, cache_read_input_tokens: 2, output_tokens: 5 };
  const cases: Array<{ name: string; body: Record<string, unknown>; message: Record<string, unknown>; finish: string | null }> = [
    {
      name: 'text blocks concatenated',
      body: { type: 'message', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: ' world' }], stop_reason: 'end_turn', usage },
      message: { role: 'assistant', content: 'Hello world', refusal: null },
      finish: 'stop',
    },
    {
      name: 'tool_use → tool_calls with JSON arguments',
      body: {
        type: 'message',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
        ],
        stop_reason: 'tool_use',
        usage,
      },
      message: {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
        refusal: null,
      },
      finish: 'tool_calls',
    },
    {
      name: 'max_tokens → length',
      body: { type: 'message', content: [{ type: 'text', text: 'Once upon' }], stop_reason: 'max_tokens', usage },
      message: { role: 'assistant', content: 'Once upon', refusal: null },
      finish: 'length',
    },
    {
      name: 'stop_sequence → stop',
      body: { type: 'message', content: [{ type: 'text', text: 'a' }], stop_reason: 'stop_sequence', usage },
      message: { role: 'assistant', content: 'a', refusal: null },
      finish: 'stop',
    },
    {
      name: 'refusal → content_filter',
      body: { type: 'message', content: [], stop_reason: 'refusal', usage },
      message: { role: 'assistant', content: null, refusal: null },
      finish: 'content_filter',
    },
    {
      name: 'an unmapped stop reason is not guessed',
      body: { type: 'message', content: [{ type: 'text', text: 'a' }], stop_reason: 'pause_turn', usage },
      message: { role: 'assistant', content: 'a', refusal: null },
      finish: null,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const t = anthropicChat(OPTIONS);
      const out = t.response(Buffer.from(JSON.stringify({ id: 'msg_1', role: 'assistant', model: 'claude-upstream-name', ...c.body })));
      assert.equal(out.object, 'chat.completion');
      assert.equal(out.id, 'chatcmpl-1');
      assert.equal(out.created, 1700000000);
      assert.equal(out.model, 'claude-test-1');
      assert.deepEqual(out.choices, [{ index: 0, message: c.message, finish_reason: c.finish, logprobs: null }]);
      assert.deepEqual(out.usage, { prompt_tokens: 15, completion_tokens: 5, total_tokens: 20 });
      assert.deepEqual(t.usage(), { inputTokens: 15, outputTokens: 5 });
    });
  }

  test('no usage in the answer → none invented', () => {
    const t = anthropicChat(OPTIONS);
    const out = t.response(Buffer.from(JSON.stringify({ type: 'message', content: [], stop_reason: 'end_turn' })));
    assert.equal(out.usage, undefined);
    assert.equal(t.usage(), undefined);
  });

  test('a body that is not JSON is an upstream error', () => {
    assert.throws(() => anthropicChat(OPTIONS).response(Buffer.from('<html>')), (err: unknown) => err instanceof GatewayError && err.code === 'upstream_error');
  });
});

describe('errorMessage', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['Anthropic error', '{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}', 'max_tokens: required'],
    ['Bedrock/Vertex style', '{"message":"Too many requests"}', 'Too many requests'],
    ['not JSON', 'Bad Gateway', undefined],
    ['no message', '{"type":"error"}', undefined],
  ];
  for (const [name, body, expected] of cases) test(name, () => assert.equal(anthropicChat(OPTIONS).errorMessage(Buffer.from(body)), expected));
});

