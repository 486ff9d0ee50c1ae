import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { EventStreamCodec, Int64 } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { readTestdata, testdataFiles, testdataSkip } from '../../test/helpers/testdata.js';
import {
  EventStreamDecoder,
  EventStreamError,
  MAX_HEADERS_BYTES,
  MAX_MESSAGE_BYTES,
  bedrockEvent,
  type EventHeaderValue,
  type EventStreamErrorCode,
  type EventStreamMessage,
} from './aws-eventstream.js';
import { randomChunks, byteByByte } from '../../test/helpers/chunks.js';

/** AWS's own encoder, as the reference the decoder must agree with. */
const codec = new EventStreamCodec(toUtf8, fromUtf8);


/** Every way of feeding `bytes` the suites use: whole, byte by byte, cut once at every offset, and randomly. */
function chunkings(bytes: Uint8Array, { everyOffset = true, seeds = 20 } = {}): Array<[string, Uint8Array[]]> {
  const out: Array<[string, Uint8Array[]]> = [
    ['whole', [bytes]],
    ['byte by byte', byteByByte(bytes)],
  ];
  if (everyOffset) for (let i = 1; i < bytes.length; i++) out.push([`split at ${i}`, [bytes.subarray(0, i), bytes.subarray(i)]]);
  for (let seed = 1; seed <= seeds; seed++) out.push([`random seed ${seed}`, randomChunks(bytes, seed, 1 + (seed % 4) * 40)]);
  return out;
}

interface Decoded {
  messages: EventStreamMessage[];
  error: unknown;
}

/** Feeds `chunks` to a new decoder and ends it; the messages, and the first error if any. */
function decode(chunks: Iterable<Uint8Array>): Decoded {
  const d = new EventStreamDecoder();
  const messages: EventStreamMessage[] = [];
  try {
    for (const c of chunks) messages.push(...d.push(c));
    d.end();
    return { messages, error: undefined };
  } catch (error) {
    return { messages, error };
  }
}

function assertEventStreamError(err: unknown, code: EventStreamErrorCode, text?: string): void {
  assert.ok(err instanceof EventStreamError, `expected an EventStreamError, got ${String(err)}`);
  assert.equal(err.code, code);
  if (text !== undefined) assert.ok(err.message.includes(text), `"${err.message}" should contain "${text}"`);
}

/** The expected decoding in `aws-eventstream/decoded/positive/<case>` (see the testdata README, section 2). */
interface VectorJson {
  total_length: number;
  headers_length: number;
  prelude_crc: number;
  message_crc: number;
  headers: Array<{ name: string; type: number; value: unknown }>;
  payload: string;
}

/** One header in the vectors' encoding: wire type number, base64 for bytes, strings and UUIDs. */
function vectorHeader(name: string, h: EventHeaderValue): { name: string; type: number; value: unknown } {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  switch (h.type) {
    case 'boolean':
      return { name, type: h.value ? 0 : 1, value: h.value };
    case 'byte':
      return { name, type: 2, value: h.value };
    case 'short':
      return { name, type: 3, value: h.value };
    case 'integer':
      return { name, type: 4, value: h.value };
    case 'long':
      return { name, type: 5, value: h.value.valueOf() };
    case 'binary':
      return { name, type: 6, value: b64(h.value) };
    case 'string':
      return { name, type: 7, value: b64(Buffer.from(h.value, 'utf8')) };
    case 'timestamp':
      return { name, type: 8, value: h.value.getTime() };
    case 'uuid':
      return { name, type: 9, value: b64(Buffer.from(h.value.replaceAll('-', ''), 'hex')) };
  }
}

function asVector(msg: EventStreamMessage): Pick<VectorJson, 'headers' | 'payload'> {
  return {
    headers: Object.entries(msg.headers).map(([name, h]) => vectorHeader(name, h)),
    payload: Buffer.from(msg.body).toString('base64'),
  };
}

const VECTORS = 'aws-eventstream';
const EXPECTED_ERRORS: Record<string, EventStreamErrorCode> = {
  'Prelude checksum mismatch': 'prelude_checksum_mismatch',
  'Message checksum mismatch': 'message_checksum_mismatch',
};

describe('EventStreamDecoder over the aws-sdk-go vectors', { skip: testdataSkip(VECTORS) }, () => {
  const positive = testdataFiles(`${VECTORS}/encoded/positive`, '');
  const negative = testdataFiles(`${VECTORS}/encoded/negative`, '');

  test('the vector set is the one the README describes (5 positive, 4 negative)', () => {
    assert.deepEqual(positive, ['all_headers', 'empty_message', 'int32_header', 'payload_no_headers', 'payload_one_str_header']);
    assert.deepEqual(negative, ['corrupted_header_len', 'corrupted_headers', 'corrupted_length', 'corrupted_payload']);
    assert.deepEqual(testdataFiles(`${VECTORS}/decoded/positive`, ''), positive);
    assert.deepEqual(testdataFiles(`${VECTORS}/decoded/negative`, ''), negative);
  });

  for (const name of positive) {
    const bytes = readTestdata(`${VECTORS}/encoded/positive`, name);
    const expected = JSON.parse(readTestdata(`${VECTORS}/decoded/positive`, name).toString('utf8')) as VectorJson;

    test(`${name}: decodes to the expected headers (in order, with types) and payload, however it is cut`, () => {
      for (const [how, chunks] of chunkings(bytes)) {
        const { messages, error } = decode(chunks);
        assert.equal(error, undefined, how);
        assert.equal(messages.length, 1, how);
        assert.deepEqual(asVector(messages[0]!), { headers: expected.headers, payload: expected.payload }, how);
      }
    });

    test(`${name}: lengths and CRCs agree with the vector, and AWS's encoder gives the same bytes back`, () => {
      const msg = decode([bytes]).messages[0]!;
      assert.equal(bytes.length, expected.total_length);
      assert.equal(codec.formatHeaders(msg.headers).length, expected.headers_length);
      // The vectors print CRCs as signed 32-bit integers.
      assert.equal(bytes.readInt32BE(8), expected.prelude_crc);
      assert.equal(bytes.readInt32BE(bytes.length - 4), expected.message_crc);
      assert.deepEqual(Buffer.from(codec.encode(msg)), bytes);
      assert.deepEqual(msg, codec.decode(bytes));
    });
  }

  for (const name of negative) {
    const bytes = readTestdata(`${VECTORS}/encoded/negative`, name);
    const text = readTestdata(`${VECTORS}/decoded/negative`, name).toString('utf8');

    test(`${name}: fails with "${text}", however it is cut`, () => {
      const code = EXPECTED_ERRORS[text];
      assert.ok(code, `unexpected expectation ${JSON.stringify(text)}`);
      for (const [how, chunks] of chunkings(bytes)) {
        const { messages, error } = decode(chunks);
        assert.deepEqual(messages, [], how);
        assertEventStreamError(error, code, text);
      }
    });
  }

  test('all positive vectors in one stream: the same messages however the stream is cut', () => {
    const stream = Buffer.concat(positive.map((n) => readTestdata(`${VECTORS}/encoded/positive`, n)));
    const reference = decode([stream]);
    assert.equal(reference.error, undefined);
    assert.equal(reference.messages.length, positive.length);
    for (const [how, chunks] of chunkings(stream, { seeds: 50 })) assert.deepEqual(decode(chunks), reference, how);
  });

  test('good frames, then a corrupt one, then a good one: the good ones before it, then the error, however it is cut', () => {
    const good = positive.map((n) => readTestdata(`${VECTORS}/encoded/positive`, n));
    const stream = Buffer.concat([...good, readTestdata(`${VECTORS}/encoded/negative`, 'corrupted_payload'), good[0]!]);
    for (const [how, chunks] of chunkings(stream)) {
      const { messages, error } = decode(chunks);
      assert.equal(messages.length, good.length, how);
      assertEventStreamError(error, 'message_checksum_mismatch', 'Message checksum mismatch');
    }
  });

  test('a chunk that completes messages before a bad frame returns them; the next call raises the error', () => {
    const good = readTestdata(`${VECTORS}/encoded/positive`, 'int32_header');
    const bad = readTestdata(`${VECTORS}/encoded/negative`, 'corrupted_headers');
    const d = new EventStreamDecoder();
    assert.equal(d.push(Buffer.concat([good, good, bad])).length, 2);
    assert.throws(() => d.end(), (err) => (assertEventStreamError(err, 'message_checksum_mismatch'), true));
  });
});

const BEDROCK = 'wire/bedrock/aws-sdk-js-v3-snapshots';

/** The reconstructed streams, the snapshot each was rebuilt from, and the frame count the README states. */
const RECONSTRUCTED: Record<string, { frames: number; snapshot: string; section: string }> = {
  'ConverseStream.w-optional-fields.eventstream': { frames: 11, snapshot: 'ConverseStream.res.excerpt.txt', section: 'w/ optional fields' },
  'InvokeModelWithResponseStream.minimal-response.eventstream': { frames: 7, snapshot: 'InvokeModelWithResponseStream.res.txt', section: 'minimal response' },
  'InvokeModelWithResponseStream.w-optional-fields.eventstream': { frames: 7, snapshot: 'InvokeModelWithResponseStream.res.txt', section: 'w/ optional fields' },
};

interface SnapshotFrame {
  totalSize: number;
  headerSize: number;
  preludeCrc: number;
  messageCrc: number;
  headers: Array<[string, string]>;
  json: unknown;
}

/**
 * The `[chunk (event-stream object view)]` frames of one `==== <section> ====` section of an
 * aws-sdk-js-v3 snapshot (format in the testdata README, section 4c), read line by line.
 */
function snapshotFrames(text: string, section: string): SnapshotFrame[] {
  const lines = text.split('\n');
  const isSectionTitle = (l: string) => /^=+ .+ =+$/.test(l);
  const start = lines.findIndex((l) => isSectionTitle(l) && l.includes(` ${section} `));
  assert.notEqual(start, -1, `section ${section}`);
  const next = lines.findIndex((l, i) => i > start && isSectionTitle(l));
  const end = next === -1 ? lines.length : next;
  const frames: SnapshotFrame[] = [];
  for (let i = start + 1; i < end; i++) {
    if (lines[i] !== '[chunk (event-stream object view)]') continue;
    const sizes = /\[total-size\] (\d+) \[header-size\] (\d+) \[prelude-crc\] (\d+)/.exec(lines[++i]!);
    assert.ok(sizes, `sizes line after line ${i}`);
    const headers: Array<[string, string]> = [];
    for (i++; lines[i] !== ''; i++) {
      const colon = lines[i]!.indexOf(': ', 1);
      headers.push([lines[i]!.slice(0, colon), lines[i]!.slice(colon + 2)]);
    }
    assert.equal(lines[++i], '[json]');
    const json: string[] = [];
    for (i++; lines[i] !== ''; i++) json.push(lines[i]!);
    const crc = /^\[message-crc\] (\d+)$/.exec(lines[++i]!);
    assert.ok(crc, `message-crc line ${i}`);
    frames.push({
      totalSize: Number(sizes[1]),
      headerSize: Number(sizes[2]),
      preludeCrc: Number(sizes[3]),
      messageCrc: Number(crc[1]),
      headers,
      json: JSON.parse(json.join('\n')),
    });
  }
  return frames;
}

describe('EventStreamDecoder over the reconstructed Bedrock streams', { skip: testdataSkip(`${BEDROCK}/reconstructed`) }, () => {
  const files = testdataFiles(`${BEDROCK}/reconstructed`, '.eventstream');

  test('every reconstructed stream is in the table', () => assert.deepEqual(files, Object.keys(RECONSTRUCTED).sort()));

  for (const name of files) {
    const bytes = readTestdata(`${BEDROCK}/reconstructed`, name);
    const { frames: count, snapshot, section } = RECONSTRUCTED[name]!;
    const recorded = snapshotFrames(readTestdata(BEDROCK, snapshot).toString('utf8'), section);

    test(`${name}: ${count} frames, matching the snapshot's headers, payloads, sizes and CRCs`, () => {
      assert.equal(recorded.length, count);
      const { messages, error } = decode([bytes]);
      assert.equal(error, undefined);
      assert.equal(messages.length, count);
      messages.forEach((msg, i) => {
        const frame = recorded[i]!;
        assert.deepEqual(
          Object.entries(msg.headers).map(([k, h]) => [k, h.type === 'string' ? h.value : h]),
          frame.headers,
          `frame ${i} headers`,
        );
        const ev = bedrockEvent(msg);
        assert.equal(ev.kind, 'event');
        assert.equal(ev.type, frame.headers.find(([k]) => k === ':event-type')?.[1]);
        assert.deepEqual(ev.payload, frame.json, `frame ${i} payload`);
        // The wire payload is the compact JSON of the snapshot's pretty print.
        assert.equal(toUtf8(msg.body), JSON.stringify(frame.json));
        const encoded = Buffer.from(codec.encode(msg));
        assert.deepEqual(
          [encoded.length, encoded.readUInt32BE(4), encoded.readUInt32BE(8), encoded.readUInt32BE(encoded.length - 4)],
          [frame.totalSize, frame.headerSize, frame.preludeCrc, frame.messageCrc],
          `frame ${i} sizes and CRCs`,
        );
      });
      assert.deepEqual(Buffer.concat(messages.map((m) => codec.encode(m))), bytes);
    });

    test(`${name}: the same messages byte by byte, at every split and in random (seeded) chunks`, () => {
      const reference = decode([bytes]);
      for (const [how, chunks] of chunkings(bytes, { everyOffset: bytes.length < 2000, seeds: 100 })) assert.deepEqual(decode(chunks), reference, how);
    });
  }
});

/** A 12-byte prelude with a correct CRC, for lengths the decoder must refuse on sight. */
function prelude(total: number, headers: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(total, 0);
  b.writeUInt32BE(headers, 4);
  b.writeUInt32BE(crc32(b.subarray(0, 8)), 8);
  return b;
}

/** A frame with correct CRCs around raw header bytes, to test what the CRCs cannot catch. */
function frame(headers: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const total = 16 + headers.length + payload.length;
  const b = Buffer.alloc(total);
  prelude(total, headers.length).copy(b);
  b.set(headers, 12);
  b.set(payload, 12 + headers.length);
  b.writeUInt32BE(crc32(b.subarray(0, total - 4)), total - 4);
  return b;
}

function header(name: string, type: number, value: number[] | Buffer = []): Buffer {
  const n = Buffer.from(name, 'utf8');
  return Buffer.concat([Buffer.from([n.length]), n, Buffer.from([type]), Buffer.from(value)]);
}

function stringValue(s: string): Buffer {
  const v = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(v.length);
  return Buffer.concat([len, v]);
}

describe('EventStreamDecoder limits', () => {
  test('a prelude announcing the largest frame makes the decoder hold what arrived, not 16 MiB up front; the frame still decodes', () => {
    const payload = Buffer.alloc(MAX_MESSAGE_BYTES - 16, 0x61);
    const bytes = frame(new Uint8Array(0), payload);
    assert.equal(bytes.length, MAX_MESSAGE_BYTES);
    const before = process.memoryUsage().arrayBuffers;
    const held: EventStreamDecoder[] = [];
    for (let i = 0; i < 64; i++) {
      const d = new EventStreamDecoder();
      assert.deepEqual(d.push(bytes.subarray(0, 1024)), []);
      held.push(d);
    }
    // 64 streams announcing 16 MiB each: 1 GiB if allocated on sight; 64 KiB each as it is.
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'held memory follows the bytes received');
    const d = held[0]!;
    const messages: EventStreamMessage[] = [];
    for (let off = 1024; off < bytes.length; off += 64 * 1024) messages.push(...d.push(bytes.subarray(off, off + 64 * 1024)));
    d.end();
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.body.length, payload.length);
    assert.ok(Buffer.from(messages[0]!.body).equals(payload));
  });

  for (const total of [0, 1, 15, MAX_MESSAGE_BYTES + 1, 0xffffffff]) {
    test(`a prelude claiming ${total} bytes is refused as soon as its 12 bytes arrive, before any buffering`, () => {
      const before = process.memoryUsage().arrayBuffers;
      const d = new EventStreamDecoder();
      assert.throws(() => d.push(prelude(total, 0)), (err) => (assertEventStreamError(err, 'invalid_length', String(total)), true));
      assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, 'nothing near the claimed size was allocated');
      // Fed a byte at a time, the 12th byte raises it.
      const slow = new EventStreamDecoder();
      const bytes = prelude(total, 0);
      for (let i = 0; i < 11; i++) assert.deepEqual(slow.push(bytes.subarray(i, i + 1)), []);
      assert.throws(() => slow.push(bytes.subarray(11)), EventStreamError);
    });
  }

  test('a headers length that does not fit the frame, or exceeds 128 KiB, is refused', () => {
    assert.throws(() => new EventStreamDecoder().push(prelude(20, 5)), (err) => (assertEventStreamError(err, 'invalid_length'), true));
    assert.throws(() => new EventStreamDecoder().push(prelude(1024 * 1024, MAX_HEADERS_BYTES + 1)), (err) => (assertEventStreamError(err, 'invalid_length'), true));
    assert.deepEqual(new EventStreamDecoder().push(prelude(20, 4)), []);
  });

  test('a corrupt prelude is reported as a checksum mismatch even when its length is absurd', () => {
    const b = prelude(0xffffffff, 0);
    b[11] = b[11]! ^ 1;
    assert.throws(() => new EventStreamDecoder().push(b), (err) => (assertEventStreamError(err, 'prelude_checksum_mismatch', 'Prelude checksum mismatch'), true));
  });

  test('a frame of exactly 16 MiB is accepted (and, cut short, reported as truncated)', () => {
    const d = new EventStreamDecoder();
    assert.deepEqual(d.push(prelude(MAX_MESSAGE_BYTES, 0)), []);
    assert.throws(() => d.end(), (err) => (assertEventStreamError(err, 'truncated', `12 bytes of a ${MAX_MESSAGE_BYTES}-byte frame`), true));
  });

  test('end() throws when the stream stops inside a prelude or a frame, not between frames', () => {
    const msg = frame(header(':event-type', 7, stringValue('chunk')), Buffer.from('{}'));
    assert.doesNotThrow(() => new EventStreamDecoder().end());
    const whole = new EventStreamDecoder();
    assert.equal(whole.push(msg).length, 1);
    assert.doesNotThrow(() => whole.end());
    for (const cut of [1, 5, 11, 12, 13, msg.length - 1]) {
      const d = new EventStreamDecoder();
      assert.equal(d.push(Buffer.concat([msg, msg.subarray(0, cut)])).length, 1);
      assert.throws(() => d.end(), (err) => (assertEventStreamError(err, 'truncated', `${cut} bytes of a`), true), `cut at ${cut}`);
    }
  });

  test('after an error every later call raises it again', () => {
    const d = new EventStreamDecoder();
    const bad = prelude(15, 0);
    let first: unknown;
    assert.throws(() => d.push(bad), (err) => ((first = err), true));
    assert.throws(() => d.push(frame(new Uint8Array(0))), (err) => err === first);
    assert.throws(() => d.end(), (err) => err === first);
  });

  test('an empty chunk is a no-op', () => {
    const d = new EventStreamDecoder();
    assert.deepEqual(d.push(new Uint8Array(0)), []);
    d.end();
  });
});

describe('EventStreamDecoder header section (frames with valid CRCs)', () => {
  test('a string value longer than the header section is refused, not read out of the payload', () => {
    const headers = Buffer.concat([header('x', 7), Buffer.from([0, 40]), Buffer.from('AAA')]);
    const bytes = frame(headers, Buffer.from('payload bytes that must not end up in a header'));
    assert.throws(() => new EventStreamDecoder().push(bytes), (err) => (assertEventStreamError(err, 'invalid_header', 'overruns'), true));
  });

  test('a value that would run past the frame is refused even when more bytes follow in the same buffer', () => {
    const headers = Buffer.concat([header('x', 6), Buffer.from([0, 200])]);
    const pool = Buffer.concat([frame(headers), Buffer.from('SECRET '.repeat(40))]);
    const d = new EventStreamDecoder();
    assert.throws(() => d.push(pool.subarray(0, 16 + headers.length)), (err) => (assertEventStreamError(err, 'invalid_header'), true));
  });

  for (const [what, headers] of [
    ['a name longer than the section', Buffer.from([200, 0x61, 0x62])],
    ['an int32 cut short', Buffer.concat([header('n', 4), Buffer.from([0, 1])])],
    ['a UUID cut short', Buffer.concat([header('u', 9), Buffer.alloc(15)])],
    ['an unknown type byte', header('t', 10)],
  ] as const) {
    test(`${what} is refused`, () => {
      assert.throws(() => new EventStreamDecoder().push(frame(headers)), (err) => (assertEventStreamError(err, 'invalid_header'), true));
    });
  }

  test('a header named __proto__ stays a header', () => {
    const [msg] = new EventStreamDecoder().push(frame(Buffer.concat([header('__proto__', 7, stringValue('p')), header('a', 0)])));
    assert.ok(msg);
    assert.equal(Object.getPrototypeOf(msg.headers), Object.prototype);
    assert.deepEqual(Object.keys(msg.headers), ['__proto__', 'a']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(msg.headers, '__proto__')?.value, { type: 'string', value: 'p' });
  });

  test('every header type round-trips through AWS encoder and back, extremes included', () => {
    const original: EventStreamMessage = {
      headers: {
        t: { type: 'boolean', value: true },
        f: { type: 'boolean', value: false },
        byte: { type: 'byte', value: -128 },
        short: { type: 'short', value: -32768 },
        int: { type: 'integer', value: -2147483648 },
        long: { type: 'long', value: Int64.fromNumber(-42) },
        bin: { type: 'binary', value: new Uint8Array([0, 255, 7]) },
        str: { type: 'string', value: 'héllo ✓' },
        ts: { type: 'timestamp', value: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)) },
        before1970: { type: 'timestamp', value: new Date(-86_400_000) },
        uuid: { type: 'uuid', value: '01020304-0506-0708-090a-0b0c0d0e0f10' },
      },
      body: new Uint8Array([1, 2, 3]),
    };
    const bytes = codec.encode(original);
    for (const [how, chunks] of chunkings(bytes, { everyOffset: true, seeds: 5 })) {
      const { messages, error } = decode(chunks);
      assert.equal(error, undefined, how);
      assert.deepEqual(messages, [original], how);
    }
  });
});

describe('bedrockEvent', () => {
  const msg = (headers: Record<string, string>, body = ''): EventStreamMessage => ({
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, { type: 'string', value: v }])),
    body: fromUtf8(body),
  });

  test('an event: its :event-type and the parsed JSON payload', () => {
    assert.deepEqual(bedrockEvent(msg({ ':event-type': 'metadata', ':content-type': 'application/json', ':message-type': 'event' }, '{"usage":{"inputTokens":3}}')), {
      kind: 'event',
      type: 'metadata',
      payload: { usage: { inputTokens: 3 } },
    });
  });

  test('an exception: its :exception-type', () => {
    assert.deepEqual(bedrockEvent(msg({ ':message-type': 'exception', ':exception-type': 'throttlingException', ':content-type': 'application/json' }, '{"message":"slow down"}')), {
      kind: 'exception',
      type: 'throttlingException',
      payload: { message: 'slow down' },
    });
  });

  test('an error: its :error-code and :error-message, no payload', () => {
    assert.deepEqual(bedrockEvent(msg({ ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'boom' })), {
      kind: 'error',
      type: 'InternalFailure',
      payload: undefined,
      message: 'boom',
    });
  });

  test('a payload that is not declared JSON stays bytes', () => {
    const ev = bedrockEvent(msg({ ':message-type': 'event', ':event-type': 'audio', ':content-type': 'application/octet-stream' }, 'raw'));
    assert.deepEqual(ev.payload, fromUtf8('raw'));
  });

  for (const [what, headers, body, code] of [
    ['no :message-type', { ':event-type': 'chunk' }, '{}', 'invalid_message'],
    ['an unknown :message-type', { ':message-type': 'weird', ':event-type': 'chunk' }, '{}', 'invalid_message'],
    ['an event without :event-type', { ':message-type': 'event' }, '{}', 'invalid_message'],
    ['JSON that does not parse', { ':message-type': 'event', ':event-type': 'chunk', ':content-type': 'application/json' }, '{"bytes":', 'invalid_payload'],
  ] as const) {
    test(`${what} is an EventStreamError (${code})`, () => {
      assert.throws(() => bedrockEvent(msg(headers, body)), (err) => (assertEventStreamError(err, code), true));
    });
  }
});
