import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import { apiFormatOf, finishOf, ociChat, ociErrorMessage, toOciChat } from './openai_to_oci.js';

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

  const refused: Array<[string, Partial<ChatRequest>]> = [
    ['tools', { tools: [{ type: 'function', function: { name: 'f' } }] }],
    ['a tool message', { messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }] }],
    ['assistant tool_calls', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }],
    ['logprobs', { logprobs: true }],
    ['logit_bias', { logit_bias: { '1': 1 } }],
    ['an unknown parameter', { frobnicate: 1 }],
    ['a non-text modality', { modalities: ['text', 'audio'] }],
    ['an unknown response_format', { response_format: { type: 'grammar' } as never }],
    ['a non-numeric temperature', { temperature: 'hot' as never }],
  ];
  for (const [name, extra] of refused) {
    test(`refused: ${name}`, () => assert.throws(() => chatOf(req(extra)), invalid));
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
