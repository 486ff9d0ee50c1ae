import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readTestdata, testdataFiles, testdataSkip } from '../../../test/helpers/testdata.js';
import { UsageObserver, emptyUsage, type Usage } from '../usage.js';
import { openaiUsage } from './usage.js';

const SUB = 'wire/openai';

/** Usage as printed in each transcript's last JSON chunk (read off the files). */
const RECORDED: Record<string, { input: number; output: number }> = {
  'chat-completions-stream.basic.sse': { input: 14, output: 30 },
  'chat-completions-stream.logprobs.sse': { input: 9, output: 2 },
  'chat-completions-stream.max-tokens.sse': { input: 79, output: 1 },
  'chat-completions-stream.n3-multiple-choices.sse': { input: 79, output: 42 },
  'chat-completions-stream.parallel-tool-calls.sse': { input: 149, output: 60 },
  'chat-completions-stream.refusal.sse': { input: 79, output: 11 },
  'chat-completions-stream.tool-call.sse': { input: 44, output: 16 },
};

/** The usage a transcript reports, read without the gateway's code: its last chunk with a usage object. */
function usageInTranscript(text: string): Usage {
  let found: Usage | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const chunk = JSON.parse(line.slice(6)) as { model: string; usage?: { prompt_tokens: number; completion_tokens: number } | null };
    if (chunk.usage) found = { model: chunk.model, inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
  }
  assert.ok(found, 'the transcript reports usage');
  return found;
}

function observe(chunks: Iterable<Buffer>, contentType = 'text/event-stream; charset=utf-8'): Usage | undefined {
  const o = UsageObserver.for(openaiUsage, contentType);
  assert.ok(o, `an observer for ${contentType}`);
  for (const c of chunks) o.push(c);
  return o.end();
}

function splits(bytes: Buffer, seed: number): Buffer[] {
  // Linear congruential steps: deterministic chunk sizes of 1..32 bytes.
  const out: Buffer[] = [];
  let s = seed;
  for (let i = 0; i < bytes.length; ) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % 32);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('OpenAI usage from the recorded chat.completion.chunk streams', { skip: testdataSkip(SUB) }, () => {
  const files = testdataFiles(SUB, '.sse');

  test('every transcript is in the table', () => assert.deepEqual(files, Object.keys(RECORDED).sort()));

  for (const name of files) {
    const bytes = readTestdata(SUB, name);
    const inTranscript = usageInTranscript(bytes.toString('utf8'));

    test(`${name}: the table matches the transcript`, () => {
      assert.deepEqual({ input: inTranscript.inputTokens, output: inTranscript.outputTokens }, RECORDED[name]);
      assert.equal(inTranscript.model, 'gpt-4o-2024-08-06');
    });

    test(`${name}: whole, byte by byte and split, the observer reports it`, () => {
      assert.deepEqual(observe([bytes]), inTranscript);
      assert.deepEqual(
        observe(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))),
        inTranscript,
      );
      for (let seed = 1; seed <= 10; seed++) assert.deepEqual(observe(splits(bytes, seed)), inTranscript, `seed ${seed}`);
    });
  }

  test('a stream cut before its usage chunk reports nothing', () => {
    const text = readTestdata(SUB, 'chat-completions-stream.basic.sse').toString('utf8');
    const cut = text.slice(0, text.lastIndexOf('data: {'));
    assert.equal(observe([Buffer.from(cut)]), undefined);
  });
});

describe('openaiUsage', () => {
  test('a chat completion JSON body', () => {
    const body = JSON.stringify({ object: 'chat.completion', model: 'gpt-4o-mini', usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 } });
    assert.deepEqual(observe([Buffer.from(body.slice(0, 20)), Buffer.from(body.slice(20))], 'application/json'), {
      model: 'gpt-4o-mini',
      inputTokens: 12,
      outputTokens: 34,
    });
  });

  test('an embeddings JSON body (prompt tokens only)', () => {
    const body = JSON.stringify({ object: 'list', model: 'text-embedding-3-small', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } });
    assert.deepEqual(observe([Buffer.from(body)], 'application/json'), { model: 'text-embedding-3-small', inputTokens: 8, outputTokens: 0 });
  });

  test('a Responses API JSON body (input_tokens / output_tokens)', () => {
    const body = JSON.stringify({ object: 'response', model: 'gpt-4.1', usage: { input_tokens: 100, output_tokens: 7, total_tokens: 107 } });
    assert.deepEqual(observe([Buffer.from(body)], 'application/json'), { model: 'gpt-4.1', inputTokens: 100, outputTokens: 7 });
  });

  test('a Responses API stream: usage is in response.completed', () => {
    const stream = [
      'event: response.created',
      `data: ${JSON.stringify({ type: 'response.created', response: { model: 'gpt-4.1', usage: null } })}`,
      '',
      'event: response.output_text.delta',
      `data: ${JSON.stringify({ type: 'response.output_text.delta', delta: 'Hi' })}`,
      '',
      'event: response.completed',
      `data: ${JSON.stringify({ type: 'response.completed', response: { model: 'gpt-4.1', usage: { input_tokens: 21, output_tokens: 3 } } })}`,
      '',
      '',
    ].join('\n');
    assert.deepEqual(observe(splits(Buffer.from(stream), 5)), { model: 'gpt-4.1', inputTokens: 21, outputTokens: 3 });
  });

  test('chunks with "usage": null leave the usage alone', () => {
    const acc = emptyUsage();
    openaiUsage.event({ event: 'message', data: '{"model":"m1","usage":{"prompt_tokens":5,"completion_tokens":6}}', id: undefined }, acc);
    openaiUsage.event({ event: 'message', data: '{"model":"m2","choices":[],"usage":null}', id: undefined }, acc);
    openaiUsage.event({ event: 'message', data: '[DONE]', id: undefined }, acc);
    openaiUsage.event({ event: 'message', data: 'not json', id: undefined }, acc);
    assert.deepEqual(acc, { model: 'm1', inputTokens: 5, outputTokens: 6 });
  });

  test('non-numeric token counts count as zero, and an over-long model name is not taken', () => {
    const acc = emptyUsage();
    openaiUsage.json({ model: 'x'.repeat(201), usage: { prompt_tokens: '12', completion_tokens: 3 } }, acc);
    assert.deepEqual(acc, { model: undefined, inputTokens: 0, outputTokens: 3 });
  });

  test('bodies without usage report nothing', () => {
    assert.equal(observe([Buffer.from('{"error":{"message":"bad"}}')], 'application/json'), undefined);
    assert.equal(observe([Buffer.from('<html>502 Bad Gateway</html>')], 'application/json'), undefined, 'not JSON after all');
    assert.equal(observe([], 'application/json'), undefined);
    assert.equal(observe([Buffer.from('data: {"choices":[]}\n\ndata: [DONE]\n\n')]), undefined);
  });
});
