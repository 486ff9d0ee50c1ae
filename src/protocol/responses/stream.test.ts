import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { anthropicChat } from '../anthropic-messages/index.js';
import type { ChatCompletionChunk, ChunkToolCall, FinishReason } from '../openai.js';
import { chatToResponse } from './from-chat.js';
import { checkResponsesRequest } from './schema.js';
import { ResponsesStream, sseFrame, type ResponseStreamEvent } from './stream.js';
import type { ResponseMeta } from './types.js';

function counter(): (prefix: string) => string {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

function meta(fields: Record<string, unknown> = {}): ResponseMeta {
  return { id: 'resp_1', createdAt: 1700000000, completedAt: 1700000002, model: 'my-alias', request: checkResponsesRequest({ model: 'my-alias', input: 'hi', stream: true, ...fields }) };
}

const BASE = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 1700000001, model: 'provider-model' };

function chunk(delta: { role?: 'assistant'; content?: string | null; tool_calls?: ChunkToolCall[] }, finish: FinishReason | null = null): ChatCompletionChunk {
  return { ...BASE, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], usage: null };
}

function usage(prompt: number, completion: number): ChatCompletionChunk {
  return { ...BASE, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } };
}

/** The whole stream: start, every chunk, end. */
function run(chunks: ChatCompletionChunk[], m: ResponseMeta = meta()): { events: ResponseStreamEvent[]; stream: ResponsesStream } {
  const stream = new ResponsesStream(m, counter());
  const events = [...stream.start(), ...chunks.flatMap((c) => stream.push(c)), ...stream.end()];
  return { events, stream };
}

function assertSequenced(events: readonly ResponseStreamEvent[]): void {
  assert.deepEqual(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
    'sequence_number counts from 0 without gaps',
  );
}

const TEXT = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ' world' }), chunk({}, 'stop'), usage(5, 2)];

describe('ResponsesStream: text', () => {
  test('the official event sequence, each with its sequence_number', () => {
    const { events } = run(TEXT);
    assert.deepEqual(events.map((e) => e.type), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assertSequenced(events);
  });

  test('each event carries the fields of the official one', () => {
    const { events } = run(TEXT);
    const [created, inProgress, added, partAdded, delta, , textDone, partDone, itemDone, completed] = events;
    for (const e of [created, inProgress]) {
      assert.ok(e && (e.type === 'response.created' || e.type === 'response.in_progress'));
      assert.equal(e.response.status, 'in_progress');
      assert.deepEqual(e.response.output, []);
      assert.equal(e.response.usage, null);
      assert.equal(e.response.id, 'resp_1');
    }
    assert.deepEqual(added, { type: 'response.output_item.added', output_index: 0, item: { id: 'msg_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] }, sequence_number: 2 });
    assert.deepEqual(partAdded, { type: 'response.content_part.added', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' }, sequence_number: 3 });
    assert.deepEqual(delta, { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello', logprobs: [], sequence_number: 4 });
    assert.deepEqual(textDone, { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Hello world', logprobs: [], sequence_number: 6 });
    assert.deepEqual(partDone, { type: 'response.content_part.done', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: 'Hello world' }, sequence_number: 7 });
    const message = { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Hello world' }] };
    assert.deepEqual(itemDone, { type: 'response.output_item.done', output_index: 0, item: message, sequence_number: 8 });
    assert.ok(completed?.type === 'response.completed');
    assert.equal(completed.response.status, 'completed');
    assert.equal(completed.response.completed_at, 1700000002);
    assert.deepEqual(completed.response.output, [message]);
    assert.deepEqual(completed.response.usage, { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 7 });
  });

  test('the final response is what a non-streamed answer would be, and response() returns it', () => {
    const { events, stream } = run(TEXT);
    const completed = events.at(-1);
    assert.ok(completed?.type === 'response.completed');
    assert.deepEqual(stream.response(), completed.response);
    const whole = chatToResponse(
      { id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: 'p', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world', refusal: null }, finish_reason: 'stop', logprobs: null }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } },
      meta(),
      counter(),
    );
    assert.deepEqual(completed.response, whole);
  });

  test('empty deltas, a role-only chunk and a usage-only chunk make no events', () => {
    const stream = new ResponsesStream(meta(), counter());
    assert.equal(stream.start().length, 2);
    assert.deepEqual(stream.push(chunk({ role: 'assistant' })), []);
    assert.deepEqual(stream.push(chunk({ content: '' })), []);
    assert.deepEqual(stream.push(chunk({ content: null, tool_calls: [] })), []);
    assert.deepEqual(stream.push(usage(1, 1)), []);
    assert.deepEqual(stream.start(), [], 'created and in_progress go out once');
  });

  test('push without start sends created and in_progress first', () => {
    const stream = new ResponsesStream(meta(), counter());
    assert.deepEqual(stream.push(chunk({ content: 'x' })).slice(0, 2).map((e) => [e.type, e.sequence_number]), [['response.created', 0], ['response.in_progress', 1]]);
  });
});

describe('ResponsesStream: refusals', () => {
  test('an OpenAI refusal delta is a refusal part of its own, after the text part', () => {
    const refusal = (text: string) => ({ ...chunk({}), choices: [{ index: 0, delta: { refusal: text } as ChatCompletionChunk['choices'][number]['delta'], finish_reason: null, logprobs: null }] });
    const { events } = run([chunk({ content: 'Well,' }), refusal("I can't"), refusal(' help.'), chunk({}, 'stop')]);
    assertSequenced(events);
    assert.deepEqual(events.map((e) => ('content_index' in e ? `${e.type}:${e.content_index}` : e.type)), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added:0',
      'response.output_text.delta:0',
      'response.output_text.done:0',
      'response.content_part.done:0',
      'response.content_part.added:1',
      'response.refusal.delta:1',
      'response.refusal.delta:1',
      'response.refusal.done:1',
      'response.content_part.done:1',
      'response.output_item.done',
      'response.completed',
    ]);
    const done = events.find((e) => e.type === 'response.refusal.done');
    assert.deepEqual(done?.type === 'response.refusal.done' && done.refusal, "I can't help.");
    const last = events.at(-1);
    assert.ok(last?.type === 'response.completed');
    assert.deepEqual(last.response.output[0]?.type === 'message' && last.response.output[0].content, [
      { type: 'output_text', annotations: [], logprobs: [], text: 'Well,' },
      { type: 'refusal', refusal: "I can't help." },
    ]);
  });
});

describe('ResponsesStream: tool calls', () => {
  const calls = [
    chunk({ content: 'Checking.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: '"CET"}' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
    chunk({}, 'tool_calls'),
    usage(30, 12),
  ];

  test('text then calls interleaved by index: the message closes when the first call starts, each call keeps its item', () => {
    const { events } = run(calls);
    assertSequenced(events);
    const brief = events.map((e) => {
      switch (e.type) {
        case 'response.output_item.added':
        case 'response.output_item.done':
          return `${e.type}:${e.output_index}:${e.item.id}:${e.item.status}`;
        case 'response.function_call_arguments.delta':
          return `${e.type}:${e.item_id}:${e.delta}`;
        case 'response.function_call_arguments.done':
          return `${e.type}:${e.item_id}:${e.name}:${e.arguments}`;
        default:
          return e.type;
      }
    });
    assert.deepEqual(brief, [
      'response.created',
      'response.in_progress',
      'response.output_item.added:0:msg_1:in_progress',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done:0:msg_1:completed',
      'response.output_item.added:1:fc_2:in_progress',
      'response.output_item.added:2:fc_3:in_progress',
      'response.function_call_arguments.delta:fc_3:{"tz":',
      'response.function_call_arguments.delta:fc_2:{"city":',
      'response.function_call_arguments.delta:fc_3:"CET"}',
      'response.function_call_arguments.delta:fc_2:"Paris"}',
      'response.function_call_arguments.done:fc_2:get_weather:{"city":"Paris"}',
      'response.output_item.done:1:fc_2:completed',
      'response.function_call_arguments.done:fc_3:get_time:{"tz":"CET"}',
      'response.output_item.done:2:fc_3:completed',
      'response.completed',
    ]);
    const added = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'function_call');
    assert.deepEqual(added?.type === 'response.output_item.added' && added.item, { id: 'fc_2', type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_a', name: 'get_weather' });
  });

  test('the completed response lists the message and the calls with full arguments and the usage', () => {
    const { events } = run(calls);
    const last = events.at(-1);
    assert.ok(last?.type === 'response.completed');
    assert.deepEqual(last.response.output.map((i) => (i.type === 'function_call' ? [i.call_id, i.name, i.arguments, i.status] : [i.content, i.status])), [
      [[{ type: 'output_text', annotations: [], logprobs: [], text: 'Checking.' }], 'completed'],
      ['call_a', 'get_weather', '{"city":"Paris"}', 'completed'],
      ['call_b', 'get_time', '{"tz":"CET"}', 'completed'],
    ]);
    assert.equal(last.response.usage?.total_tokens, 42);
  });

  test('events already emitted are not changed by later chunks', () => {
    const { events } = run(calls);
    const added = events.find((e) => e.type === 'response.output_item.added' && e.item.id === 'fc_2');
    assert.ok(added?.type === 'response.output_item.added' && added.item.type === 'function_call');
    assert.equal(added.item.arguments, '');
    assert.equal(added.item.status, 'in_progress');
  });
});

describe('ResponsesStream: cut answers and failures', () => {
  test('finish_reason length: response.incomplete (max_output_tokens), the message incomplete, never response.completed', () => {
    const { events } = run([chunk({ content: 'Once upon' }), chunk({}, 'length'), usage(3, 2)]);
    assertSequenced(events);
    assert.deepEqual(events.slice(-2).map((e) => e.type), ['response.output_item.done', 'response.incomplete']);
    const [itemDone, incomplete] = events.slice(-2);
    assert.ok(itemDone?.type === 'response.output_item.done' && incomplete?.type === 'response.incomplete');
    assert.equal(itemDone.item.status, 'incomplete');
    assert.equal(incomplete.response.status, 'incomplete');
    assert.deepEqual(incomplete.response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal('completed_at' in incomplete.response, false);
  });

  test('a stream that ends before the choice finished: response.failed, never response.completed', () => {
    const stream = new ResponsesStream(meta(), counter());
    const events = [...stream.start(), ...stream.push(chunk({ content: 'Hel' })), ...stream.end()];
    assertSequenced(events);
    assert.equal(events.some((e) => e.type === 'response.completed'), false);
    const last = events.at(-1);
    assert.ok(last?.type === 'response.failed');
    assert.equal(last.response.status, 'failed');
    assert.deepEqual(last.response.error, { code: 'server_error', message: 'the provider stream ended before the answer finished' });
    assert.deepEqual(last.response.output, [{ id: 'msg_1', type: 'message', status: 'incomplete', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Hel' }] }]);
    assert.deepEqual(stream.response(), last.response);
  });

  test('fail(): response.failed with the error given; nothing after it', () => {
    const stream = new ResponsesStream(meta(), counter());
    const events = [...stream.start(), ...stream.push(chunk({ tool_calls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '{"a"' } }] })), ...stream.fail({ code: 'upstream_error', message: 'the provider answered 500' })];
    assertSequenced(events);
    const last = events.at(-1);
    assert.ok(last?.type === 'response.failed');
    assert.deepEqual(last.response.error, { code: 'upstream_error', message: 'the provider answered 500' });
    assert.deepEqual(last.response.output.map((i) => i.status), ['incomplete']);
    assert.deepEqual(stream.push(chunk({ content: 'late' })), []);
    assert.deepEqual(stream.end(), []);
    assert.deepEqual(stream.fail({ code: 'x', message: 'y' }), []);
  });

  test('a failure before any chunk still opens the stream (created, in_progress, failed)', () => {
    const stream = new ResponsesStream(meta(), counter());
    assert.deepEqual(stream.fail({ code: 'server_error', message: 'no answer' }).map((e) => [e.type, e.sequence_number]), [['response.created', 0], ['response.in_progress', 1], ['response.failed', 2]]);
  });

  test('after response.completed nothing more goes out', () => {
    const { stream } = run(TEXT);
    assert.deepEqual(stream.push(chunk({ content: 'more' })), []);
    assert.deepEqual(stream.fail({ code: 'x', message: 'y' }), []);
    assert.equal(stream.response().status, 'completed');
  });
});

describe('ResponsesStream over a real translator', () => {
  test('an Anthropic event stream with text and a tool call', () => {
    const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    const bytes = [
      sse('message_start', { type: 'message_start', message: { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-test-1', content: [], stop_reason: null, usage: { input_tokens: 25, output_tokens: 1 } } }),
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me check.' } }),
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
      sse('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }),
      sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }),
      sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }),
      sse('content_block_stop', { type: 'content_block_stop', index: 1 }),
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 15 } }),
      sse('message_stop', { type: 'message_stop' }),
    ].join('');
    const translator = anthropicChat({ model: 'claude-test-1', id: 'chatcmpl-1', created: 0, stream: true, includeUsage: true });
    // Byte by byte in three pieces, as a network delivers it.
    const third = Math.floor(bytes.length / 3);
    const chunks = [bytes.slice(0, third), bytes.slice(third, 2 * third), bytes.slice(2 * third)].flatMap((b) => translator.push(Buffer.from(b)));
    const { events } = run([...chunks, ...translator.end()]);
    assertSequenced(events);
    const last = events.at(-1);
    assert.ok(last?.type === 'response.completed');
    assert.deepEqual(last.response.output.map((i) => (i.type === 'function_call' ? [i.call_id, i.name, i.arguments] : [i.content[0]?.type === 'output_text' ? i.content[0].text : ''])), [['Let me check.'], ['toolu_1', 'get_weather', '{"city":"Paris"}']]);
    assert.deepEqual([last.response.usage?.input_tokens, last.response.usage?.output_tokens], [25, 15]);
  });
});

describe('sseFrame', () => {
  test('event: <type>, data: <json>, a blank line', () => {
    const event: ResponseStreamEvent = { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'a\nb', logprobs: [], sequence_number: 4 };
    assert.equal(sseFrame(event), 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"a\\nb","logprobs":[],"sequence_number":4}\n\n');
  });
});

describe('the openai SDK reads what the gateway writes', () => {
  // A loopback server answering POST /v1/responses with the frames (or JSON) of the current test.
  let server: Server;
  let body: { type: 'sse'; frames: string } | { type: 'json'; json: unknown } = { type: 'json', json: {} };
  let client: OpenAI;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (body.type === 'sse') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(body.frames);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body.json));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'test-key', maxRetries: 0 });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('responses.stream: text and tool calls accumulate into the final response', async () => {
    const { events } = run([chunk({ content: 'Hi ' }), chunk({ content: 'there.' }), chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'f', arguments: '{"x":1}' } }] }), chunk({}, 'tool_calls'), usage(4, 6)]);
    body = { type: 'sse', frames: events.map(sseFrame).join('') };
    const stream = client.responses.stream({ model: 'my-alias', input: 'hi' });
    const seen: string[] = [];
    for await (const event of stream) seen.push(event.type);
    assert.deepEqual(seen, events.map((e) => e.type));
    const final = await stream.finalResponse();
    assert.equal(final.status, 'completed');
    assert.equal(final.output_text, 'Hi there.');
    const call = final.output.find((i) => i.type === 'function_call');
    assert.deepEqual(call && call.type === 'function_call' && [call.call_id, call.name, call.arguments], ['call_a', 'f', '{"x":1}']);
    assert.equal(final.usage?.total_tokens, 10);
  });

  test('responses.create: the non-streamed response object, with the SDK\'s output_text', async () => {
    body = {
      type: 'json',
      json: chatToResponse({ id: 'c', object: 'chat.completion', created: 0, model: 'p', choices: [{ index: 0, message: { role: 'assistant', content: 'Bonjour', refusal: null }, finish_reason: 'stop', logprobs: null }] }, meta({ stream: false }), counter()),
    };
    const response = await client.responses.create({ model: 'my-alias', input: 'hi' });
    assert.equal(response.output_text, 'Bonjour');
    assert.equal(response.id, 'resp_1');
  });

  test('a failed stream ends on response.failed; the SDK sees no response.completed', async () => {
    const stream = new ResponsesStream(meta(), counter());
    const events = [...stream.start(), ...stream.push(chunk({ content: 'Hel' })), ...stream.end()];
    body = { type: 'sse', frames: events.map(sseFrame).join('') };
    const seen: string[] = [];
    const sdk = client.responses.stream({ model: 'my-alias', input: 'hi' });
    for await (const event of sdk) seen.push(event.type);
    assert.equal(seen.at(-1), 'response.failed');
    assert.equal(seen.includes('response.completed'), false);
  });
});
