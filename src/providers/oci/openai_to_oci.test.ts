import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import { apiFormatOf, toOciChat } from './chat/request.js';
import { finishOf, ociErrorMessage } from './chat/response.js';
import { ociChat } from './openai_to_oci.js';

const C = 'ocid1.compartment.oc1..c';
const LLAMA = 'meta.llama-3.3-70b-instruct';
const COHERE = 'cohere.command-r-08-2024';
const opts = (model: string, stream = false, includeUsage = false): TranslatorOptions => ({ model, id: 'chatcmpl-1', created: 1, stream, includeUsage });
const req = (extra: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });
const chatOf = (r: ChatRequest, model = LLAMA) => toOciChat(r, model, C, false, false).body['chatRequest'] as Record<string, unknown>;
const invalid = (e: unknown) => e instanceof GatewayError && e.code === 'invalid_request';
const sse = (...events: object[]) => Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''));
const texts = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('OpenAI → OCI chat request', () => {
  test('the format follows the model id', () => {
    assert.equal(apiFormatOf('cohere.command-r-plus'), 'COHERE');
    for (const m of [LLAMA, 'xai.grok-3', 'openai.gpt-oss-120b', 'google.gemini-2.5-pro']) assert.equal(apiFormatOf(m), 'GENERIC');
  });

  test('GENERIC: envelope, roles, images and parameters', () => {
    const { body, dropped } = toOciChat(
      req({
        messages: [
          { role: 'developer', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'what?' }, { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }] },
          { role: 'assistant', content: 'a cat' },
          { role: 'user', content: 'sure?' },
        ],
        max_tokens: 10, max_completion_tokens: 20, temperature: 0.1, top_p: 0.9, seed: 3, n: 2, presence_penalty: 0.5, frequency_penalty: 0.25,
        stop: 'END', response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object' }, strict: true } },
        reasoning_effort: 'low', user: 'u', metadata: { a: '1' },
      }),
      LLAMA, C, true, true,
    );
    assert.deepEqual(body, {
      compartmentId: C,
      servingMode: { servingType: 'ON_DEMAND', modelId: LLAMA },
      chatRequest: {
        apiFormat: 'GENERIC',
        messages: [
          { role: 'SYSTEM', content: [{ type: 'TEXT', text: 'Be brief.' }] },
          { role: 'USER', content: [{ type: 'TEXT', text: 'what?' }, { type: 'IMAGE', imageUrl: { url: 'https://x/y.png', detail: 'LOW' } }] },
          { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'a cat' }] },
          { role: 'USER', content: [{ type: 'TEXT', text: 'sure?' }] },
        ],
        isStream: true, streamOptions: { isIncludeUsage: true },
        maxTokens: 10, maxCompletionTokens: 20, temperature: 0.1, topP: 0.9, seed: 3, numGenerations: 2, presencePenalty: 0.5, frequencyPenalty: 0.25,
        stop: ['END'], responseFormat: { type: 'JSON_SCHEMA', jsonSchema: { name: 'a', schema: { type: 'object' }, isStrict: true } },
        reasoningEffort: 'LOW',
      },
    });
    assert.deepEqual(dropped, ['user', 'metadata']);
  });

  test('COHERE: preamble, history, message, stopSequences; n > 1 and a trailing assistant refused', () => {
    const chat = chatOf(req({ messages: [{ role: 'system', content: 'A' }, { role: 'system', content: 'B' }, { role: 'user', content: 'u1' }, { role: 'assistant', content: 'a1' }, { role: 'user', content: [{ type: 'text', text: 'u2' }] }], stop: ['X'], max_completion_tokens: 5, response_format: { type: 'json_object' } }), COHERE);
    assert.deepEqual(chat, { apiFormat: 'COHERE', message: 'u2', chatHistory: [{ role: 'USER', message: 'u1' }, { role: 'CHATBOT', message: 'a1' }], preambleOverride: 'A\n\nB', stopSequences: ['X'], maxTokens: 5, responseFormat: { type: 'JSON_OBJECT' } });
    assert.throws(() => chatOf(req({ n: 2 }), COHERE), invalid);
    assert.throws(() => chatOf(req({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }), COHERE), invalid);
    assert.throws(() => chatOf(req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x' } }] }] }), COHERE), invalid);
    assert.deepEqual(toOciChat(req({ reasoning_effort: 'high' }), COHERE, C, false, false).dropped, ['reasoning_effort']);
  });

  test('GENERIC: tools, tool_choice, parallel_tool_calls, assistant tool_calls and tool results', () => {
    const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } };
    const chat = chatOf(req({
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '{"temp":21}' }] },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
      ],
      tools: [weather, { type: 'function', function: { name: 'noop' } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    }));
    assert.deepEqual(chat['tools'], [
      { type: 'FUNCTION', name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      { type: 'FUNCTION', name: 'noop' },
    ]);
    assert.deepEqual(chat['toolChoice'], { type: 'REQUIRED' });
    assert.equal(chat['isParallelToolCalls'], false);
    assert.deepEqual(chat['messages'], [
      { role: 'USER', content: [{ type: 'TEXT', text: 'weather in Paris?' }] },
      { role: 'ASSISTANT', content: null, toolCalls: [{ type: 'FUNCTION', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'TOOL', toolCallId: 'call_1', content: [{ type: 'TEXT', text: '{"temp":21}' }] },
      { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'Checking.' }], toolCalls: [{ type: 'FUNCTION', id: 'call_2', name: 'get_weather', arguments: '{}' }] },
    ]);
    for (const [choice, want] of [['auto', { type: 'AUTO' }], ['none', { type: 'NONE' }], [{ type: 'function', function: { name: 'f' } }, { type: 'FUNCTION', name: 'f' }]] as const) {
      assert.deepEqual(chatOf(req({ tool_choice: choice as ChatRequest['tool_choice'] }))['toolChoice'], want);
    }
    assert.deepEqual(toOciChat(req({ parallel_tool_calls: true }), COHERE, C, false, false).dropped, ['parallel_tool_calls']);
  });

  const refused: Array<[string, Partial<ChatRequest>, string?]> = [
    ['tools (COHERE)', { tools: [{ type: 'function', function: { name: 'f' } }] }, COHERE],
    ['tool_choice (COHERE)', { tool_choice: 'auto' }, COHERE],
    ['a tool message (COHERE)', { messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }] }, COHERE],
    ['assistant tool_calls (COHERE)', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'user', content: 'u' }] }, COHERE],
    ['a non-function tool', { tools: [{ type: 'custom', custom: { name: 'x' } } as never] }],
    ['a tool message without tool_call_id', { messages: [{ role: 'tool', content: 'x' }] }],
    ['an unknown tool_choice', { tool_choice: 'any' as never }],
    ['functions', { functions: [{ name: 'f' }] }],
    ['logprobs', { logprobs: true }],
    ['logit_bias', { logit_bias: { '1': 1 } }],
    ['an unknown parameter', { frobnicate: 1 }],
    ['a non-text modality', { modalities: ['text', 'audio'] }],
    ['an unknown response_format', { response_format: { type: 'grammar' } as never }],
    ['a non-numeric temperature', { temperature: 'hot' as never }],
  ];
  for (const [name, extra, model] of refused) {
    test(`refused: ${name}`, () => assert.throws(() => chatOf(req(extra), model), invalid));
  }
});

describe('OCI → OpenAI answers', () => {
  test('GENERIC ChatResult → chat.completion', () => {
    const t = ociChat({ compartmentId: C })(opts(LLAMA));
    const out = t.response(Buffer.from(JSON.stringify({ modelId: LLAMA, chatResponse: { apiFormat: 'GENERIC', choices: [{ index: 1, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'b' }] }, finishReason: 'length' }, { index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'a' }, { type: 'TEXT', text: '!' }] }, finishReason: 'stop' }], usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 } } })));
    assert.deepEqual(out.choices.map((c) => [c.index, c.message.content, c.finish_reason]), [[0, 'a!', 'stop'], [1, 'b', 'length']]);
    assert.deepEqual(out.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    assert.deepEqual(t.usage(), { inputTokens: 3, outputTokens: 4 });
    assert.equal(out.model, LLAMA);
  });

  test('GENERIC tool calls → tool_calls and finish_reason tool_calls', () => {
    const t = ociChat({ compartmentId: C })(opts(LLAMA));
    const out = t.response(Buffer.from(JSON.stringify({ chatResponse: { apiFormat: 'GENERIC', choices: [{ index: 0, message: { role: 'ASSISTANT', content: null, toolCalls: [{ type: 'FUNCTION', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' }, { type: 'FUNCTION', name: 'noop', arguments: '{}' }] }, finishReason: 'tool_calls' }] } })));
    assert.deepEqual(out.choices[0], {
      index: 0,
      message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }, { id: 'call_1', type: 'function', function: { name: 'noop', arguments: '{}' } }] },
      finish_reason: 'tool_calls',
      logprobs: null,
    });
  });

  test('COHERE ChatResult → chat.completion; an ERROR finish is a 502', () => {
    const t = ociChat({ compartmentId: C })(opts(COHERE));
    const out = t.response(Buffer.from(JSON.stringify({ modelId: COHERE, chatResponse: { apiFormat: 'COHERE', text: 'hey', finishReason: 'MAX_TOKENS' } })));
    assert.deepEqual([out.choices[0]?.message.content, out.choices[0]?.finish_reason], ['hey', 'length']);
    assert.throws(() => t.response(Buffer.from(JSON.stringify({ chatResponse: { text: 'x', finishReason: 'ERROR_LIMIT' } }))), (e: unknown) => e instanceof GatewayError && e.code === 'upstream_error');
    assert.throws(() => t.response(Buffer.from('{"nope":1}')), (e: unknown) => e instanceof GatewayError && e.code === 'upstream_error');
  });

  test('finish reasons', () => {
    const cases: Array<[unknown, string | null | 'open' | 'failed']> = [
      [undefined, 'open'], [null, 'open'], ['stop', 'stop'], ['COMPLETE', 'stop'], ['STOP_SEQUENCE', 'stop'], ['length', 'length'], ['MAX_TOKENS', 'length'],
      ['tool_calls', 'tool_calls'], ['ERROR_TOXIC', 'content_filter'], ['content_filter', 'content_filter'], ['ERROR', 'failed'], ['USER_CANCEL', 'failed'], ['weird', null],
    ];
    for (const [reason, want] of cases) {
      const f = finishOf(reason);
      assert.equal(f.kind === 'finished' ? f.reason : f.kind, want, String(reason));
    }
  });

  test('error bodies', () => {
    assert.equal(ociErrorMessage(Buffer.from('{"code":"NotAuthenticated","message":"no"}')), 'no (NotAuthenticated)');
    assert.equal(ociErrorMessage(Buffer.from('<html>')), undefined);
  });
});

describe('OCI → OpenAI streams', () => {
  test('GENERIC: deltas, the finish, usage last with include_usage (split across pushes)', () => {
    const t = ociChat({ compartmentId: C })(opts(LLAMA, true, true));
    const bytes = sse(
      { index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'Hel' }] } },
      { index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'lo' }] } },
      { index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: '' }] }, finishReason: 'stop' },
      { usage: { promptTokens: 2, completionTokens: 2, totalTokens: 4 } },
    );
    const chunks = [...t.push(bytes.subarray(0, 17)), ...t.push(bytes.subarray(17)), ...t.end()];
    assert.equal(texts(chunks), 'Hello');
    assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
    assert.deepEqual(chunks.flatMap((c) => c.choices.map((x) => x.finish_reason)).filter(Boolean), ['stop']);
    assert.deepEqual(chunks.at(-1), { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: LLAMA, choices: [], usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } });
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });

  test('GENERIC: tool call fragments → tool_calls deltas with index, id, name, then arguments', () => {
    const t = ociChat({ compartmentId: C })(opts(LLAMA, true));
    const fc = (f: object) => ({ index: 0, message: { role: 'ASSISTANT', toolCalls: [{ type: 'FUNCTION', ...f }] } });
    const chunks = [
      ...t.push(sse(
        fc({ id: 'call_a', name: 'get_weather', arguments: '' }),
        fc({ arguments: '{"city":' }),
        fc({ arguments: '"Paris"}' }),
        fc({ id: 'call_b', name: 'noop', arguments: '{}' }),
        { index: 0, message: { role: 'ASSISTANT', content: [] }, finishReason: 'tool_calls' },
      )),
      ...t.end(),
    ];
    assert.deepEqual(chunks.map((c) => c.choices[0]?.delta.tool_calls), [
      [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }],
      [{ index: 0, function: { arguments: '{"city":' } }],
      [{ index: 0, function: { arguments: '"Paris"}' } }],
      [{ index: 1, id: 'call_b', type: 'function', function: { name: 'noop', arguments: '{}' } }],
      undefined,
    ]);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] });
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'tool_calls');
  });

  test('COHERE: text deltas; the final repeat of the whole text is not sent again', () => {
    const t = ociChat({ compartmentId: C })(opts(COHERE, true));
    const chunks = [...t.push(sse({ apiFormat: 'COHERE', text: 'Hi' }, { apiFormat: 'COHERE', text: ' there' }, { apiFormat: 'COHERE', text: 'Hi there', finishReason: 'COMPLETE' })), ...t.end()];
    assert.equal(texts(chunks), 'Hi there');
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
  });

  test('incomplete streams throw StreamIncomplete', () => {
    const noFinish = ociChat({ compartmentId: C })(opts(LLAMA, true));
    noFinish.push(sse({ index: 0, message: { content: [{ type: 'TEXT', text: 'a' }] } }));
    assert.throws(() => noFinish.end(), StreamIncomplete);
    assert.throws(() => ociChat({ compartmentId: C })(opts(LLAMA, true)).end(), StreamIncomplete);
    assert.throws(() => ociChat({ compartmentId: C })(opts(COHERE, true)).push(sse({ apiFormat: 'COHERE', text: 'x', finishReason: 'ERROR' })), StreamIncomplete);
    assert.throws(() => ociChat({ compartmentId: C })(opts(LLAMA, true)).push(sse({ code: 'InternalServerError', message: 'boom' })), /boom/);
    assert.throws(() => ociChat({ compartmentId: C })(opts(LLAMA, true)).push(Buffer.from('data: {nope\n\n')), StreamIncomplete);
  });
});
