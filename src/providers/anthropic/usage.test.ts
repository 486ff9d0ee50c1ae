import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readTestdata, testdataFiles, testdataSkip } from '../../../test/helpers/testdata.js';
import { UsageObserver, emptyUsage, type Usage } from '../usage.js';
import { anthropicUsage } from './usage.js';

const SUB = 'wire/anthropic';

/** Model and usage as printed in each transcript (message_start and the final message_delta). */
const RECORDED: Record<string, Usage> = {
  'messages-stream.basic.sse': { model: 'claude-3-opus-latest', inputTokens: 11, outputTokens: 6 },
  'messages-stream.tool-use.sse': { model: 'claude-sonnet-4-20250514', inputTokens: 377, outputTokens: 65 },
};

interface AnthropicUsageJson {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

/**
 * The usage a transcript reports, read without the gateway's code: input (plus cache reads and
 * writes) and the model from message_start, output from the last message_delta.
 */
function usageInTranscript(text: string): Usage {
  const result: Usage = emptyUsage();
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const ev = JSON.parse(line.slice(6)) as { type: string; message?: { model: string; usage: AnthropicUsageJson }; usage?: AnthropicUsageJson };
    if (ev.type === 'message_start') {
      const u = ev.message!.usage;
      result.model = ev.message!.model;
      result.inputTokens = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
    }
    if (ev.type === 'message_delta' && ev.usage?.output_tokens !== undefined) result.outputTokens = ev.usage.output_tokens;
  }
  return result;
}

function observe(chunks: Iterable<Buffer>, contentType = 'text/event-stream'): Usage | undefined {
  const o = UsageObserver.for(anthropicUsage, contentType);
  assert.ok(o, `an observer for ${contentType}`);
  for (const c of chunks) o.push(c);
  return o.end();
}

function splits(bytes: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  for (let i = 0; i < bytes.length; ) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % 24);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('Anthropic usage from the recorded Messages streams', { skip: testdataSkip(SUB) }, () => {
  const files = testdataFiles(SUB, '.sse');

  test('every transcript is in the table', () => assert.deepEqual(files, Object.keys(RECORDED).sort()));

  for (const name of files) {
    const bytes = readTestdata(SUB, name);

    test(`${name}: the table matches the transcript`, () => {
      assert.deepEqual(usageInTranscript(bytes.toString('utf8')), RECORDED[name]);
    });

    test(`${name}: whole, byte by byte and split, the observer reports it`, () => {
      const expected = usageInTranscript(bytes.toString('utf8'));
      assert.deepEqual(observe([bytes]), expected);
      assert.deepEqual(
        observe(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))),
        expected,
      );
      for (let seed = 1; seed <= 10; seed++) assert.deepEqual(observe(splits(bytes, seed)), expected, `seed ${seed}`);
    });
  }

  test('a stream cut after message_start reports the input and the initial output count', () => {
    const text = readTestdata(SUB, 'messages-stream.basic.sse').toString('utf8');
    const cut = text.slice(0, text.indexOf('event: content_block_start'));
    assert.deepEqual(observe([Buffer.from(cut)]), { model: 'claude-3-opus-latest', inputTokens: 11, outputTokens: 1 });
  });

  test('without the final message_delta only the initial output count is known', () => {
    const text = readTestdata(SUB, 'messages-stream.basic.sse').toString('utf8');
    const withoutDelta = text.replace(/event: message_delta\ndata: [^\n]*\n\n/, '');
    assert.notEqual(withoutDelta, text);
    assert.equal(observe([Buffer.from(withoutDelta)])?.outputTokens, 1);
  });
});

describe('anthropicUsage', () => {
  test('a Messages JSON body: cache reads and writes count as input', () => {
    const body = JSON.stringify({
      type: 'message',
      model: 'claude-sonnet-4-20250514',
      usage: { input_tokens: 10, cache_creation_input_tokens: 200, cache_read_input_tokens: 3000, output_tokens: 42 },
    });
    assert.deepEqual(observe([Buffer.from(body.slice(0, 30)), Buffer.from(body.slice(30))], 'application/json'), {
      model: 'claude-sonnet-4-20250514',
      inputTokens: 3210,
      outputTokens: 42,
    });
  });

  test('a stream with cache tokens in message_start', () => {
    const stream = [
      'event: message_start',
      `data: ${JSON.stringify({ type: 'message_start', message: { model: 'claude-x', usage: { input_tokens: 4, cache_read_input_tokens: 96, output_tokens: 1 } } })}`,
      '',
      'event: message_delta',
      `data: ${JSON.stringify({ type: 'message_delta', delta: {}, usage: { output_tokens: 17 } })}`,
      '',
      'event: message_stop',
      'data: {"type":"message_stop"}',
    ].join('\n');
    assert.deepEqual(observe(splits(Buffer.from(stream), 9)), { model: 'claude-x', inputTokens: 100, outputTokens: 17 });
  });

  test('a message_delta without input keeps the input from message_start', () => {
    const acc = emptyUsage();
    anthropicUsage.event({ event: 'message_start', data: '{"type":"message_start","message":{"model":"m","usage":{"input_tokens":50,"output_tokens":1}}}', id: undefined }, acc);
    anthropicUsage.event({ event: 'message_delta', data: '{"type":"message_delta","usage":{"output_tokens":9}}', id: undefined }, acc);
    assert.deepEqual(acc, { model: 'm', inputTokens: 50, outputTokens: 9 });
  });

  test('other events, even with a usage field, are ignored', () => {
    const acc = emptyUsage();
    anthropicUsage.event({ event: 'content_block_delta', data: '{"type":"content_block_delta","usage":{"input_tokens":99,"output_tokens":99}}', id: undefined }, acc);
    anthropicUsage.event({ event: 'error', data: 'not json', id: undefined }, acc);
    assert.deepEqual(acc, emptyUsage());
  });

  test('an error body reports nothing', () => {
    const body = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
    assert.equal(observe([Buffer.from(body)], 'application/json'), undefined);
  });
});
