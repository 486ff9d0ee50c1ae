import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { checkCountTokensRequest, checkMessagesRequest } from './schema.js';

const BASE = { model: 'claude-sonnet-4-6', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }] };

function rejects(body: unknown, param: string, message: RegExp, check: (b: unknown) => unknown = checkMessagesRequest): void {
  assert.throws(
    () => check(body),
    (err: unknown) => {
      assert.ok(err instanceof GatewayError, String(err));
      assert.equal(err.code, 'invalid_request');
      assert.equal(err.param, param);
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(`${param}: `), err.message);
      return true;
    },
  );
}

describe('checkMessagesRequest', () => {
  test('accepts what the Messages API accepts, and returns the body itself (unknown fields kept)', () => {
    const body = {
      ...BASE,
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 'sig' }, { type: 'redacted_thinking', data: 'xx' }, { type: 'tool_use', id: 'toolu_1', name: 'look', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'a cat' }], is_error: false }] },
        { role: 'system', content: 'mid-conversation system turn' },
        { role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }] },
      ],
      tools: [{ name: 'look', input_schema: { type: 'object' } }, { type: 'web_search_20250305', name: 'web_search', max_uses: 2 }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      thinking: { type: 'enabled', budget_tokens: 2048 },
      stop_sequences: ['END'],
      temperature: 1,
      top_k: 5,
      metadata: { user_id: 'u1' },
      stream: true,
      future_field: { anything: 1 },
    };
    assert.equal(checkMessagesRequest(body), body);
  });

  const cases: Array<[string, unknown, string, RegExp]> = [
    ['max_tokens missing', { model: 'm', messages: BASE.messages }, 'max_tokens', /is required/],
    ['max_tokens 0', { ...BASE, max_tokens: 0 }, 'max_tokens', /at least 1/],
    ['max_tokens fraction', { ...BASE, max_tokens: 1.5 }, 'max_tokens', /integer/],
    ['model empty', { ...BASE, model: '' }, 'model', /must not be empty/],
    ['messages empty', { ...BASE, messages: [] }, 'messages', /non-empty/],
    ['role unknown', { ...BASE, messages: [{ role: 'tool', content: 'x' }] }, 'messages.0.role', /user.*assistant.*system/],
    ['content a number', { ...BASE, messages: [{ role: 'user', content: 7 }] }, 'messages.0.content', /string or an array of content blocks/],
    ['block type unknown', { ...BASE, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'video' }] }] }, 'messages.0.content.1.type', /"text"/],
    ['image source type unknown', { ...BASE, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'ftp', url: 'x' } }] }] }, 'messages.0.content.0.source.type', /base64/],
    ['tool_use input not an object', { ...BASE, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'n', input: 'x' }] }] }, 'messages.0.content.0.input', /object/],
    ['tool without input_schema', { ...BASE, tools: [{ name: 'look' }] }, 'tools.0.input_schema', /JSON Schema object/],
    ['tool schema not an object schema', { ...BASE, tools: [{ name: 'look', input_schema: { type: 'string' } }] }, 'tools.0.input_schema.type', /"object"/],
    ['tool_choice type unknown', { ...BASE, tool_choice: { type: 'required' } }, 'tool_choice.type', /auto/],
    ['thinking budget under 1024', { ...BASE, thinking: { type: 'enabled', budget_tokens: 512 } }, 'thinking.budget_tokens', /at least 1024/],
    ['temperature over 1', { ...BASE, temperature: 1.5 }, 'temperature', /at most 1/],
    ['system a number', { ...BASE, system: 3 }, 'system', /string or an array of text blocks/],
    ['stop_sequences a string', { ...BASE, stop_sequences: 'END' }, 'stop_sequences', /array/],
    ['body not an object', [], 'body', /object/],
  ];
  for (const [name, body, param, message] of cases) {
    test(`400 naming the field: ${name}`, () => rejects(body, param, message));
  }
});

describe('checkCountTokensRequest', () => {
  test('needs no max_tokens', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal(checkCountTokensRequest(body), body);
  });
  test('checks messages as create does', () => rejects({ model: 'm', messages: [{ role: 'user', content: [{ type: 'nope' }] }] }, 'messages.0.content.0.type', /"text"/, checkCountTokensRequest));
});
