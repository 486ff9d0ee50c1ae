import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventStreamCodec, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { SseDecoder } from '../../protocol/sse.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import { anthropicInvokeChat, invokeChat, isBedrockAnthropicModel } from './openai_to_anthropic_invoke.js';
import { converseChat } from './openai_to_converse.js';

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const OPTIONS: TranslatorOptions = { model: MODEL, id: 'chatcmpl-1', created: 1700000000, stream: false, includeUsage: false };
const STREAM_OPTIONS: TranslatorOptions = { ...OPTIONS, stream: true, includeUsage: true };
const BODY = { model: 'alias', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 64 } as ChatRequest;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(messageType: 'event' | 'exception', type: string, payload: object): Uint8Array {
  const headers: MessageHeaders = {
    [messageType === 'event' ? ':event-type' : ':exception-type']: { type: 'string', value: type },
    ':content-type': { type: 'string', value: 'application/json' },
    ':message-type': { type: 'string', value: messageType },
  };
  return codec.encode({ headers, body: fromUtf8(JSON.stringify(payload)) });
}

/** An Anthropic event as Bedrock frames it: a `chunk` event whose `bytes` is the event JSON in base64. */
function chunkFrame(eventJson: string): Uint8Array {
  return frame('event', 'chunk', { bytes: Buffer.from(eventJson).toString('base64') });
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)));
}

function run(pieces: Iterable<Uint8Array>) {
  const t = anthropicInvokeChat(STREAM_OPTIONS);
  const chunks: ChatCompletionChunk[] = [];
  try {
    for (const p of pieces) chunks.push(...t.push(Buffer.from(p.buffer, p.byteOffset, p.length)));
    chunks.push(...t.end());
  } catch (error) {
    return { chunks, error, usage: t.usage() };
  }
  return { chunks, error: undefined, usage: t.usage() };
}

describe('Claude on Bedrock InvokeModel: request', () => {
  test('non-streaming: /model/{id}/invoke, bedrock-2023-05-31, no model or stream in the body', () => {
    const r = anthropicInvokeChat(OPTIONS).request(BODY);
    assert.equal(r.path, `/model/${encodeURIComponent(MODEL)}/invoke`);
    assert.deepEqual(r.headers, { 'content-type': 'application/json' });
    assert.deepEqual(JSON.parse(r.body.toString('utf8')), {
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 64,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
    });
  });

  test('streaming: /model/{id}/invoke-with-response-stream, still no stream field', () => {
    const r = anthropicInvokeChat(STREAM_OPTIONS).request(BODY);
    assert.equal(r.path, `/model/${encodeURIComponent(MODEL)}/invoke-with-response-stream`);
    const json = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(json['anthropic_version'], 'bedrock-2023-05-31');
    assert.equal(json['stream'], undefined);
    assert.equal(json['model'], undefined);
  });

  test('Claude model ids: foundation models, inference profiles and their ARNs', () => {
    for (const id of [MODEL, 'us.anthropic.claude-3-5-sonnet-20241022-v2:0', 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0']) {
      assert.ok(isBedrockAnthropicModel(id), id);
    }
    for (const id of ['amazon.nova-pro-v1:0', 'meta.llama3-70b-instruct-v1:0', 'mistral.anthropicish-v1']) assert.ok(!isBedrockAnthropicModel(id), id);
  });

  test('invokeChat sends Claude through InvokeModel and other models through Converse', () => {
    const chat = invokeChat(converseChat);
    assert.match(chat(OPTIONS).request(BODY).path, /\/invoke$/);
    assert.match(chat({ ...OPTIONS, model: 'amazon.nova-pro-v1:0' }).request(BODY).path, /\/converse$/);
  });
});

describe('Claude on Bedrock InvokeModel: non-streaming answer', () => {
  test('a Messages answer becomes a chat.completion with usage', () => {
    const t = anthropicInvokeChat(OPTIONS);
    const answer = {
      id: 'msg_bdrk_1', type: 'message', role: 'assistant', model: 'claude-3-haiku-20240307',
      content: [{ type: 'text', text: 'Hello there!' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 11, output_tokens: 6 },
    };
    const out = t.response(Buffer.from(JSON.stringify(answer)));
    assert.equal(out.choices[0]?.message.content, 'Hello there!');
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.equal(out.model, MODEL);
    assert.deepEqual(out.usage, { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
    assert.deepEqual(t.usage(), { inputTokens: 11, outputTokens: 6 });
  });

  test('Bedrock error bodies give their message', () => {
    assert.equal(anthropicInvokeChat(OPTIONS).errorMessage(Buffer.from('{"message":"Malformed input request"}')), 'Malformed input request');
  });
});

const SUB = 'wire/anthropic';

describe('Claude on Bedrock InvokeModel: event streams from the recorded transcript', { skip: testdataSkip(SUB) }, () => {
  const sse = new SseDecoder();
  const events = [...sse.push(readTestdata(SUB, 'messages-stream.basic.sse')), ...sse.end()];
  const frames = events.map((ev) => chunkFrame(ev.data));
  const bytes = concat(frames);
  const whole = run([bytes]);

  test('chunks: role, text, finish_reason, usage', () => {
    assert.equal(whole.error, undefined);
    const choices = whole.chunks.flatMap((c) => c.choices);
    assert.deepEqual(choices[0]?.delta, { role: 'assistant', content: '' });
    assert.equal(choices.map((c) => c.delta.content ?? '').join(''), 'Hello there!');
    assert.deepEqual(choices.map((c) => c.finish_reason).filter((f) => f !== null), ['stop']);
    assert.deepEqual(whole.chunks.at(-1)?.usage, { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
    assert.deepEqual(whole.usage, { inputTokens: 11, outputTokens: 6 });
  });

  test('the same chunks for every random split of the bytes', () => {
    for (let seed = 1; seed <= 20; seed++) assert.deepEqual(run(randomChunks(bytes, seed, seed % 2 === 0 ? 7 : 120)).chunks, whole.chunks, `seed ${seed}`);
  });

  test('an exception frame ends the stream with StreamIncomplete carrying its message', () => {
    const cut = concat([...frames.slice(0, 3), frame('exception', 'throttlingException', { message: 'Too many tokens, please wait.' })]);
    for (let seed = 1; seed <= 5; seed++) {
      const r = run(randomChunks(cut, seed));
      assert.ok(r.error instanceof StreamIncomplete, String(r.error));
      assert.match(r.error.message, /throttlingException: Too many tokens, please wait\./);
    }
  });

  test('a stream cut before message_stop, or inside a frame, is incomplete', () => {
    const early = run([concat(frames.slice(0, -1))]);
    assert.ok(early.error instanceof StreamIncomplete);
    const torn = run([bytes.subarray(0, bytes.length - 5)]);
    assert.ok(torn.error instanceof StreamIncomplete);
    assert.match(torn.error.message, /event stream is corrupt/);
  });

  test('a chunk whose bytes are not an Anthropic event ends the stream', () => {
    const r = run([frame('event', 'chunk', { bytes: Buffer.from('not json').toString('base64') })]);
    assert.ok(r.error instanceof StreamIncomplete);
  });
});
