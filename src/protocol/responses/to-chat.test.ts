import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { openaiCompatibleChat } from '../../providers/openai-compatible/chat.js';
import { anthropicChat } from '../anthropic-messages/index.js';
import type { ChatRequest } from '../openai.js';
import { checkResponsesRequest } from './schema.js';
import { inputItems, responsesToChat } from './to-chat.js';
import type { ResponseItem } from './types.js';

const WEATHER = { type: 'function', name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

function convert(fields: Record<string, unknown>, history: ResponseItem[] = []) {
  return responsesToChat(checkResponsesRequest({ model: 'm', ...fields }), history);
}

function refused(fields: Record<string, unknown>, param: string, message: string): void {
  assert.throws(
    () => convert(fields),
    (err: unknown) => {
      assert.ok(err instanceof GatewayError, String(err));
      assert.equal(err.code, 'invalid_request');
      assert.equal(err.status, 400);
      assert.equal(err.param, param);
      assert.equal(err.message, message);
      return true;
    },
  );
}

/** A counter for ids, so items compare exactly. */
function counter(): (prefix: string) => string {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

describe('responsesToChat: messages', () => {
  test('a string input is one user message; nothing dropped, no n', () => {
    const { chat, dropped } = convert({ input: 'hi' });
    assert.deepEqual(chat, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(dropped, []);
  });

  test('instructions become the first (system) message', () => {
    const { chat } = convert({ instructions: 'Be brief.', input: [{ role: 'developer', content: 'Use metric.' }, { role: 'user', content: 'hi' }] });
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: 'Use metric.' },
      { role: 'user', content: 'hi' },
    ]);
  });

  test('content parts: input_text → text, input_image → image_url (detail kept), input_file → file', () => {
    const { chat } = convert({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'what are these?' },
            { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'low' },
            { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' },
            { type: 'input_file', filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what are these?' },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
        ],
      },
    ]);
  });

  test('assistant text then function calls (reasoning between them) are one assistant message; outputs are tool messages', () => {
    const { chat } = convert({
      tools: [WEATHER],
      input: [
        { role: 'user', content: 'weather in Paris and Rome?' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: 'call_2', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'rain' }] },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'user', content: 'weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
    ]);
  });

  test('function calls without text are an assistant message of tool calls only; a user turn between calls splits them', () => {
    const call = (id: string) => ({ type: 'function_call', call_id: id, name: 'f', arguments: '{}' });
    const { chat } = convert({ input: [{ role: 'user', content: 'a' }, call('c1'), { type: 'function_call_output', call_id: 'c1', output: 'x' }, call('c2')] });
    assert.deepEqual(
      chat.messages.map((m) => [m.role, m.content ?? null, m.tool_calls?.map((c) => c.id) ?? []]),
      [['user', 'a', []], ['assistant', null, ['c1']], ['tool', 'x', []], ['assistant', null, ['c2']]],
    );
  });

  test('the stored history comes first; its instructions are not carried over', () => {
    const history: ResponseItem[] = [
      { id: 'msg_1', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'weather?' }] },
      { id: 'msg_2', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Let me look.', annotations: [], logprobs: [] }] },
      { id: 'fc_1', type: 'function_call', status: 'completed', call_id: 'call_1', name: 'get_weather', arguments: '{}' },
    ];
    const { chat } = convert({ instructions: 'New rules.', previous_response_id: 'resp_1', input: [{ type: 'function_call_output', call_id: 'call_1', output: 'sunny' }] }, history);
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'New rules.' },
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ]);
  });

  test('history alone (no new input) is a conversation; nothing at all is refused', () => {
    const history: ResponseItem[] = [{ id: 'msg_1', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'hi' }] }];
    assert.equal(convert({ previous_response_id: 'resp_1' }, history).chat.messages.length, 1);
    refused({ instructions: 'only this' }, 'input', 'input: is required (a string or an array of input items)');
  });
});

describe('responsesToChat: parameters', () => {
  test('mapped: tools, tool_choice, text.format, max_output_tokens, reasoning.effort, sampling, stream with usage', () => {
    const { chat, dropped } = convert({
      input: 'hi',
      tools: [{ ...WEATHER, strict: true }],
      tool_choice: { type: 'function', name: 'get_weather' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true }, verbosity: 'low' },
      max_output_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      reasoning: { effort: 'low' },
      stream: true,
      user: 'u-1',
      safety_identifier: 's-1',
      prompt_cache_key: 'k',
      service_tier: 'flex',
    });
    const expected: ChatRequest = {
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: WEATHER.parameters, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      verbosity: 'low',
      reasoning_effort: 'low',
      user: 'u-1',
      safety_identifier: 's-1',
      prompt_cache_key: 'k',
      service_tier: 'flex',
    };
    assert.deepEqual(chat, expected);
    assert.deepEqual(dropped, []);
  });

  test('text.format json_object → response_format; text → nothing; allowed_tools keeps its mode', () => {
    assert.deepEqual(convert({ input: 'hi', text: { format: { type: 'json_object' } } }).chat.response_format, { type: 'json_object' });
    assert.equal('response_format' in convert({ input: 'hi', text: { format: { type: 'text' } } }).chat, false);
    const { chat } = convert({ input: 'hi', tools: [WEATHER], tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'get_weather' }] } });
    assert.deepEqual(chat.tool_choice, { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'get_weather' } }] } });
    assert.equal(convert({ input: 'hi', tools: [WEATHER], tool_choice: 'required' }).chat.tool_choice, 'required');
  });

  test('the gateway keeps store, previous_response_id and metadata: not sent, not dropped', () => {
    const { chat, dropped } = convert({ input: 'hi', store: true, previous_response_id: 'resp_1', metadata: { team: 'a' }, stream_options: { include_obfuscation: true } });
    assert.deepEqual(chat, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(dropped, []);
  });

  test('dropped, in the request order and the Responses spelling; inert values are not reported', () => {
    const { chat, dropped } = convert({
      input: 'hi',
      truncation: 'auto',
      include: ['reasoning.encrypted_content'],
      max_tool_calls: 3,
      reasoning: { effort: 'high', summary: 'auto' },
      top_logprobs: 2,
      some_future_field: 1,
    });
    assert.deepEqual(dropped, ['truncation', 'include', 'max_tool_calls', 'top_logprobs', 'some_future_field', 'reasoning.summary']);
    assert.equal(chat.reasoning_effort, 'high');
    assert.deepEqual(convert({ input: 'hi', truncation: 'disabled', include: [], top_logprobs: 0, background: false }).dropped, []);
  });
});

describe('responsesToChat: what the hub cannot carry is a 400 naming the field', () => {
  test('built-in tools', () => refused({ input: 'hi', tools: [WEATHER, { type: 'web_search' }] }, 'tools[1].type', 'tools[1].type: built-in tool "web_search" is not available on this provider'));
  test('a built-in tool choice', () => refused({ input: 'hi', tool_choice: { type: 'file_search' } }, 'tool_choice.type', 'tool_choice.type: built-in tool "file_search" is not available on this provider'));
  test('item_reference', () => refused({ input: [{ role: 'user', content: 'a' }, { type: 'item_reference', id: 'msg_1' }] }, 'input[1]', 'input[1]: item_reference is not supported'));
  test('item_reference shorthand', () => refused({ input: [{ id: 'msg_1' }] }, 'input[0]', 'input[0]: item_reference is not supported'));
  test('items only OpenAI runs', () => refused({ input: [{ type: 'computer_call_output', call_id: 'c', output: {} }] }, 'input[0].type', 'input[0].type: "computer_call_output" items are not supported on this provider'));
  test('images by file id', () =>
    refused({ input: [{ role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_image', file_id: 'file-1' }] }] }, 'input[0].content[1].file_id', 'input[0].content[1].file_id: images by file id are not supported on this provider; send image_url (a URL or a data URL)'));
  test('files by URL', () => refused({ input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://x/a.pdf' }] }] }, 'input[0].content[0].file_url', 'input[0].content[0].file_url: files by URL are not supported on this provider; send file_data'));
  test('output_text in a user message', () => refused({ input: [{ role: 'user', content: [{ type: 'output_text', text: 'a' }] }] }, 'input[0].content[0].type', 'input[0].content[0].type: "output_text" parts belong to assistant messages'));
  test('input_image in an assistant message', () =>
    refused({ input: [{ role: 'assistant', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] }, 'input[0].content[0].type', 'input[0].content[0].type: assistant messages carry output_text and refusal parts, not "input_image"'));
  test('a client\'s type is quoted and cut in the message', () => refused({ input: 'hi', tools: [{ type: 'x'.repeat(100) }] }, 'tools[0].type', `tools[0].type: built-in tool "${'x'.repeat(64)}…" is not available on this provider`));
  test('background: true', () => refused({ input: 'hi', background: true }, 'background', 'background: background responses are not supported on this provider'));
  test('conversation', () => refused({ input: 'hi', conversation: 'conv_1' }, 'conversation', 'conversation: not supported; use previous_response_id'));
});

describe('inputItems: the input as stored items', () => {
  test('a string is one user message with an input_text part', () => {
    assert.deepEqual(inputItems(checkResponsesRequest({ model: 'm', input: 'hi' }), counter()), [
      { id: 'msg_1', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'hi' }] },
    ]);
  });

  test('ids by kind, given ids kept, string contents as one part, assistant text as output_text', () => {
    const req = checkResponsesRequest({
      model: 'm',
      input: [
        { role: 'system', content: 's' },
        { type: 'message', id: 'msg_mine', role: 'user', content: [{ type: 'input_text', text: 'u' }] },
        { role: 'assistant', content: 'a' },
        { type: 'reasoning', summary: [], encrypted_content: 'e' },
        { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', id: 'fco_mine', call_id: 'call_1', output: 'r' },
      ],
    });
    assert.deepEqual(inputItems(req, counter()), [
      { id: 'msg_1', type: 'message', role: 'system', status: 'completed', content: [{ type: 'input_text', text: 's' }] },
      { id: 'msg_mine', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'u' }] },
      { id: 'msg_2', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'a', annotations: [], logprobs: [] }] },
      { id: 'rs_3', type: 'reasoning', summary: [], encrypted_content: 'e' },
      { id: 'fc_4', type: 'function_call', status: 'completed', call_id: 'call_1', name: 'f', arguments: '{}' },
      { id: 'fco_mine', type: 'function_call_output', status: 'completed', call_id: 'call_1', output: 'r' },
    ]);
  });

  test('no input: no items; default ids are unguessable and distinct', () => {
    assert.deepEqual(inputItems(checkResponsesRequest({ model: 'm' })), []);
    // An item only a provider's own Responses API takes: refused for the hub, kept (with an id) for a direct path.
    const direct = checkResponsesRequest({ model: 'm', input: [{ type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'q' } }] });
    assert.throws(() => inputItems(direct), (err: unknown) => err instanceof GatewayError && err.param === 'input[0].type');
    assert.deepEqual(inputItems(direct, () => 'item_1', 'keep'), [{ type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'q' }, id: 'item_1' }]);
    const [a] = inputItems(checkResponsesRequest({ model: 'm', input: 'x' }));
    const [b] = inputItems(checkResponsesRequest({ model: 'm', input: 'x' }));
    assert.match(a!.id, /^msg_[0-9a-f]{48}$/);
    assert.notEqual(a!.id, b!.id);
  });

  test('stored items convert as the input they came from', () => {
    const req = checkResponsesRequest({ model: 'm', input: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' }] });
    const direct = responsesToChat(req).chat.messages;
    const viaStore = responsesToChat(checkResponsesRequest({ model: 'm', previous_response_id: 'resp_1' }), inputItems(req)).chat.messages;
    assert.deepEqual(viaStore, direct);
  });
});

describe('round trips through real chat translators', () => {
  const turn = {
    model: 'claude-alias',
    instructions: 'You are terse.',
    max_output_tokens: 300,
    tools: [WEATHER],
    tool_choice: 'auto',
    input: [
      { role: 'user', content: 'Weather in Paris?' },
      { type: 'function_call', call_id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call_output', call_id: 'toolu_1', output: '18C, sunny' },
    ],
  };

  test('Anthropic Messages: system, tool_use and tool_result blocks, max_tokens', () => {
    const { chat } = responsesToChat(checkResponsesRequest(turn));
    const native = anthropicChat({ model: 'claude-test-1', id: 'chatcmpl-1', created: 0, stream: false, includeUsage: false }).request(chat);
    const body = JSON.parse(native.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(body['model'], 'claude-test-1');
    assert.equal(body['max_tokens'], 300);
    assert.deepEqual(body['system'], 'You are terse.');
    assert.deepEqual(body['tools'], [{ name: 'get_weather', description: 'Weather by city', input_schema: WEATHER.parameters }]);
    assert.deepEqual(body['tool_choice'], { type: 'auto' });
    assert.deepEqual(body['messages'], [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18C, sunny' }] },
    ]);
    assert.deepEqual(native.dropped, []);
  });

  test('an OpenAI-compatible API gets the chat body itself', () => {
    const { chat } = responsesToChat(checkResponsesRequest({ ...turn, stream: true }));
    const native = openaiCompatibleChat({ model: 'gpt-test', id: 'chatcmpl-1', created: 0, stream: true, includeUsage: true }).request(chat);
    const body = JSON.parse(native.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(native.path, '/v1/chat/completions');
    assert.deepEqual(body, { ...chat, model: 'gpt-test' });
    assert.deepEqual(body['stream_options'], { include_usage: true });
    assert.equal('n' in body, false);
  });
});
