import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventStreamCodec, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { EventStreamError } from '../../protocol/aws-eventstream.js';
import type { ChatCompletionChunk, ChatRequest, FinishReason, ToolChoice } from '../../protocol/openai.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import { converseChat } from './openai_to_converse.js';

const MODEL = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const OPTIONS: TranslatorOptions = { model: MODEL, id: 'chatcmpl-test', created: 1_700_000_000, stream: false, includeUsage: false };
const codec = new EventStreamCodec(toUtf8, fromUtf8);
const SNAPSHOTS = 'wire/bedrock/aws-sdk-js-v3-snapshots';

// ---------------------------------------------------------------------------------------------
// Request

interface Translated {
  path: string;
  headers: Record<string, string>;
  converse: Record<string, unknown>;
  dropped: string[];
}

function translate(body: Partial<ChatRequest> & Record<string, unknown>, options: Partial<TranslatorOptions> = {}): Translated {
  const native = converseChat({ ...OPTIONS, ...options }).request({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body } as ChatRequest);
  return { path: native.path, headers: native.headers, converse: JSON.parse(native.body.toString('utf8')) as Record<string, unknown>, dropped: native.dropped };
}

function assertRefused(body: Partial<ChatRequest> & Record<string, unknown>, message: RegExp): void {
  assert.throws(
    () => translate(body),
    (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && message.test(err.message),
  );
}

const PNG = 'iVBORw0KGgo=';

describe('converseChat request: path and headers', () => {
  const cases: Array<[string, Partial<TranslatorOptions>, string, string]> = [
    ['converse', { stream: false }, `/model/${encodeURIComponent(MODEL)}/converse`, 'application/json'],
    ['converse-stream', { stream: true }, `/model/${encodeURIComponent(MODEL)}/converse-stream`, 'application/vnd.amazon.eventstream'],
    [
      'an inference-profile ARN is one encoded segment',
      { model: 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku' },
      '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku/converse',
      'application/json',
    ],
  ];
  for (const [name, options, path, accept] of cases) {
    test(name, () => {
      const t = translate({}, options);
      assert.equal(t.path, path);
      assert.deepEqual(t.headers, { 'content-type': 'application/json', accept });
    });
  }

  test('the minimal request is messages only; model and stream stay out of the body', () => {
    const t = translate({ stream: true, stream_options: { include_usage: true } }, { stream: true });
    assert.deepEqual(t.converse, { messages: [{ role: 'user', content: [{ text: 'hi' }] }] });
    assert.deepEqual(t.dropped, []);
  });
});

describe('converseChat request: messages', () => {
  const cases: Array<{ name: string; messages: unknown[]; system?: unknown; expect: unknown[] }> = [
    {
      name: 'system and developer become system blocks, in order, wherever they stand',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }, { type: 'text', text: 'No emoji.' }] },
      ],
      system: [{ text: 'Be brief.' }, { text: 'Answer in French.' }, { text: 'No emoji.' }],
      expect: [{ role: 'user', content: [{ text: 'hi' }] }],
    },
    {
      name: 'consecutive same-role messages are merged',
      messages: [
        { role: 'user', content: 'a' },
        { role: 'user', content: [{ type: 'text', text: 'b' }] },
        { role: 'assistant', content: 'c' },
        { role: 'assistant', content: 'd' },
        { role: 'user', content: 'e' },
      ],
      expect: [
        { role: 'user', content: [{ text: 'a' }, { text: 'b' }] },
        { role: 'assistant', content: [{ text: 'c' }, { text: 'd' }] },
        { role: 'user', content: [{ text: 'e' }] },
      ],
    },
    {
      name: 'empty text is skipped (Converse rejects blank text) and an emptied message merges its neighbours',
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'b' },
      ],
      expect: [{ role: 'user', content: [{ text: 'a' }, { text: 'b' }] }],
    },
    {
      name: 'data: URL images become image blocks carrying base64',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'compare' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/' } },
            { type: 'image_url', image_url: { url: 'data:image/jpg;base64,/9j/' } },
            { type: 'image_url', image_url: { url: 'data:image/gif;base64,R0lG' } },
            { type: 'image_url', image_url: { url: 'data:IMAGE/WEBP;BASE64,UklG' } },
          ],
        },
      ],
      expect: [
        {
          role: 'user',
          content: [
            { text: 'compare' },
            { image: { format: 'png', source: { bytes: PNG } } },
            { image: { format: 'jpeg', source: { bytes: '/9j/' } } },
            { image: { format: 'jpeg', source: { bytes: '/9j/' } } },
            { image: { format: 'gif', source: { bytes: 'R0lG' } } },
            { image: { format: 'webp', source: { bytes: 'UklG' } } },
          ],
        },
      ],
    },
    {
      name: 'assistant tool_calls become toolUse blocks after the text; tool results merge into one user turn',
      messages: [
        { role: 'user', content: 'weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'noon' }] },
        { role: 'user', content: 'thanks' },
      ],
      expect: [
        { role: 'user', content: [{ text: 'weather in Paris and Rome?' }] },
        {
          role: 'assistant',
          content: [
            { text: 'Checking.' },
            { toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } } },
            { toolUse: { toolUseId: 'call_2', name: 'get_time', input: {} } },
          ],
        },
        {
          role: 'user',
          content: [
            { toolResult: { toolUseId: 'call_1', content: [{ text: '18C' }] } },
            { toolResult: { toolUseId: 'call_2', content: [{ text: 'noon' }] } },
            { text: 'thanks' },
          ],
        },
      ],
    },
    {
      name: 'an assistant message with null content and tool calls has only toolUse blocks',
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1,2]' } }] },
      ],
      expect: [
        { role: 'user', content: [{ text: 'go' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 'c', name: 'f', input: [1, 2] } }] },
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const t = translate({ messages: c.messages as ChatRequest['messages'] });
      assert.deepEqual(t.converse['messages'], c.expect);
      assert.deepEqual(t.converse['system'], c.system);
    });
  }

  const refused: Array<[string, unknown[], RegExp]> = [
    ['an https image', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }], /data: URL/],
    ['an http image', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://example.com/cat.png' } }] }], /data: URL/],
    ['a bmp image', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }], /image\/bmp/],
    ['a data: URL that is not base64', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,%89PNG' } }] }], /base64/],
    ['a data: URL without a comma', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64' } }] }], /malformed/],
    ['an image in a system message', [{ role: 'system', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }], /user messages only/],
    ['an image in an assistant message', [{ role: 'assistant', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }], /user messages only/],
    ['an audio part', [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AA==', format: 'wav' } }] }], /input_audio/],
    ['tool arguments that are not JSON', [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }], /not valid JSON/],
    ['a tool message without tool_call_id', [{ role: 'tool', content: 'x' }], /tool_call_id/],
    ['the deprecated function role', [{ role: 'function', name: 'f', content: 'x' }], /"function" is not supported/],
    ['a message that is not an object', [null], /messages\[0\] must be an object/],
  ];
  for (const [name, messages, message] of refused) {
    test(`refused: ${name}`, () => assertRefused({ messages: messages as ChatRequest['messages'] }, message));
  }

  test('image detail and message names are reported as dropped', () => {
    const t = translate({
      messages: [{ role: 'user', name: 'alice', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}`, detail: 'low' } }] }],
    });
    assert.deepEqual(t.dropped.sort(), ['image_url.detail', 'messages[].name']);
  });
});

describe('converseChat request: inference, tools, output', () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['max_tokens', { max_tokens: 100 }, { inferenceConfig: { maxTokens: 100 } }],
    ['max_completion_tokens wins over max_tokens', { max_tokens: 100, max_completion_tokens: 50 }, { inferenceConfig: { maxTokens: 50 } }],
    ['temperature, top_p and a stop string', { temperature: 0.2, top_p: 0.9, stop: 'END' }, { inferenceConfig: { temperature: 0.2, topP: 0.9, stopSequences: ['END'] } }],
    ['a stop list', { stop: ['a', 'b'] }, { inferenceConfig: { stopSequences: ['a', 'b'] } }],
    ['nulls send nothing', { max_tokens: null, temperature: null, top_p: null, stop: null, n: null, tools: undefined }, {}],
    [
      'function tools with and without parameters',
      {
        tools: [
          { type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } },
          { type: 'function', function: { name: 'ping', strict: false } },
        ],
      },
      {
        toolConfig: {
          tools: [
            { toolSpec: { name: 'get_weather', description: 'Weather now', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } }, strict: true } },
            { toolSpec: { name: 'ping', inputSchema: { json: { type: 'object', properties: {} } } } },
          ],
        },
      },
    ],
    ['response_format text is the default', { response_format: { type: 'text' } }, {}],
    [
      'response_format json_schema becomes outputConfig with the schema as a string',
      { response_format: { type: 'json_schema', json_schema: { name: 'person', description: 'A person', schema: { type: 'object', properties: { name: { type: 'string' } } }, strict: true } } },
      {
        outputConfig: {
          textFormat: {
            type: 'json_schema',
            structure: { jsonSchema: { schema: '{"type":"object","properties":{"name":{"type":"string"}}}', name: 'person', description: 'A person' } },
          },
        },
      },
    ],
  ];
  for (const [name, body, expected] of cases) {
    test(name, () => {
      const { messages, ...rest } = translate(body).converse;
      assert.deepEqual(messages, [{ role: 'user', content: [{ text: 'hi' }] }]);
      assert.deepEqual(rest, expected);
    });
  }

  const tools: ChatRequest['tools'] = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
  const toolSpecs = [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }];
  const choices: Array<[string, ToolChoice | undefined, unknown]> = [
    ['absent', undefined, { tools: toolSpecs }],
    ['auto', 'auto', { tools: toolSpecs, toolChoice: { auto: {} } }],
    ['required', 'required', { tools: toolSpecs, toolChoice: { any: {} } }],
    ['a named function', { type: 'function', function: { name: 'f' } }, { tools: toolSpecs, toolChoice: { tool: { name: 'f' } } }],
    ['none withholds the tools', 'none', undefined],
  ];
  for (const [name, choice, expected] of choices) {
    test(`tool_choice ${name}`, () => {
      assert.deepEqual(translate({ tools, ...(choice === undefined ? {} : { tool_choice: choice }) }).converse['toolConfig'], expected);
    });
  }

  test('tool_choice none is refused once the history holds tool calls (Converse then requires toolConfig)', () => {
    assertRefused(
      {
        tools,
        tool_choice: 'none',
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'c', content: 'ok' },
        ],
      },
      /tool_choice "none"/,
    );
  });

  test('tool_choice auto or none without tools sends no toolConfig', () => {
    assert.equal(translate({ tool_choice: 'auto' }).converse['toolConfig'], undefined);
    assert.equal(translate({ tools: [], tool_choice: 'none' }).converse['toolConfig'], undefined);
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['n = 2', { n: 2 }, /n=2/],
    ['logprobs', { logprobs: true }, /logprobs/],
    ['top_logprobs', { top_logprobs: 3 }, /logprobs/],
    ['response_format json_object', { response_format: { type: 'json_object' } }, /json_object/],
    ['response_format json_schema without a schema', { response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, /schema is required/],
    ['functions', { functions: [{ name: 'f' }] }, /use "tools"/],
    ['function_call', { function_call: 'auto' }, /use "tools"/],
    ['audio output', { audio: { voice: 'alloy', format: 'mp3' } }, /audio/],
    ['audio modality', { modalities: ['text', 'audio'] }, /modalities/],
    ['web search', { web_search_options: {} }, /web_search_options/],
    ['a custom tool', { tools: [{ type: 'custom', custom: { name: 'x' } }] }, /only function tools/],
    ['tool_choice required without tools', { tool_choice: 'required' }, /requires "tools"/],
    ['a named tool_choice without tools', { tool_choice: { type: 'function', function: { name: 'f' } } }, /requires "tools"/],
  ];
  for (const [name, body, message] of refused) {
    test(`refused: ${name}`, () => assertRefused(body, message));
  }

  test('no-op values of refused parameters pass', () => {
    const t = translate({ n: 1, logprobs: false, top_logprobs: 0, modalities: ['text'], parallel_tool_calls: true });
    assert.deepEqual(t.converse, { messages: [{ role: 'user', content: [{ text: 'hi' }] }] });
    assert.deepEqual(t.dropped, []);
  });

  test('parameters without an equivalent are dropped and reported; nulls are not reported', () => {
    const t = translate({
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      seed: 7,
      logit_bias: { '50256': -100 },
      user: 'u-1',
      metadata: { a: 'b' },
      store: true,
      service_tier: 'auto',
      reasoning_effort: 'low',
      prediction: { type: 'content', content: 'x' },
      prompt_cache_key: 'k',
      safety_identifier: 's',
      verbosity: 'low',
      parallel_tool_calls: false,
      some_future_field: 1,
      seed_null: null,
    });
    assert.deepEqual(t.dropped.sort(), [
      'frequency_penalty',
      'logit_bias',
      'metadata',
      'parallel_tool_calls',
      'prediction',
      'presence_penalty',
      'prompt_cache_key',
      'reasoning_effort',
      'safety_identifier',
      'seed',
      'service_tier',
      'some_future_field',
      'store',
      'user',
      'verbosity',
    ]);
    assert.deepEqual(t.converse, { messages: [{ role: 'user', content: [{ text: 'hi' }] }] });
  });
});

// ---------------------------------------------------------------------------------------------
// Non-streaming answers

function respond(body: unknown, options: Partial<TranslatorOptions> = {}) {
  const t = converseChat({ ...OPTIONS, ...options });
  const completion = t.response(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  return { completion, usage: t.usage() };
}

describe('converseChat response', () => {
  test('the aws-sdk-js-v3 Converse "minimal response" snapshot', { skip: testdataSkip(SNAPSHOTS) }, () => {
    // The snapshot prints the JSON body between "[Uint8Array (json)]" and the SDK's own object dump.
    const text = readTestdata(SNAPSHOTS, 'Converse.res.minimal-excerpt.txt').toString('utf8');
    const json = text.slice(text.indexOf('[Uint8Array (json)]') + '[Uint8Array (json)]'.length, text.indexOf('--- [output object] ---'));
    const { completion, usage } = respond(json);
    // `output: {}` holds no message; "__stopReason__" is no known reason, and the message did stop.
    assert.deepEqual(completion, {
      id: 'chatcmpl-test',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    });
    assert.deepEqual(usage, { inputTokens: 0, outputTokens: 0 });
  });

  test('text and toolUse blocks; reasoning and server-side tool use are not passed on', () => {
    const { completion, usage } = respond({
      output: {
        message: {
          role: 'assistant',
          content: [
            { reasoningContent: { reasoningText: { text: 'thinking…', signature: 'sig' } } },
            { text: 'Let me check ' },
            { text: 'the weather.' },
            { toolUse: { toolUseId: 'tooluse_srv', name: 'web_grounding', input: { q: 'x' }, type: 'server_tool_use' } },
            { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris', units: ['C'] } } },
            { toolUse: { toolUseId: 'tooluse_2', name: 'get_time', input: {} } },
          ],
        },
      },
      stopReason: 'tool_use',
      usage: { inputTokens: 20, outputTokens: 9, totalTokens: 39, cacheReadInputTokens: 10 },
      metrics: { latencyMs: 120 },
    });
    assert.deepEqual(completion.choices, [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'Let me check the weather.',
          tool_calls: [
            { id: 'tooluse_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","units":["C"]}' } },
            { id: 'tooluse_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
          refusal: null,
        },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ]);
    // Cache reads count as input, as in transparent-mode accounting.
    assert.deepEqual(completion.usage, { prompt_tokens: 30, completion_tokens: 9, total_tokens: 39 });
    assert.deepEqual(usage, { inputTokens: 30, outputTokens: 9 });
  });

  const reasons: Array<[string, FinishReason]> = [
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['guardrail_intervened', 'content_filter'],
    ['content_filtered', 'content_filter'],
    ['a_reason_from_the_future', 'stop'],
  ];
  for (const [stopReason, finish] of reasons) {
    test(`stopReason ${stopReason} → ${finish}`, () => {
      const { completion } = respond({ output: { message: { role: 'assistant', content: [{ text: 'x' }] } }, stopReason });
      assert.equal(completion.choices[0]!.finish_reason, finish);
      assert.equal(completion.usage, undefined);
    });
  }

  for (const stopReason of ['malformed_model_output', 'malformed_tool_use']) {
    test(`stopReason ${stopReason} is an upstream error, not a finish; its usage is still counted`, () => {
      const t = converseChat(OPTIONS);
      const body = { output: { message: { role: 'assistant', content: [{ text: '{"a":' }] } }, stopReason, usage: { inputTokens: 5, outputTokens: 6 } };
      assert.throws(
        () => t.response(Buffer.from(JSON.stringify(body))),
        (err: unknown) => err instanceof GatewayError && err.code === 'upstream_error' && err.message.includes(stopReason),
      );
      assert.deepEqual(t.usage(), { inputTokens: 5, outputTokens: 6 });
    });
  }

  test('a body that is not JSON is an upstream error', () => {
    assert.throws(() => respond('<html>'), (err: unknown) => err instanceof GatewayError && err.code === 'upstream_error');
  });

  const errors: Array<[string, string, string | undefined]> = [
    ['message', '{"message":"The provided model identifier is invalid."}', 'The provided model identifier is invalid.'],
    ['Message', '{"Message":"User is not authorized"}', 'User is not authorized'],
    ['neither', '{"__type":"X"}', undefined],
    ['not JSON', 'Bad Gateway', undefined],
  ];
  for (const [name, body, expected] of errors) {
    test(`errorMessage: ${name}`, () => assert.equal(converseChat(OPTIONS).errorMessage(Buffer.from(body)), expected));
  }
});

// ---------------------------------------------------------------------------------------------
// Streams

const STREAM: TranslatorOptions = { ...OPTIONS, stream: true, includeUsage: true };

function frame(headers: Record<string, string>, payload: unknown): Buffer {
  const h: MessageHeaders = {};
  for (const [name, value] of Object.entries(headers)) h[name] = { type: 'string', value };
  return Buffer.from(codec.encode({ headers: h, body: fromUtf8(JSON.stringify(payload)) }));
}

/** An event frame as Bedrock sends it. */
function event(type: string, payload: unknown): Buffer {
  return frame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, payload);
}

/** A modelled exception as the service frames it. */
function exception(type: string, payload: unknown): Buffer {
  return frame({ ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' }, payload);
}

interface Run {
  chunks: ChatCompletionChunk[];
  error: unknown;
}

/** Every chunk the translator produces for `pieces`, and the error that ended it, if any. */
function run(pieces: Uint8Array[], options: TranslatorOptions = STREAM): Run {
  const t = converseChat(options);
  const chunks: ChatCompletionChunk[] = [];
  try {
    for (const p of pieces) chunks.push(...t.push(Buffer.from(p.buffer, p.byteOffset, p.length)));
    chunks.push(...t.end());
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

/** The same run whole, byte by byte and in random pieces: the result must not depend on the cuts. */
function runAllWays(bytes: Buffer, options: TranslatorOptions = STREAM): Run {
  const whole = run([bytes], options);
  const ways: Array<[string, Uint8Array[]]> = [['byte by byte', byteByByte(bytes)]];
  for (let seed = 1; seed <= 20; seed++) ways.push([`random seed ${seed}`, randomChunks(bytes, seed, 64)]);
  for (const [how, pieces] of ways) {
    const r = run(pieces, options);
    assert.deepEqual(r.chunks, whole.chunks, how);
    assert.equal(r.error?.constructor, whole.error?.constructor, how);
    assert.equal((r.error as Error | undefined)?.message, (whole.error as Error | undefined)?.message, how);
  }
  return whole;
}

/** A chunk as OpenAI sends it: with include_usage (STREAM), every chunk but the last has `usage: null`. */
function chunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: FinishReason | null = null, includeUsage = true): ChatCompletionChunk {
  const c: ChatCompletionChunk = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model: MODEL, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] };
  if (includeUsage) c.usage = null;
  return c;
}

function usageChunk(prompt: number, completion: number): ChatCompletionChunk {
  return { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model: MODEL, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } };
}

function assertIncomplete(error: unknown, message: RegExp): void {
  assert.ok(error instanceof StreamIncomplete, `expected StreamIncomplete, got ${String(error)}`);
  assert.match(error.message, message);
}

const TEXT_STREAM = Buffer.concat([
  event('messageStart', { role: 'assistant' }),
  event('contentBlockDelta', { delta: { text: 'Hel' }, contentBlockIndex: 0 }),
  event('contentBlockDelta', { delta: { text: 'lo!' }, contentBlockIndex: 0 }),
  event('contentBlockStop', { contentBlockIndex: 0 }),
  event('messageStop', { stopReason: 'end_turn' }),
  event('metadata', { usage: { inputTokens: 12, outputTokens: 3, totalTokens: 20, cacheWriteInputTokens: 5 }, metrics: { latencyMs: 300 } }),
]);

describe('converseChat stream', () => {
  test('a text stream with usage', () => {
    const r = runAllWays(TEXT_STREAM);
    assert.equal(r.error, undefined);
    assert.deepEqual(r.chunks, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hel' }),
      chunk({ content: 'lo!' }),
      chunk({}, 'stop'),
      usageChunk(17, 3),
    ]);
    const t = converseChat(STREAM);
    t.push(TEXT_STREAM);
    t.end();
    assert.deepEqual(t.usage(), { inputTokens: 17, outputTokens: 3 });
  });

  test('without include_usage there is no usage chunk, but usage is still counted', () => {
    const options = { ...STREAM, includeUsage: false };
    const r = runAllWays(TEXT_STREAM, options);
    assert.deepEqual(r.chunks.at(-1), chunk({}, 'stop', false));
    assert.ok(r.chunks.every((c) => c.usage === undefined));
    const t = converseChat(options);
    t.push(TEXT_STREAM);
    assert.deepEqual(t.usage(), { inputTokens: 17, outputTokens: 3 });
  });

  test('a tool-use stream: tool indexes count tool blocks from 0 and the input deltas join to JSON', () => {
    const bytes = Buffer.concat([
      event('messageStart', { role: 'assistant' }),
      event('contentBlockDelta', { delta: { text: 'Checking.' }, contentBlockIndex: 0 }),
      event('contentBlockStop', { contentBlockIndex: 0 }),
      event('contentBlockStart', { start: { toolUse: { toolUseId: 'tooluse_a', name: 'get_weather' } }, contentBlockIndex: 1 }),
      event('contentBlockDelta', { delta: { toolUse: { input: '' } }, contentBlockIndex: 1 }),
      event('contentBlockDelta', { delta: { toolUse: { input: '{"city":' } }, contentBlockIndex: 1 }),
      event('contentBlockDelta', { delta: { toolUse: { input: '"Paris"}' } }, contentBlockIndex: 1 }),
      event('contentBlockStop', { contentBlockIndex: 1 }),
      event('contentBlockStart', { start: { toolUse: { toolUseId: 'tooluse_b', name: 'get_time' } }, contentBlockIndex: 2 }),
      event('contentBlockDelta', { delta: { toolUse: { input: '{"tz":"CET"}' } }, contentBlockIndex: 2 }),
      event('contentBlockStop', { contentBlockIndex: 2 }),
      event('messageStop', { stopReason: 'tool_use' }),
      event('metadata', { usage: { inputTokens: 50, outputTokens: 40, totalTokens: 90 } }),
    ]);
    const r = runAllWays(bytes);
    assert.equal(r.error, undefined);
    assert.deepEqual(r.chunks, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, id: 'tooluse_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'tooluse_b', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":"CET"}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk(50, 40),
    ]);
    // What an OpenAI client assembles from the deltas.
    const args = ['', ''];
    for (const c of r.chunks) for (const call of c.choices[0]?.delta.tool_calls ?? []) args[call.index] += call.function?.arguments ?? '';
    assert.deepEqual(args.map((a) => JSON.parse(a) as unknown), [{ city: 'Paris' }, { tz: 'CET' }]);
  });

  test('metadata before messageStop: the usage chunk still follows the finish chunk', () => {
    const bytes = Buffer.concat([
      event('messageStart', { role: 'assistant' }),
      event('contentBlockDelta', { delta: { text: 'x' }, contentBlockIndex: 0 }),
      event('metadata', { usage: { inputTokens: 1, outputTokens: 1 } }),
      event('messageStop', { stopReason: 'max_tokens' }),
    ]);
    assert.deepEqual(runAllWays(bytes).chunks.slice(-2), [chunk({}, 'length'), usageChunk(1, 1)]);
  });

  test('reasoning deltas, image/toolResult starts and server-side tool use are not passed on', () => {
    const bytes = Buffer.concat([
      event('messageStart', { role: 'assistant' }),
      event('contentBlockDelta', { delta: { reasoningContent: { text: 'hmm' } }, contentBlockIndex: 0 }),
      event('contentBlockStart', { start: { toolUse: { toolUseId: 'srv', name: 'web', type: 'server_tool_use' } }, contentBlockIndex: 1 }),
      event('contentBlockDelta', { delta: { toolUse: { input: '{"q":"x"}' } }, contentBlockIndex: 1 }),
      event('contentBlockStart', { start: { toolResult: { toolUseId: 'srv' } }, contentBlockIndex: 2 }),
      event('contentBlockDelta', { delta: { text: 'answer' }, contentBlockIndex: 3 }),
      event('messageStop', { stopReason: 'end_turn' }),
      event('metadata', { usage: { inputTokens: 1, outputTokens: 2 } }),
    ]);
    assert.deepEqual(runAllWays(bytes).chunks, [chunk({ role: 'assistant', content: '' }), chunk({ content: 'answer' }), chunk({}, 'stop'), usageChunk(1, 2)]);
  });

  const start = Buffer.concat([event('messageStart', { role: 'assistant' }), event('contentBlockDelta', { delta: { text: 'partial' }, contentBlockIndex: 0 })]);
  const started = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'partial' })];

  test('a stream cut before messageStop: StreamIncomplete, no invented finish or usage', () => {
    const r = runAllWays(start);
    assert.deepEqual(r.chunks, started);
    assertIncomplete(r.error, /ended before messageStop/);
  });

  test('a stream cut inside a frame: StreamIncomplete caused by the truncation', () => {
    const bytes = Buffer.concat([start, event('messageStop', { stopReason: 'end_turn' }).subarray(0, 20)]);
    const r = runAllWays(bytes);
    assert.deepEqual(r.chunks, started);
    assertIncomplete(r.error, /truncated/);
    assert.ok(r.error instanceof StreamIncomplete && r.error.cause instanceof EventStreamError && r.error.cause.code === 'truncated');
  });

  test('a stream cut after messageStop, before metadata: the real finish, then StreamIncomplete, no usage', () => {
    const r = runAllWays(Buffer.concat([start, event('messageStop', { stopReason: 'end_turn' })]));
    assert.deepEqual(r.chunks, [...started, chunk({}, 'stop')]);
    assertIncomplete(r.error, /before its metadata event/);
  });

  const failures: Array<[string, Buffer, RegExp]> = [
    ['a throttlingException frame', exception('throttlingException', { message: 'Too many tokens, please wait.' }), /^throttlingException: Too many tokens, please wait\.$/],
    [
      'a modelStreamErrorException frame',
      exception('modelStreamErrorException', { message: 'Model stream failed', originalStatusCode: 500, originalMessage: 'x' }),
      /^modelStreamErrorException: Model stream failed$/,
    ],
    ['an error frame', frame({ ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'boom' }, {}), /^InternalFailure: boom$/],
    ['a malformed_tool_use stop', event('messageStop', { stopReason: 'malformed_tool_use' }), /malformed_tool_use/],
  ];
  for (const [name, failure, message] of failures) {
    test(`${name} ends the stream with StreamIncomplete after the chunks before it`, () => {
      // Frames after the failure are never read.
      const r = runAllWays(Buffer.concat([start, failure, event('contentBlockDelta', { delta: { text: 'never' }, contentBlockIndex: 0 })]));
      assert.deepEqual(r.chunks, started);
      assertIncomplete(r.error, message);
    });
  }

  test('a corrupt frame: StreamIncomplete caused by the checksum error, after the good frames', () => {
    const bad = event('contentBlockDelta', { delta: { text: 'corrupt' }, contentBlockIndex: 0 });
    bad[bad.length - 6] ^= 0xff; // inside the payload: the message CRC no longer matches
    const r = runAllWays(Buffer.concat([start, bad, event('messageStop', { stopReason: 'end_turn' })]));
    assert.deepEqual(r.chunks, started);
    assertIncomplete(r.error, /corrupt/);
    assert.ok(r.error instanceof StreamIncomplete && r.error.cause instanceof EventStreamError && r.error.cause.code === 'message_checksum_mismatch');
  });

  test('once failed, every later call raises the same error', () => {
    const t = converseChat(STREAM);
    assert.deepEqual(t.push(Buffer.concat([start, exception('validationException', { message: 'bad' })])), started);
    const first = (() => {
      try {
        t.push(TEXT_STREAM);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    assertIncomplete(first, /^validationException: bad$/);
    assert.throws(() => t.end(), (err: unknown) => err === first);
  });

  test('a malformed stop: no finish chunk, the usage after it is still counted, then StreamIncomplete', () => {
    const bytes = Buffer.concat([start, event('messageStop', { stopReason: 'malformed_model_output' }), event('metadata', { usage: { inputTokens: 7, outputTokens: 4 } })]);
    const r = runAllWays(bytes);
    assert.deepEqual(r.chunks, started);
    assertIncomplete(r.error, /malformed_model_output/);
    const t = converseChat(STREAM);
    assert.deepEqual(t.push(bytes), started);
    assert.throws(() => t.end(), StreamIncomplete);
    assert.deepEqual(t.usage(), { inputTokens: 7, outputTokens: 4 });
  });

  test('a toolUse delta for a block that never started is refused', () => {
    const r = runAllWays(Buffer.concat([start, event('contentBlockDelta', { delta: { toolUse: { input: '{}' } }, contentBlockIndex: 4 })]));
    assertIncomplete(r.error, /content block 4/);
  });

  test('the rebuilt aws-sdk-js-v3 ConverseStream "w/ optional fields" stream', { skip: testdataSkip(SNAPSHOTS) }, () => {
    // 11 frames: messageStart, an image contentBlockStart, a toolResult delta, contentBlockStop,
    // messageStop ("__stopReason__"), metadata (zero usage), then the five exception members,
    // which the SDK's harness frames as `:message-type: event`. They are exceptions all the same:
    // the first one ends the stream, after the finish and usage chunks that came before it.
    const bytes = readTestdata(SNAPSHOTS, 'reconstructed/ConverseStream.w-optional-fields.eventstream');
    const r = runAllWays(bytes);
    assert.deepEqual(r.chunks, [chunk({ role: 'assistant', content: '' }), chunk({}, 'stop'), usageChunk(0, 0)]);
    assertIncomplete(r.error, /^internalServerException: __message__$/);

    // Its first six frames alone are a complete stream.
    const six = [117, 168, 401, 125, 266, 9327].reduce((a, b) => a + b, 0);
    const clean = runAllWays(bytes.subarray(0, six));
    assert.equal(clean.error, undefined);
    assert.deepEqual(clean.chunks, r.chunks);
  });
});
