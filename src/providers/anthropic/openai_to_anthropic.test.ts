import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import {
  AnthropicEventTranslator,
  DEFAULT_MAX_TOKENS,
  anthropicChat,
  toAnthropicMessages,
  type AnthropicStreamEvent,
} from './openai_to_anthropic.js';

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

// ---------------------------------------------------------------------------------------------
// Streams over the recorded transcripts.

const SUB = 'wire/anthropic';

/** What each transcript says, read by eye: text, tool call, stop reason and usage. */
const RECORDED: Record<string, { text: string; tool?: { id: string; name: string; arguments: string }; finish: string; input: number; output: number }> = {
  'messages-stream.basic.sse': { text: 'Hello there!', finish: 'stop', input: 11, output: 6 },
  'messages-stream.tool-use.sse': {
    text: "I'll check the current weather in Paris for you.",
    tool: { id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', name: 'get_weather', arguments: '{"location": "Paris"}' },
    finish: 'tool_calls',
    input: 377,
    output: 65,
  },
};

const STREAM_OPTIONS: TranslatorOptions = { ...OPTIONS, stream: true, includeUsage: true };

function feedings(bytes: Uint8Array): Array<[string, Uint8Array[]]> {
  const out: Array<[string, Uint8Array[]]> = [
    ['whole', [bytes]],
    ['byte by byte', byteByByte(bytes)],
  ];
  for (let seed = 1; seed <= 10; seed++) out.push([`random split ${seed}`, randomChunks(bytes, seed, seed % 2 === 0 ? 5 : 100)]);
  return out;
}

function runStream(chunks: Iterable<Uint8Array>, options: TranslatorOptions = STREAM_OPTIONS) {
  const t = anthropicChat(options);
  const out: ChatCompletionChunk[] = [];
  for (const c of chunks) out.push(...t.push(Buffer.from(c)));
  out.push(...t.end());
  return { chunks: out, usage: t.usage() };
}

function summarize(chunks: ChatCompletionChunk[]) {
  const choices = chunks.flatMap((c) => c.choices);
  const calls = new Map<number, { id?: string; name?: string; arguments: string }>();
  for (const ch of choices) {
    for (const tc of ch.delta.tool_calls ?? []) {
      const cur = calls.get(tc.index) ?? { arguments: '' };
      if (tc.id) cur.id = tc.id;
      if (tc.function?.name) cur.name = tc.function.name;
      cur.arguments += tc.function?.arguments ?? '';
      calls.set(tc.index, cur);
    }
  }
  return {
    text: choices.map((ch) => ch.delta.content ?? '').join(''),
    calls: [...calls.entries()],
    finishes: choices.map((ch) => ch.finish_reason).filter((f) => f !== null),
  };
}

describe('streams over the recorded Anthropic transcripts', { skip: testdataSkip(SUB) }, () => {
  for (const [name, want] of Object.entries(RECORDED)) {
    describe(name, () => {
      const bytes = readTestdata(SUB, name);
      const reference = runStream([bytes]);

      test('chunk sequence: role first, content, one finish_reason, then the usage chunk', () => {
        const { chunks } = reference;
        assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-1' && c.model === 'claude-test-1'));
        assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
        const s = summarize(chunks);
        assert.equal(s.text, want.text);
        assert.deepEqual(s.finishes, [want.finish]);
        const finishAt = chunks.findIndex((c) => c.choices[0]?.finish_reason);
        assert.equal(finishAt, chunks.length - 2, 'the finish_reason chunk comes last before usage');
        assert.deepEqual(chunks[finishAt]!.choices[0]!.delta, {});
        const last = chunks[chunks.length - 1]!;
        assert.deepEqual(last.choices, []);
        assert.deepEqual(last.usage, { prompt_tokens: want.input, completion_tokens: want.output, total_tokens: want.input + want.output });
        assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
        assert.deepEqual(reference.usage, { inputTokens: want.input, outputTokens: want.output });
      });

      test('tool calls', () => {
        const s = summarize(reference.chunks);
        if (!want.tool) return assert.deepEqual(s.calls, []);
        assert.deepEqual(s.calls, [[0, want.tool]]);
        assert.equal(JSON.parse(s.calls[0]![1].arguments).location, 'Paris');
        const start = reference.chunks.find((c) => c.choices[0]?.delta.tool_calls?.[0]?.id);
        assert.deepEqual(start!.choices[0]!.delta.tool_calls, [
          { index: 0, id: want.tool.id, type: 'function', function: { name: want.tool.name, arguments: '' } },
        ]);
      });

      test('the same chunks for every split of the bytes', () => {
        for (const [how, chunks] of feedings(bytes)) assert.deepEqual(runStream(chunks), reference, how);
      });

      test('without include_usage: no usage chunk, no usage fields', () => {
        const { chunks, usage } = runStream([bytes], { ...STREAM_OPTIONS, includeUsage: false });
        assert.ok(chunks.every((c) => c.choices.length === 1 && !('usage' in c)));
        assert.deepEqual(usage, { inputTokens: want.input, outputTokens: want.output });
      });

      for (const cutBefore of ['event: message_delta', 'event: message_stop']) {
        test(`cut before "${cutBefore}": end() throws StreamIncomplete, nothing invented`, () => {
          const text = bytes.toString('utf8');
          const truncated = Buffer.from(text.slice(0, text.indexOf(cutBefore)));
          for (const [how, chunks] of feedings(truncated)) {
            const t = anthropicChat(STREAM_OPTIONS);
            const out: ChatCompletionChunk[] = [];
            for (const c of chunks) out.push(...t.push(Buffer.from(c)));
            assert.throws(() => t.end(), StreamIncomplete, how);
            const s = summarize(out);
            // Only a finish_reason the transcript itself sent, and no usage chunk.
            assert.deepEqual(s.finishes, cutBefore === 'event: message_stop' ? [want.finish] : [], how);
            assert.ok(out.every((c) => c.choices.length === 1 && c.usage === null), how);
            assert.equal(s.text, want.text, how);
          }
        });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The state machine over parsed events (what a Bedrock or Vertex wrapper feeds it).

describe('AnthropicEventTranslator', () => {
  const start: AnthropicStreamEvent = { type: 'message_start', message: { usage: { input_tokens: 5, output_tokens: 1 } } };

  function run(events: AnthropicStreamEvent[], options: TranslatorOptions = STREAM_OPTIONS) {
    const t = new AnthropicEventTranslator(options);
    return { chunks: events.flatMap((ev) => t.event(ev)), t };
  }

  test('two tool_use blocks are numbered 0 and 1, whatever their block index', () => {
    const { chunks, t } = run([
      start,
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'a', name: 'f' } },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'b', name: 'g' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"y":2}' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"x":1}' } },
      { type: 'ping' },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } },
      { type: 'message_stop' },
    ]);
    assert.deepEqual(t.end(), []);
    assert.deepEqual(summarize(chunks).calls, [
      [0, { id: 'a', name: 'f', arguments: '{"x":1}' }],
      [1, { id: 'b', name: 'g', arguments: '{"y":2}' }],
    ]);
    assert.deepEqual(t.usage(), { inputTokens: 5, outputTokens: 9 });
  });

  test('cache reads and writes count as prompt tokens', () => {
    const { chunks } = run([
      { type: 'message_start', message: { usage: { input_tokens: 5, cache_creation_input_tokens: 100, cache_read_input_tokens: 50, output_tokens: 1 } } },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } },
      { type: 'message_stop' },
    ]);
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 155, completion_tokens: 3, total_tokens: 158 });
  });

  test('an error event throws StreamIncomplete carrying the provider message', () => {
    const t = new AnthropicEventTranslator(STREAM_OPTIONS);
    t.event(start);
    assert.throws(
      () => t.event({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
      (err: unknown) => err instanceof StreamIncomplete && err.message.includes('overloaded_error') && err.message.includes('Overloaded'),
    );
  });

  test('unknown events and thinking deltas are ignored', () => {
    const { chunks } = run([
      start,
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta' } },
      { type: 'some_future_event' } as unknown as AnthropicStreamEvent,
    ]);
    assert.equal(chunks.length, 1);
  });

  test('an unmapped stop reason sends no finish_reason', () => {
    const { chunks } = run([start, { type: 'message_delta', delta: { stop_reason: 'pause_turn' } }, { type: 'message_stop' }]);
    assert.deepEqual(summarize(chunks).finishes, []);
  });

  test('a stream event that is not JSON ends the stream', () => {
    const t = anthropicChat(STREAM_OPTIONS);
    assert.throws(() => t.push(Buffer.from('event: message_start\ndata: {nope\n\n')), StreamIncomplete);
  });
});
