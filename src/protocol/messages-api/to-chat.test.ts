import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { openaiCompatibleChat } from '../../providers/openai-compatible/chat.js';
import { geminiChat } from '../../providers/vertex/openai_to_gemini.js';
import type { ChatRequest } from '../openai.js';
import { MESSAGES_PARAMETER_SAMPLES, observeMessages, renderMessagesTable } from './parameter-table.js';
import { checkMessagesRequest } from './schema.js';
import { countTokensToChat, effortOfBudget, messagesToChat } from './to-chat.js';

const WEATHER = { name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } };
const gemini = geminiChat({ project: 'my-project', location: 'us-central1' });

function convert(body: Record<string, unknown>) {
  return messagesToChat(checkMessagesRequest({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...body }));
}

function refused(body: Record<string, unknown>, param: string, message: RegExp): void {
  assert.throws(
    () => convert(body),
    (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && err.param === param && message.test(err.message),
  );
}

describe('messagesToChat', () => {
  test('a plain request: model, max_tokens → max_completion_tokens, sampling, stop, user', () => {
    const { chat, dropped } = convert({ temperature: 0.2, top_p: 0.9, stop_sequences: ['END'], metadata: { user_id: 'u-1' } });
    assert.deepEqual(chat, {
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 100,
      stop: ['END'],
      temperature: 0.2,
      top_p: 0.9,
      user: 'u-1',
    });
    assert.deepEqual(dropped, []);
  });

  test('stream asks the hub for usage', () => {
    const { chat } = convert({ stream: true });
    assert.equal(chat.stream, true);
    assert.deepEqual(chat.stream_options, { include_usage: true });
  });

  test('system (string or blocks) and mid-conversation system turns become system messages in place', () => {
    const { chat, dropped } = convert({
      system: [{ type: 'text', text: 'One.' }, { type: 'text', text: 'Two.', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'system', content: [{ type: 'text', text: 'Now be terse.', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: 'again' },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'One.\n\nTwo.' },
      { role: 'user', content: 'hi' },
      { role: 'system', content: 'Now be terse.' },
      { role: 'user', content: 'again' },
    ]);
    assert.deepEqual(dropped, ['cache_control'], 'reported once');
  });

  test('user blocks: text, base64 image as a data URL, url image, PDF as a file part, plain-text document', () => {
    const { chat } = convert({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'compare' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' }, title: 'a.pdf' },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain words' } },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'compare' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
          { type: 'text', text: 'plain words' },
        ],
      },
    ]);
  });

  test('a tool round: tool_use → tool_calls; tool_result → tool messages before the turn text; is_error prefixes "Error: "; thinking left out', () => {
    const { chat } = convert({
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'two calls', signature: 'sig' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'here you go' },
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'sunny' }, { type: 'text', text: '21C' }] },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: 'city not found', is_error: true },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'user', content: 'weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny\n21C' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: city not found' },
      { role: 'user', content: 'here you go' },
    ]);
    assert.deepEqual(chat.tools, [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema, description: 'Weather in a city' } }]);
  });

  test('an assistant turn of tool calls only has null content; an image in a tool result follows in a user message', () => {
    const png = { type: 'base64', media_type: 'image/png', data: 'AAAA' };
    const { chat } = convert({
      messages: [
        { role: 'user', content: 'screenshot?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_9', name: 'shot', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_9', content: [{ type: 'text', text: 'taken' }, { type: 'image', source: png }] }] },
      ],
    });
    assert.deepEqual(chat.messages.slice(1), [
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'shot', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_9', content: 'taken' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
    ]);
  });

  test('tool_choice and disable_parallel_tool_use', () => {
    const cases: Array<[unknown, ChatRequest['tool_choice'], boolean | undefined]> = [
      [{ type: 'auto' }, 'auto', undefined],
      [{ type: 'any', disable_parallel_tool_use: true }, 'required', false],
      [{ type: 'tool', name: 'get_weather' }, { type: 'function', function: { name: 'get_weather' } }, undefined],
      [{ type: 'none' }, 'none', undefined],
    ];
    for (const [choice, expected, parallel] of cases) {
      const { chat } = convert({ tools: [WEATHER], tool_choice: choice });
      assert.deepEqual(chat.tool_choice, expected, JSON.stringify(choice));
      assert.equal(chat.parallel_tool_calls, parallel, JSON.stringify(choice));
    }
  });

  test('thinking budget → reasoning_effort; output_config.effort wins; adaptive and disabled set nothing', () => {
    assert.deepEqual([1024, 4095, 4096, 16383, 16384, 64000].map(effortOfBudget), ['low', 'low', 'medium', 'medium', 'high', 'high']);
    assert.equal(convert({ max_tokens: 20000, thinking: { type: 'enabled', budget_tokens: 10000 } }).chat.reasoning_effort, 'medium');
    assert.equal(convert({ thinking: { type: 'enabled', budget_tokens: 1024 }, output_config: { effort: 'high' } }).chat.reasoning_effort, 'high');
    assert.equal(convert({ output_config: { effort: 'max' } }).chat.reasoning_effort, 'xhigh');
    assert.equal(convert({ thinking: { type: 'adaptive' } }).chat.reasoning_effort, undefined);
    assert.equal(convert({ thinking: { type: 'disabled' } }).chat.reasoning_effort, undefined);
  });

  test('output_config.format and the beta output_format → response_format json_schema', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    for (const body of [{ output_config: { format: { type: 'json_schema', schema } } }, { output_format: { type: 'json_schema', schema } }]) {
      assert.deepEqual(convert(body).chat.response_format, { type: 'json_schema', json_schema: { name: 'output', schema, strict: true } });
    }
  });

  test('reported as dropped: top_k, cache_control (once), service_tier other than auto, unknown fields', () => {
    const { chat, dropped } = convert({
      top_k: 5,
      cache_control: { type: 'ephemeral' },
      service_tier: 'standard_only',
      speed: 'fast',
      tools: [{ ...WEATHER, cache_control: { type: 'ephemeral' } }],
    });
    assert.deepEqual(dropped, ['top_k', 'service_tier', 'cache_control', 'speed']);
    assert.equal('top_k' in chat || 'speed' in chat || 'service_tier' in chat, false);
    assert.deepEqual(convert({ service_tier: 'auto' }).dropped, []);
  });

  test('refused, naming the field: server tools, Claude-only features, file sources, URL documents, misplaced blocks', () => {
    refused({ tools: [WEATHER, { type: 'web_search_20250305', name: 'web_search' }] }, 'tools.1.type', /web_search_20250305.*Claude backends/);
    refused({ tools: [{ type: 'bash_20250124', name: 'bash' }] }, 'tools.0.type', /bash_20250124/);
    refused({ container: 'c_1' }, 'container', /Claude backends/);
    refused({ mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }, 'mcp_servers', /Claude backends/);
    refused({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f_1' } }] }] }, 'messages.0.content.0.source.type', /Files API/);
    refused({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://x/a.pdf' } }] }] }, 'messages.0.content.0.source.type', /PDF/);
    refused({ messages: [{ role: 'assistant', content: [{ type: 'tool_result', tool_use_id: 't', content: 'x' }] }] }, 'messages.0.content.0.type', /assistant/);
    refused(
      { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'search_result', source: 's', title: 't', content: [] }] }] }] },
      'messages.0.content.0.content.0.type',
      /search_result/,
    );
  });

  test('countTokensToChat: the same messages and tools, without generation parameters', () => {
    const chat = countTokensToChat({ model: 'm', system: 'sys', messages: [{ role: 'user', content: 'hi' }], tools: [WEATHER], tool_choice: { type: 'auto' } });
    assert.deepEqual(chat, {
      model: 'm',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'hi' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema, description: 'Weather in a city' } }],
      tool_choice: 'auto',
    });
  });
});

describe('through real chat translators', () => {
  const ROUND = {
    system: 'Be brief.',
    tools: [WEATHER],
    tool_choice: { type: 'any' },
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'weather?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
    ],
  };

  test('an OpenAI-compatible provider receives the chat request as converted, with the provider model', () => {
    const { chat } = convert({ ...ROUND, stream: true });
    const native = openaiCompatibleChat({ model: 'gpt-4o', id: 'x', created: 0, stream: true, includeUsage: true }).request(chat);
    const sent = JSON.parse(native.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(sent, { ...chat, model: 'gpt-4o' });
    assert.deepEqual(native.dropped, []);
  });

  test('Gemini on Vertex receives system, image, function call and response, and forced calling', () => {
    const { chat } = convert(ROUND);
    const native = gemini({ model: 'gemini-2.5-flash', id: 'x', created: 0, stream: false, includeUsage: false }).request(chat);
    const sent = JSON.parse(native.body.toString('utf8')) as {
      systemInstruction: { parts: Array<{ text: string }> };
      contents: Array<{ role: string; parts: Array<Record<string, unknown>> }>;
      toolConfig: { functionCallingConfig: { mode: string } };
      generationConfig: { maxOutputTokens: number };
    };
    assert.equal(sent.systemInstruction.parts[0]!.text, 'Be brief.');
    assert.deepEqual(
      sent.contents.map((c) => [c.role, c.parts.map((p) => Object.keys(p)[0])]),
      [
        ['user', ['text', 'inlineData']],
        ['model', ['functionCall']],
        ['user', ['functionResponse']],
      ],
    );
    assert.deepEqual(sent.contents[1]!.parts[0]!['functionCall'], { name: 'get_weather', args: { city: 'Paris' } });
    assert.equal(sent.toolConfig.functionCallingConfig.mode, 'ANY');
    assert.equal(sent.generationConfig.maxOutputTokens, 100);
  });

  test('the Messages parameter table, rendered for Gemini and an OpenAI-compatible provider', () => {
    const columns = [
      { name: 'OpenAI-compatible', outcomes: observeMessages(openaiCompatibleChat, 'gpt-4o') },
      { name: 'Gemini (Vertex)', outcomes: observeMessages(gemini, 'gemini-2.5-flash') },
    ];
    const table = renderMessagesTable(columns);
    const rows = table.split('\n');
    assert.equal(rows[0], '| Messages parameter | OpenAI-compatible | Gemini (Vertex) |');
    assert.equal(rows.length, 2 + MESSAGES_PARAMETER_SAMPLES.length);
    const row = (parameter: string) => rows.find((r) => r.startsWith(`| ${parameter} |`));
    // Observed, not declared: the converter's refusals and drops, then each translator's.
    assert.equal(row('tools: server tool (web_search)'), '| tools: server tool (web_search) | refused | refused |');
    assert.equal(row('container'), '| container | refused | refused |');
    assert.equal(row('top_k'), '| top_k | dropped | dropped |');
    assert.equal(row('cache_control'), '| cache_control | dropped | dropped |');
    assert.equal(row('max_tokens'), '| max_tokens | sent | sent |');
    assert.equal(row('tool_choice: any'), '| tool_choice: any | sent | sent |');
    // Gemini cannot be told to call one function at a time, nor take a reasoning effort.
    assert.equal(row('disable_parallel_tool_use'), '| disable_parallel_tool_use | sent | dropped |');
    assert.equal(row('thinking: enabled'), '| thinking: enabled | sent | dropped |');
  });
});
