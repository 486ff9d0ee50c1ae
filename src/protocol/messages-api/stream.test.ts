import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import { openaiCompatibleChat } from '../../providers/openai-compatible/chat.js';
import type { ChatCompletionChunk } from '../openai.js';
import { StreamIncomplete } from '../translator.js';
import { MessagesStream, sseFrame } from './stream.js';
import type { MessagesStreamEvent } from './types.js';

const META = { id: 'msg_stream', model: 'gpt-4o' };

function chunk(delta: Record<string, unknown>, finish: string | null = null, usage?: Record<string, unknown>): ChatCompletionChunk {
  return { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...(usage ? { usage } : {}) } as ChatCompletionChunk;
}
function usageChunk(usage: Record<string, unknown>): ChatCompletionChunk {
  return { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o', choices: [], usage } as unknown as ChatCompletionChunk;
}

function run(chunks: ChatCompletionChunk[]): MessagesStreamEvent[] {
  const s = new MessagesStream(META);
  return [...chunks.flatMap((c) => s.push(c)), ...s.end()];
}

/** The events in a short form that shows their order: `start:text@0`, `delta:text@0`, … */
function shape(events: MessagesStreamEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case 'content_block_start':
        return `start:${e.content_block.type}@${e.index}`;
      case 'content_block_delta':
        return `delta:${e.delta.type}@${e.index}`;
      case 'content_block_stop':
        return `stop@${e.index}`;
      case 'message_delta':
        return `message_delta:${e.delta.stop_reason}`;
      default:
        return e.type;
    }
  });
}

/** An Anthropic SDK client whose HTTP answer is `sse`: the SDK's own parser and accumulator read our bytes. */
function sdkOver(sse: string): Anthropic {
  return new Anthropic({
    apiKey: 'test-key',
    baseURL: 'http://127.0.0.1:9',
    maxRetries: 0,
    fetch: async () => new Response(sse, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
  });
}

describe('MessagesStream', () => {
  test('text: message_start, ping, one text block, message_delta with usage, message_stop', () => {
    const events = run([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), usageChunk({ prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 })]);
    assert.deepEqual(shape(events), ['message_start', 'ping', 'start:text@0', 'delta:text_delta@0', 'delta:text_delta@0', 'stop@0', 'message_delta:end_turn', 'message_stop']);
    assert.deepEqual(events[0], {
      type: 'message_start',
      message: {
        id: 'msg_stream',
        type: 'message',
        role: 'assistant',
        model: 'gpt-4o',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        container: null,
        usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 },
      },
    });
    assert.deepEqual(events[2], { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    assert.deepEqual(events[3], { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } });
    assert.deepEqual(events[6], {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null, container: null },
      usage: { input_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 2 },
    });
  });

  test('usage in the first chunk (as Gemini reports it) fills message_start', () => {
    const events = run([chunk({ content: 'x' }, null, { prompt_tokens: 30, completion_tokens: 1, total_tokens: 31 }), chunk({}, 'stop')]);
    assert.ok(events[0]!.type === 'message_start');
    assert.equal(events[0].message.usage.input_tokens, 30);
  });

  test('text then two tool calls: blocks in order, each closed by the next, input_json_delta fragments', () => {
    const events = run([
      chunk({ content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
    assert.deepEqual(shape(events), [
      'message_start',
      'ping',
      'start:text@0',
      'delta:text_delta@0',
      'stop@0',
      'start:tool_use@1',
      'delta:input_json_delta@1',
      'delta:input_json_delta@1',
      'stop@1',
      'start:tool_use@2',
      'delta:input_json_delta@2',
      'stop@2',
      'message_delta:tool_use',
      'message_stop',
    ]);
    assert.deepEqual(events[5], { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} } });
    assert.deepEqual(events[6], { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } });
  });

  test('reasoning_content becomes a thinking block before the text', () => {
    const events = run([chunk({ reasoning_content: 'think' }), chunk({ content: 'answer' }), chunk({}, 'stop')]);
    assert.deepEqual(shape(events), ['message_start', 'ping', 'start:thinking@0', 'delta:thinking_delta@0', 'stop@0', 'start:text@1', 'delta:text_delta@1', 'stop@1', 'message_delta:end_turn', 'message_stop']);
  });

  test('a streamed refusal is text, and content_filter is stop_reason refusal', () => {
    const events = run([chunk({ refusal: 'I cannot ' }), chunk({ refusal: 'help.' }), chunk({}, 'content_filter')]);
    assert.deepEqual(shape(events), ['message_start', 'ping', 'start:text@0', 'delta:text_delta@0', 'delta:text_delta@0', 'stop@0', 'message_delta:refusal', 'message_stop']);
    assert.deepEqual(events[4], { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'help.' } });
  });

  test('finish length → max_tokens; without usage, message_delta carries output_tokens 0 only', () => {
    const events = run([chunk({ content: 'cut' }), chunk({}, 'length')]);
    const delta = events.at(-2)!;
    assert.ok(delta.type === 'message_delta');
    assert.equal(delta.delta.stop_reason, 'max_tokens');
    assert.deepEqual(delta.usage, { output_tokens: 0 });
  });

  test('a stream without a finish reason ends with an error event, never message_stop', () => {
    const s = new MessagesStream(META);
    const events = [...s.push(chunk({ content: 'half' })), ...s.end()];
    assert.deepEqual(shape(events), ['message_start', 'ping', 'start:text@0', 'delta:text_delta@0', 'error']);
    assert.deepEqual(events.at(-1), { type: 'error', error: { type: 'api_error', message: 'the provider stream ended before the answer was complete' } });
    assert.deepEqual(s.end(), [], 'nothing after the error');
  });

  test('error(): the error event; nothing is written after it', () => {
    const s = new MessagesStream(META);
    s.push(chunk({ content: 'a' }));
    assert.deepEqual(s.error('overloaded_error', 'Overloaded'), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    assert.deepEqual(s.push(chunk({ content: 'b' })), []);
    assert.deepEqual(s.end(), []);
  });

  test('sseFrame names the event by its type', () => {
    assert.equal(sseFrame({ type: 'message_stop' }), 'event: message_stop\ndata: {"type":"message_stop"}\n\n');
    assert.equal(sseFrame({ type: 'ping' }), 'event: ping\ndata: {"type":"ping"}\n\n');
  });
});

describe('the Anthropic SDK reads the stream', () => {
  test('finalMessage() accumulates text, tool input and usage', async () => {
    const events = run([
      chunk({ content: 'Checking ' }),
      chunk({ content: 'now.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk({ prompt_tokens: 50, completion_tokens: 20, total_tokens: 70, prompt_tokens_details: { cached_tokens: 40 } }),
    ]);
    const client = sdkOver(events.map(sseFrame).join(''));
    const stream = client.messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const message = await stream.finalMessage();
    assert.deepEqual(texts, ['Checking ', 'now.']);
    assert.equal(message.id, 'msg_stream');
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      message.content.map((b) => (b.type === 'text' ? { type: 'text', text: b.text } : b.type === 'tool_use' ? { type: 'tool_use', id: b.id, name: b.name, input: b.input } : b)),
      [
        { type: 'text', text: 'Checking now.' },
        { type: 'tool_use', id: 'call_a', name: 'get_weather', input: { city: 'Paris' } },
      ],
    );
    assert.equal(message.usage.input_tokens, 10);
    assert.equal(message.usage.cache_read_input_tokens, 40);
    assert.equal(message.usage.output_tokens, 20);
  });

  test('an error event makes the SDK throw the API error with our message', async () => {
    const s = new MessagesStream(META);
    const frames = [...s.push(chunk({ content: 'half' })).map(sseFrame), sseFrame(s.error('overloaded_error', 'the provider is overloaded'))].join('');
    const stream = sdkOver(frames).messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(stream.finalMessage(), (err: unknown) => err instanceof Anthropic.APIError && /the provider is overloaded/.test(err.message));
  });
});

describe('recorded OpenAI streams through the OpenAI-compatible translator', { skip: testdataSkip('wire/openai') }, () => {
  function throughTranslator(name: string): MessagesStreamEvent[] {
    const t = openaiCompatibleChat({ model: 'gpt-4o', id: 'x', created: 0, stream: true, includeUsage: true });
    const s = new MessagesStream(META);
    const out = t.push(Buffer.from(readTestdata('wire/openai', name))).flatMap((c) => s.push(c));
    return [...out, ...t.end().flatMap((c) => s.push(c)), ...s.end()];
  }

  test('parallel tool calls: one tool_use block per call, the SDK parses each input as the chunks carried it', async () => {
    const t = openaiCompatibleChat({ model: 'gpt-4o', id: 'x', created: 0, stream: true, includeUsage: true });
    const chunks = [...t.push(Buffer.from(readTestdata('wire/openai', 'chat-completions-stream.parallel-tool-calls.sse'))), ...t.end()];
    const args = new Map<number, string>();
    for (const c of chunks) for (const call of c.choices[0]?.delta.tool_calls ?? []) args.set(call.index, (args.get(call.index) ?? '') + (call.function?.arguments ?? ''));
    assert.ok(args.size >= 2, 'several calls');
    const events = throughTranslator('chat-completions-stream.parallel-tool-calls.sse');
    const starts = events.filter((e) => e.type === 'content_block_start');
    assert.equal(starts.length, args.size);
    assert.ok(starts.every((e) => e.content_block.type === 'tool_use'));
    const message = await sdkOver(events.map(sseFrame).join('')).messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      message.content.map((b) => (b.type === 'tool_use' ? b.input : b.type)),
      [...args.values()].map((a) => JSON.parse(a) as unknown),
    );
    assert.equal(message.usage.input_tokens, 149);
    assert.equal(message.usage.output_tokens, 60);
  });

  test('a plain text stream ends end_turn with the text the chunks carried', async () => {
    const t = openaiCompatibleChat({ model: 'gpt-4o', id: 'x', created: 0, stream: true, includeUsage: true });
    const chunks = t.push(Buffer.from(readTestdata('wire/openai', 'chat-completions-stream.basic.sse')));
    chunks.push(...t.end());
    const expected = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const events = throughTranslator('chat-completions-stream.basic.sse');
    const message = await sdkOver(events.map(sseFrame).join('')).messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    assert.ok(expected.length > 0);
    assert.deepEqual(message.content.map((b) => (b.type === 'text' ? b.text : b.type)), [expected]);
    assert.equal(message.stop_reason, 'end_turn');
  });

  test('a stream cut before [DONE]: the translator throws StreamIncomplete and the client gets an error event', () => {
    const bytes = readTestdata('wire/openai', 'chat-completions-stream.basic.sse');
    // Whole events only, so the stream is short of its end rather than of a line.
    const cut = Buffer.from(bytes).subarray(0, Buffer.from(bytes).lastIndexOf('\n\n', Math.floor(bytes.length / 2)) + 2);
    const t = openaiCompatibleChat({ model: 'gpt-4o', id: 'x', created: 0, stream: true, includeUsage: true });
    const s = new MessagesStream(META);
    const events = t.push(cut).flatMap((c) => s.push(c));
    assert.throws(() => t.end(), StreamIncomplete);
    events.push(s.error('api_error', 'the provider stream ended early'));
    assert.equal(events.at(-1)!.type, 'error');
    assert.ok(!events.some((e) => e.type === 'message_stop' || e.type === 'message_delta'));
  });
});
