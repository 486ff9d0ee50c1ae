import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import type { ChatCompletionChunk } from '../../protocol/openai.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import { anthropicChat } from './index.js';
import { AnthropicEventTranslator } from './stream.js';
import type { AnthropicStreamEvent } from './types.js';

const OPTIONS: TranslatorOptions = { model: 'claude-test-1', id: 'chatcmpl-1', created: 1700000000, stream: false, includeUsage: false };

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

