import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatRequest } from '../../protocol/openai.js';
import type { TranslatorOptions } from '../../protocol/translator.js';
import { anthropicChat } from './index.js';
import { DEFAULT_MAX_TOKENS, toAnthropicMessages } from './request.js';

const OPTIONS: TranslatorOptions = { model: 'claude-test-1', id: 'chatcmpl-1', created: 1700000000, stream: false, includeUsage: false };

function request(body: Partial<ChatRequest>, options: Partial<TranslatorOptions> = {}) {
  const full = { model: 'client-alias', messages: [{ role: 'user', content: 'Hi' }], ...body } as ChatRequest;
  const native = anthropicChat({ ...OPTIONS, ...options }).request(full);
  return { ...native, json: JSON.parse(native.body.toString('utf8')) as Record<string, unknown> };
}

function assertRefused(body: Partial<ChatRequest>, mentions: string): void {
  assert.throws(
    () => request(body),
    (err: unknown) => {
      assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
      assert.equal(err.code, 'invalid_request');
      assert.equal(err.status, 400);
      assert.ok(err.message.includes(mentions), `"${err.message}" should name ${mentions}`);
      return true;
    },
  );
}

describe('request: envelope', () => {
  test('POST /v1/messages with anthropic-version, the resolved model and no credential', () => {
    const r = request({ model: 'client-alias' });
    assert.equal(r.path, '/v1/messages');
    assert.deepEqual(r.headers, { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });
    assert.equal(r.json['model'], 'claude-test-1');
    assert.equal('stream' in r.json, false);
    assert.deepEqual(r.dropped, []);
  });

  test('stream → stream: true', () => {
    assert.equal(request({ stream: true }, { stream: true }).json['stream'], true);
  });

  test('toAnthropicMessages leaves model, stream and anthropic_version to the host (Bedrock, Vertex)', () => {
    const { params } = toAnthropicMessages({ model: 'm', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    assert.deepEqual(params, { max_tokens: DEFAULT_MAX_TOKENS, messages: [{ role: 'user', content: 'Hi' }] });
  });
});

describe('request: messages', () => {
  const cases: Array<{ name: string; messages: ChatRequest['messages']; system?: string; expect: unknown }> = [
    {
      name: 'system and developer → top-level system, joined in order',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      ],
      system: 'Be brief.\n\nAnswer in French.',
      expect: [{ role: 'user', content: 'Hi' }],
    },
    {
      name: 'multi-turn: consecutive same-role messages merged to alternate',
      messages: [
        { role: 'user', content: 'one' },
        { role: 'user', content: 'two' },
        { role: 'assistant', content: 'three' },
        { role: 'assistant', content: [{ type: 'text', text: 'four' }] },
        { role: 'user', content: 'five' },
      ],
      expect: [
        { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'three' }, { type: 'text', text: 'four' }] },
        { role: 'user', content: 'five' },
      ],
    },
    {
      name: 'images: data: URL → base64 source, https: → url source',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
      expect: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    },
    {
      name: 'assistant tool_calls → tool_use; parallel tool results → one user message, then the next user text',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        { role: 'user', content: 'Thanks' },
      ],
      expect: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Paris' } },
            { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { location: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
            { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
    },
    {
      name: 'assistant text before its tool call; "" arguments = no arguments',
      messages: [
        { role: 'user', content: 'Time?' },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'c', type: 'function', function: { name: 'now', arguments: '' } }] },
        { role: 'tool', tool_call_id: 'c', content: '12:00' },
      ],
      expect: [
        { role: 'user', content: 'Time?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'c', name: 'now', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c', content: '12:00' }] },
      ],
    },
    {
      name: 'empty assistant content omitted (Anthropic rejects empty text blocks)',
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'b' },
      ],
      expect: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { json } = request({ messages: c.messages });
      assert.deepEqual(json['messages'], c.expect);
      assert.equal(json['system'], c.system);
    });
  }
});

describe('request: parameters', () => {
  const cases: Array<{ name: string; body: Partial<ChatRequest>; expect: Record<string, unknown> }> = [
    { name: 'max_completion_tokens wins over max_tokens', body: { max_completion_tokens: 100, max_tokens: 200 }, expect: { max_tokens: 100 } },
    { name: 'max_tokens alone', body: { max_tokens: 200 }, expect: { max_tokens: 200 } },
    { name: 'neither → the default', body: {}, expect: { max_tokens: 4096 } },
    { name: 'null max_completion_tokens falls back', body: { max_completion_tokens: null, max_tokens: 7 }, expect: { max_tokens: 7 } },
    { name: 'temperature and top_p', body: { temperature: 0.3, top_p: 0.9 }, expect: { temperature: 0.3, top_p: 0.9 } },
    { name: 'stop string → stop_sequences', body: { stop: 'END' }, expect: { stop_sequences: ['END'] } },
    { name: 'stop array → stop_sequences', body: { stop: ['a', 'b'] }, expect: { stop_sequences: ['a', 'b'] } },
    { name: 'user → metadata.user_id', body: { user: 'u-42' }, expect: { metadata: { user_id: 'u-42' } } },
    {
      name: 'tools → name, description, input_schema (defaulted), strict',
      body: {
        tools: [
          { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: true } },
          { type: 'function', function: { name: 'now' } },
        ],
      },
      expect: {
        tools: [
          { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } }, strict: true },
          { name: 'now', input_schema: { type: 'object', properties: {} } },
        ],
      },
    },
    { name: "tool_choice 'auto'", body: { tool_choice: 'auto' }, expect: { tool_choice: { type: 'auto' } } },
    { name: "tool_choice 'required' → any", body: { tool_choice: 'required' }, expect: { tool_choice: { type: 'any' } } },
    { name: "tool_choice 'none'", body: { tool_choice: 'none' }, expect: { tool_choice: { type: 'none' } } },
    {
      name: 'tool_choice function → tool',
      body: { tool_choice: { type: 'function', function: { name: 'get_weather' } } },
      expect: { tool_choice: { type: 'tool', name: 'get_weather' } },
    },
    {
      name: 'parallel_tool_calls false with a tool_choice',
      body: { tool_choice: 'required', parallel_tool_calls: false },
      expect: { tool_choice: { type: 'any', disable_parallel_tool_use: true } },
    },
    {
      name: 'parallel_tool_calls false alone → auto',
      body: { parallel_tool_calls: false },
      expect: { tool_choice: { type: 'auto', disable_parallel_tool_use: true } },
    },
    {
      name: 'response_format json_schema → output_config.format',
      body: { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } },
      expect: { output_config: { format: { type: 'json_schema', schema: { type: 'object' } } } },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { json, dropped } = request(c.body);
      for (const [key, value] of Object.entries(c.expect)) assert.deepEqual(json[key], value, key);
      assert.deepEqual(dropped, []);
    });
  }

  test('absent parameters are not sent', () => {
    const { json } = request({ temperature: null, top_p: null, stop: null, tool_choice: undefined, response_format: { type: 'text' } });
    assert.deepEqual(Object.keys(json).sort(), ['max_tokens', 'messages', 'model']);
  });
});

describe('request: refused parameters', () => {
  const cases: Array<[string, Partial<ChatRequest>, string]> = [
    ['n > 1', { n: 2 }, 'n'],
    ['response_format json_object', { response_format: { type: 'json_object' } }, 'json_object'],
    ['logprobs', { logprobs: true }, 'logprobs'],
    ['top_logprobs', { top_logprobs: 3 }, 'top_logprobs'],
    ['temperature above 1', { temperature: 1.5 }, 'temperature'],
    ['deprecated functions', { functions: [{ name: 'f' }] }, 'functions'],
    ['audio output', { modalities: ['text', 'audio'] }, 'modalities'],
    ['web search', { web_search_options: {} }, 'web_search_options'],
    [
      'tool call arguments that are not JSON',
      { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{bad' } }] }] },
      'messages[0].tool_calls[0].function.arguments',
    ],
    [
      'tool call arguments that are not an object',
      { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }] }] },
      'messages[0].tool_calls[0].function.arguments',
    ],
    ['tool message without tool_call_id', { messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    [
      'a data: URL that is not base64',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,abc' } }] }] },
      'messages[0].content[0]',
    ],
    [
      'an audio content part',
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} } as never] }] },
      'messages[0].content[0]',
    ],
  ];
  for (const [name, body, mentions] of cases) test(name, () => assertRefused(body, mentions));

  test('n: 1, logprobs: false and top_logprobs: 0 are accepted', () => {
    assert.deepEqual(request({ n: 1, logprobs: false, top_logprobs: 0 }).dropped, []);
  });
});

describe('request: dropped parameters', () => {
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['presence and frequency penalties', { presence_penalty: 0.5, frequency_penalty: -1 }, ['presence_penalty', 'frequency_penalty']],
    ['zero penalties are the default, not dropped', { presence_penalty: 0, frequency_penalty: 0 }, []],
    ['seed', { seed: 7 }, ['seed']],
    ['logit_bias set', { logit_bias: { '50256': -100 } }, ['logit_bias']],
    ['logit_bias empty', { logit_bias: {} }, []],
    ['service_tier', { service_tier: 'flex' }, ['service_tier']],
    ['store true', { store: true }, ['store']],
    ['store false', { store: false }, []],
    ['OpenAI metadata (not Anthropic metadata)', { metadata: { k: 'v' } }, ['metadata']],
    ['an unknown parameter', { frobnicate: 1 }, ['frobnicate']],
    ['explicit nulls', { seed: null, frobnicate: null }, []],
    ['image detail', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }] }] }, ['image_url.detail']],
  ];
  for (const [name, body, expected] of cases) {
    test(name, () => {
      const { json, dropped } = request(body as Partial<ChatRequest>);
      assert.deepEqual(dropped, expected);
      for (const key of expected) assert.equal(key in json, false, `${key} is not forwarded`);
    });
  }
});
