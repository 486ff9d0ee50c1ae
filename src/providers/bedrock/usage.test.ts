import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataFiles, testdataSkip } from '../../../test/helpers/testdata.js';
import { EventStreamDecoder, type EventStreamMessage } from '../../protocol/aws-eventstream.js';
import { UsageObserver, emptyUsage, type Usage, type UsageReader } from '../usage.js';
import { BEDROCK_OPENAI_REPLY, openAICompatibleAnswer, type OpenAICompatibleAnswer } from '../../../test/emulators/bedrock-openai.js';
import { bedrockUsage } from './usage.js';

const EVENTSTREAM = 'application/vnd.amazon.eventstream';
const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** `bytes` whole, byte by byte, and in random chunks of 1 to 100 bytes (seeds 1..20). */
function chunkings(bytes: Buffer): Array<[string, Buffer[]]> {
  const out: Array<[string, Buffer[]]> = [
    ['whole', [bytes]],
    ['byte by byte', byteByByte(bytes) as Buffer[]],
  ];
  for (let seed = 1; seed <= 20; seed++) {
    const chunks = randomChunks(bytes, seed, 100) as Buffer[];
    out.push([`random seed ${seed}`, chunks]);
  }
  return out;
}

/** What a UsageObserver for `contentType` reports after `chunks`; push() and end() must not throw. */
function observe(chunks: Iterable<Buffer>, contentType = EVENTSTREAM): Usage | undefined {
  const o = UsageObserver.for(bedrockUsage, contentType);
  assert.ok(o, `an observer for ${contentType}`);
  for (const c of chunks) o.push(c);
  return o.end();
}

/** The same observation over every chunking: the result must not depend on how the body was cut. */
function observeAllWays(bytes: Buffer): Usage | undefined {
  const whole = observe([bytes]);
  for (const [how, chunks] of chunkings(bytes)) assert.deepEqual(observe(chunks), whole, how);
  return whole;
}

/** Decodes a whole stream and feeds each message straight to the reader. */
function readStream(bytes: Uint8Array): Usage {
  const acc = emptyUsage();
  const d = new EventStreamDecoder();
  for (const msg of d.push(bytes)) bedrockUsage.eventstream!(msg, acc);
  d.end();
  return acc;
}

/** A Bedrock event frame as the service sends it: three string headers and a JSON payload. */
function eventFrame(type: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

function exceptionFrame(type: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':exception-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    body: fromUtf8(JSON.stringify({ message })),
  });
}

/** An InvokeModelWithResponseStream `chunk`: base64 of one model event, plus Bedrock's `p` padding. */
function chunkFrame(modelEvent: unknown): Uint8Array {
  return eventFrame('chunk', { bytes: Buffer.from(JSON.stringify(modelEvent)).toString('base64'), p: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ' });
}

function stream(frames: Uint8Array[]): Buffer {
  return Buffer.concat(frames);
}

/** Flips one payload byte: the frame keeps its length but fails its message CRC. */
function corruptPayload(frame: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(frame);
  copy[copy.length - 6] = copy[copy.length - 6]! ^ 0x20;
  return copy;
}

/** Flips a length bit: the frame fails its prelude CRC. */
function corruptLength(frame: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(frame);
  copy[3] = copy[3]! ^ 0x01;
  return copy;
}

const BEDROCK = 'wire/bedrock/aws-sdk-js-v3-snapshots';

describe('Bedrock usage from the reconstructed aws-sdk-js-v3 streams', { skip: testdataSkip(`${BEDROCK}/reconstructed`) }, () => {
  const read = (name: string) => readTestdata(`${BEDROCK}/reconstructed`, name);
  const messages = (bytes: Uint8Array): EventStreamMessage[] => new EventStreamDecoder().push(bytes);

  test('the table covers every reconstructed stream', () => {
    assert.deepEqual(testdataFiles(`${BEDROCK}/reconstructed`, '.eventstream'), [
      'ConverseStream.w-optional-fields.eventstream',
      'InvokeModelWithResponseStream.minimal-response.eventstream',
      'InvokeModelWithResponseStream.w-optional-fields.eventstream',
    ]);
  });

  test('ConverseStream: the metadata event is read; its usage is all zeros, so nothing is reported', () => {
    const bytes = read('ConverseStream.w-optional-fields.eventstream');
    const metadata = messages(bytes).filter((m) => m.headers[':event-type']?.value === 'metadata');
    assert.equal(metadata.length, 1);
    const usage = (JSON.parse(toUtf8(metadata[0]!.body)) as { usage: Record<string, unknown> }).usage;
    assert.deepEqual(
      [usage['inputTokens'], usage['outputTokens'], usage['cacheReadInputTokens'], usage['cacheWriteInputTokens']],
      [0, 0, 0, 0],
    );
    assert.deepEqual(readStream(bytes), { model: undefined, inputTokens: 0, outputTokens: 0 });
    assert.equal(observeAllWays(bytes), undefined);
  });

  test('ConverseStream with the metadata numbers filled in: exactly those numbers, cache counted as input', () => {
    const frames = messages(read('ConverseStream.w-optional-fields.eventstream')).map((m) => {
      if (m.headers[':event-type']?.value !== 'metadata') return codec.encode(m);
      const payload = JSON.parse(toUtf8(m.body)) as { usage: Record<string, unknown> };
      Object.assign(payload.usage, { inputTokens: 1200, outputTokens: 345, totalTokens: 2569, cacheReadInputTokens: 1000, cacheWriteInputTokens: 24 });
      return codec.encode({ headers: m.headers, body: fromUtf8(JSON.stringify(payload)) });
    });
    assert.deepEqual(observeAllWays(stream(frames)), { model: undefined, inputTokens: 2224, outputTokens: 345 });
  });

  for (const name of ['InvokeModelWithResponseStream.minimal-response.eventstream', 'InvokeModelWithResponseStream.w-optional-fields.eventstream']) {
    test(`${name}: its one chunk carries no model event, so no usage`, () => {
      const bytes = read(name);
      const chunks = messages(bytes).filter((m) => m.headers[':event-type']?.value === 'chunk');
      assert.equal(chunks.length, 1);
      // `{}` in the minimal snapshot; `{"bytes":"AQAAAQ=="}` (the four bytes 1,0,0,1) in the other.
      const payload = JSON.parse(toUtf8(chunks[0]!.body)) as { bytes?: string };
      if (payload.bytes !== undefined) assert.deepEqual([...Buffer.from(payload.bytes, 'base64')], [1, 0, 0, 1]);
      assert.deepEqual(readStream(bytes), { model: undefined, inputTokens: 0, outputTokens: 0 });
      assert.equal(observeAllWays(bytes), undefined);
    });
  }
});

describe('Bedrock usage from the Converse snapshot', { skip: testdataSkip(BEDROCK) }, () => {
  /** The response body of the snapshot's "minimal response" section. */
  function converseBody(): Record<string, unknown> {
    const text = readTestdata(BEDROCK, 'Converse.res.minimal-excerpt.txt').toString('utf8');
    const start = text.indexOf('[Uint8Array (json)]\n');
    const end = text.indexOf('--- [output object] ---');
    assert.ok(start !== -1 && end > start);
    return JSON.parse(text.slice(start + '[Uint8Array (json)]\n'.length, end)) as Record<string, unknown>;
  }

  test('its usage is all zeros: read as zero, reported as none', () => {
    const body = converseBody();
    const acc = emptyUsage();
    bedrockUsage.json(body, acc);
    assert.deepEqual(acc, { model: undefined, inputTokens: 0, outputTokens: 0 });
    assert.equal(observe([Buffer.from(JSON.stringify(body))], 'application/json'), undefined);
  });

  test('with the numbers filled in: exactly those, cache reads and writes counted as input', () => {
    const body = converseBody();
    Object.assign(body['usage'] as object, { inputTokens: 30, outputTokens: 12, totalTokens: 1042, cacheReadInputTokens: 900, cacheWriteInputTokens: 100 });
    const bytes = Buffer.from(JSON.stringify(body));
    assert.deepEqual(observe([bytes.subarray(0, 100), bytes.subarray(100)], 'application/json'), { model: undefined, inputTokens: 1030, outputTokens: 12 });
  });
});

/** An Anthropic Messages stream as Bedrock's InvokeModelWithResponseStream wraps it. */
function anthropicEvents(): object[] {
  return [
    { type: 'message_start', message: { id: 'msg_bdrk_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 11, cache_read_input_tokens: 100, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ', usage!' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } },
  ];
}

/**
 * Bedrock's closing chunk: `message_stop` with its own count. Its numbers deliberately differ
 * from the model's (112 vs 111 input, 7 vs 6 output), so the tests show which one is used.
 */
const MESSAGE_STOP_WITH_METRICS = {
  type: 'message_stop',
  'amazon-bedrock-invocationMetrics': { inputTokenCount: 12, outputTokenCount: 7, invocationLatency: 812, firstByteLatency: 301, cacheReadInputTokenCount: 100, cacheWriteInputTokenCount: 0 },
};

describe('bedrockUsage on InvokeModelWithResponseStream', () => {
  test('the invocationMetrics of the closing chunk win over the Anthropic counts, with no double counting', () => {
    const bytes = stream([...anthropicEvents().map(chunkFrame), chunkFrame(MESSAGE_STOP_WITH_METRICS)]);
    assert.deepEqual(observeAllWays(bytes), { model: undefined, inputTokens: 112, outputTokens: 7 });
  });

  test('a stream cut before the closing chunk reports the Anthropic counts it carried', () => {
    assert.deepEqual(observeAllWays(stream(anthropicEvents().map(chunkFrame))), { model: undefined, inputTokens: 111, outputTokens: 6 });
    assert.deepEqual(observeAllWays(stream(anthropicEvents().slice(0, 3).map(chunkFrame))), { model: undefined, inputTokens: 111, outputTokens: 1 });
  });

  test('other model families: only the invocationMetrics count', () => {
    const llama = [
      { generation: 'Hello', prompt_token_count: 9, generation_token_count: 1, stop_reason: null },
      { generation: ' there', prompt_token_count: null, generation_token_count: 2, stop_reason: null },
      { generation: '', prompt_token_count: null, generation_token_count: 3, stop_reason: 'stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 9, outputTokenCount: 3, invocationLatency: 400, firstByteLatency: 90 } },
    ];
    assert.deepEqual(observeAllWays(stream(llama.map(chunkFrame))), { model: undefined, inputTokens: 9, outputTokens: 3 });
    assert.equal(observeAllWays(stream(llama.slice(0, 2).map(chunkFrame))), undefined);
  });

  test('exception frames and chunks that are not model JSON are skipped', () => {
    const frames = [
      chunkFrame(anthropicEvents()[0]),
      eventFrame('chunk', { bytes: Buffer.from([1, 0, 0, 1]).toString('base64') }),
      eventFrame('chunk', { bytes: 42 }),
      eventFrame('chunk', {}),
      exceptionFrame('modelStreamErrorException', 'the model stopped'),
      chunkFrame(MESSAGE_STOP_WITH_METRICS),
    ];
    assert.deepEqual(observeAllWays(stream(frames)), { model: undefined, inputTokens: 112, outputTokens: 7 });
  });
});

describe('bedrockUsage on ConverseStream', () => {
  const converse = (usage: object): Uint8Array[] => [
    eventFrame('messageStart', { role: 'assistant' }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hi' } }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' there, "usage": {"inputTokens": 999}' } }),
    eventFrame('contentBlockStop', { contentBlockIndex: 0 }),
    eventFrame('messageStop', { stopReason: 'end_turn' }),
    eventFrame('metadata', { usage, metrics: { latencyMs: 420 } }),
  ];

  test('the usage of the metadata event, and nothing from text that only looks like usage', () => {
    assert.deepEqual(observeAllWays(stream(converse({ inputTokens: 25, outputTokens: 8, totalTokens: 33 }))), { model: undefined, inputTokens: 25, outputTokens: 8 });
  });

  test('a throttling exception instead of metadata: no usage', () => {
    const frames = [...converse({}).slice(0, 2), exceptionFrame('throttlingException', 'Too many requests')];
    assert.equal(observeAllWays(stream(frames)), undefined);
  });

  test('a metadata payload that is not JSON is skipped, not thrown', () => {
    const bad = codec.encode({
      headers: { ':event-type': { type: 'string', value: 'metadata' }, ':content-type': { type: 'string', value: 'application/json' }, ':message-type': { type: 'string', value: 'event' } },
      body: fromUtf8('{"usage":'),
    });
    assert.equal(observeAllWays(stream([bad])), undefined);
  });
});

describe('UsageObserver on a broken event stream', () => {
  const frames = [chunkFrame(anthropicEvents()[0]), chunkFrame(anthropicEvents()[2]), chunkFrame(anthropicEvents()[5]), chunkFrame(MESSAGE_STOP_WITH_METRICS)];

  for (const [how, corrupt] of [
    ['a payload byte (message CRC)', corruptPayload],
    ['a length bit (prelude CRC)', corruptLength],
  ] as const) {
    test(`a frame corrupted in ${how} mid-stream stops observation without throwing; what came before is kept`, () => {
      // The corrupt frame is the delta; message_start (111 in, 1 out) was already read, the rest is not.
      const bytes = stream([frames[0]!, corrupt(frames[1]!), frames[2]!, frames[3]!]);
      assert.deepEqual(observeAllWays(bytes), { model: undefined, inputTokens: 111, outputTokens: 1 });
    });
  }

  test('a corrupt first frame: nothing is reported, nothing is thrown', () => {
    assert.equal(observeAllWays(stream([corruptPayload(frames[0]!), ...frames.slice(1)])), undefined);
  });

  test('a body that stops inside a frame: end() does not throw and reports what was read', () => {
    const bytes = stream(frames);
    assert.deepEqual(observeAllWays(bytes.subarray(0, bytes.length - 5)), { model: undefined, inputTokens: 111, outputTokens: 6 });
  });

  test('a body that is not an event stream at all', () => {
    assert.equal(observeAllWays(Buffer.from('<html><body>503 Service Unavailable</body></html>')), undefined);
  });
});

describe('bedrockUsage on JSON bodies', () => {
  const json = (body: unknown) => observe([Buffer.from(JSON.stringify(body))], 'application/json');

  test('Converse: inputTokens plus cache reads and writes, outputTokens', () => {
    assert.deepEqual(json({ output: { message: { role: 'assistant', content: [{ text: 'hi' }] } }, stopReason: 'end_turn', usage: { inputTokens: 5, outputTokens: 2, totalTokens: 7 } }), {
      model: undefined,
      inputTokens: 5,
      outputTokens: 2,
    });
  });

  test('InvokeModel with an Anthropic Messages body: its usage, but not its model name (the caller has the Bedrock id)', () => {
    assert.deepEqual(
      json({ id: 'msg_bdrk_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 10, cache_creation_input_tokens: 20, cache_read_input_tokens: 30, output_tokens: 4 } }),
      { model: undefined, inputTokens: 60, outputTokens: 4 },
    );
  });

  test('InvokeModel with other model families reports nothing (their counts are in response headers)', () => {
    assert.equal(json({ inputTextTokenCount: 5, results: [{ tokenCount: 3, outputText: 'hi', completionReason: 'FINISH' }] }), undefined);
    assert.equal(json({ generation: 'hi', prompt_token_count: 5, generation_token_count: 3, stop_reason: 'stop' }), undefined);
    assert.equal(json({ usage: null }), undefined);
    assert.equal(json([1, 2]), undefined);
    assert.equal(json({ message: 'The security token included in the request is invalid.' }), undefined);
  });
});

describe('bedrockUsage wiring', () => {
  test('event-stream bodies are observed only for readers that read them', () => {
    assert.ok(UsageObserver.for(bedrockUsage, EVENTSTREAM));
    const sseOnly: UsageReader = { json() {}, event() {} };
    assert.equal(UsageObserver.for(sseOnly, EVENTSTREAM), undefined);
    assert.ok(UsageObserver.for(bedrockUsage, 'application/json'));
  });

  test('SSE events are not Bedrock usage', () => {
    const acc = emptyUsage();
    bedrockUsage.event({ event: 'message', data: '{"usage":{"inputTokens":5,"outputTokens":5}}', id: undefined }, acc);
    assert.deepEqual(acc, emptyUsage());
  });
});

describe('Bedrock chunks carrying the recorded Anthropic streams', { skip: testdataSkip('wire/anthropic') }, () => {
  /** Model and usage as printed in each transcript (see the Anthropic usage tests). */
  const RECORDED: Record<string, { inputTokens: number; outputTokens: number }> = {
    'messages-stream.basic.sse': { inputTokens: 11, outputTokens: 6 },
    'messages-stream.tool-use.sse': { inputTokens: 377, outputTokens: 65 },
  };

  for (const name of Object.keys(RECORDED)) {
    test(`${name}, wrapped as InvokeModelWithResponseStream chunks`, () => {
      const text = readTestdata('wire/anthropic', name).toString('utf8');
      const events = text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
      const expected = { model: undefined, ...RECORDED[name]! };
      assert.deepEqual(observeAllWays(stream(events.map(chunkFrame))), expected);
      // Bedrock appends its own count to the last event; here it agrees with the model's.
      const last = { ...events.at(-1)!, 'amazon-bedrock-invocationMetrics': { inputTokenCount: expected.inputTokens, outputTokenCount: expected.outputTokens, invocationLatency: 1000, firstByteLatency: 200 } };
      assert.deepEqual(observeAllWays(stream([...events.slice(0, -1), last].map(chunkFrame))), expected);
    });
  }
});

describe('bedrockUsage on the OpenAI-compatible routes (OpenAI shapes, SSE)', () => {
  const chat = { model: 'openai.gpt-oss-20b-1:0', messages: [{ role: 'user', content: 'Hi' }] };
  const responses = { model: 'openai.gpt-oss-20b', input: 'Hi' };
  const jsonOf = (answer: OpenAICompatibleAnswer): Buffer => {
    assert.equal(answer.kind, 'json');
    return Buffer.from(JSON.stringify(answer.kind === 'json' ? answer.body : null));
  };
  const sseOf = (answer: OpenAICompatibleAnswer): Buffer => {
    assert.equal(answer.kind, 'sse');
    return Buffer.from(answer.kind === 'sse' ? answer.frames.join('') : '');
  };

  test('chat completions JSON: prompt_tokens / completion_tokens and the model the body names', () => {
    const usage = observe([jsonOf(openAICompatibleAnswer('runtime', 'chat', '/openai/v1/chat/completions', chat))], 'application/json');
    assert.deepEqual(usage, { model: 'openai.gpt-oss-20b-1:0', inputTokens: 15, outputTokens: BEDROCK_OPENAI_REPLY.length });
  });

  test('chat completions SSE with include_usage, however the stream is cut', () => {
    const bytes = sseOf(openAICompatibleAnswer('runtime', 'chat', '/openai/v1/chat/completions', { ...chat, stream: true, stream_options: { include_usage: true } }));
    for (const [how, chunks] of chunkings(bytes)) {
      assert.deepEqual(observe(chunks, 'text/event-stream'), { model: 'openai.gpt-oss-20b-1:0', inputTokens: 15, outputTokens: BEDROCK_OPENAI_REPLY.length }, how);
    }
  });

  test('Responses JSON and SSE: input_tokens / output_tokens (reasoning included), from response.completed', () => {
    const expected = { model: 'openai.gpt-oss-20b', inputTokens: 12, outputTokens: BEDROCK_OPENAI_REPLY.length + 4 };
    assert.deepEqual(observe([jsonOf(openAICompatibleAnswer('mantle', 'responses', '/openai/v1/responses', responses))], 'application/json'), expected);
    const bytes = sseOf(openAICompatibleAnswer('mantle', 'responses', '/openai/v1/responses', { ...responses, stream: true }));
    for (const [how, chunks] of chunkings(bytes)) assert.deepEqual(observe(chunks, 'text/event-stream'), expected, how);
  });

  test('a Responses stream cut before response.completed reports no usage', () => {
    const frames = openAICompatibleAnswer('mantle', 'responses', '/openai/v1/responses', { ...responses, stream: true });
    assert.equal(frames.kind, 'sse');
    const cut = Buffer.from(frames.kind === 'sse' ? frames.frames.slice(0, -1).join('') : '');
    assert.equal(observe([cut], 'text/event-stream'), undefined);
  });
});
