import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { cutAt as cut } from '../../test/helpers/chunks.js';
import { readTestdata, testdataFiles, testdataSkip } from '../../test/helpers/testdata.js';
import { EventStreamDecoder, EventStreamError, bedrockEvent, type EventStreamMessage } from './aws-eventstream.js';

/**
 * Property tests: the event-stream decoder's result (messages, then the error if any) depends
 * only on the bytes, never on where they were cut, and no input makes it (or `bedrockEvent`)
 * throw anything but an EventStreamError. Streams are built from the aws-sdk-go vectors in
 * ../shared/testdata/aws-eventstream (positive frames as the good parts, negative frames and
 * mutations as the bad), plus frames with valid checksums around random header bytes, which
 * only the header parser can refuse.
 */

const VECTORS = 'aws-eventstream';

interface Outcome {
  messages: EventStreamMessage[];
  error: string | undefined;
}

function run(chunks: readonly Uint8Array[]): Outcome {
  const d = new EventStreamDecoder();
  const messages: EventStreamMessage[] = [];
  try {
    for (const c of chunks) messages.push(...d.push(c));
    d.end();
    return { messages, error: undefined };
  } catch (err) {
    assert.ok(err instanceof EventStreamError, `unexpected ${String(err)}`);
    return { messages, error: `${err.code}: ${err.message}` };
  }
}

/** Messages as plain data (bodies and binary values as arrays), so deepEqual ignores views and offsets. */
function plain(o: Outcome): unknown {
  return {
    error: o.error,
    messages: o.messages.map((m) => ({
      body: [...m.body],
      headers: Object.entries(m.headers).map(([k, h]) => [k, h.type, h.value instanceof Uint8Array ? [...h.value] : String(h.value.valueOf())]),
    })),
  };
}

/** A frame with correct CRCs around `headers` (whatever they hold) and `payload`. */
function frame(headers: Uint8Array, payload: Uint8Array): Uint8Array {
  const total = 16 + headers.length + payload.length;
  const b = Buffer.alloc(total);
  b.writeUInt32BE(total, 0);
  b.writeUInt32BE(headers.length, 4);
  b.writeUInt32BE(crc32(b.subarray(0, 8)), 8);
  b.set(headers, 12);
  b.set(payload, 12 + headers.length);
  b.writeUInt32BE(crc32(b.subarray(0, total - 4)), total - 4);
  return b;
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => Buffer.concat(parts);

describe('EventStreamDecoder properties (fast-check, seeded with the aws-sdk-go vectors)', { skip: testdataSkip(VECTORS) }, () => {
  const positive = testdataFiles(`${VECTORS}/encoded/positive`, '').map((n) => readTestdata(`${VECTORS}/encoded/positive`, n));
  const negative = testdataFiles(`${VECTORS}/encoded/negative`, '').map((n) => readTestdata(`${VECTORS}/encoded/negative`, n));
  const good = fc.array(fc.constantFrom(...positive), { minLength: 1, maxLength: 6 });
  const cuts = fc.array(fc.nat(), { maxLength: 16 });

  test('the seeds are there (5 positive, 4 negative vectors)', () => {
    assert.equal(positive.length, 5);
    assert.equal(negative.length, 4);
  });

  test('any chunking of valid frames gives every frame, as one whole push does', () => {
    fc.assert(
      fc.property(good, cuts, (frames, at) => {
        const bytes = concat(frames);
        const whole = run([bytes]);
        assert.equal(whole.error, undefined);
        assert.equal(whole.messages.length, frames.length);
        assert.deepEqual(plain(run(cut(bytes, at))), plain(whole));
      }),
      { numRuns: 300 },
    );
  });

  test('valid frames then a corrupt vector: the same messages, then the same error, however cut', () => {
    fc.assert(
      fc.property(good, fc.constantFrom(...negative), good, cuts, (before, bad, after, at) => {
        const bytes = concat([...before, bad, ...after]);
        const whole = run([bytes]);
        assert.equal(whole.messages.length, before.length);
        assert.notEqual(whole.error, undefined);
        assert.deepEqual(plain(run(cut(bytes, at))), plain(whole));
      }),
      { numRuns: 300 },
    );
  });

  test('mutated or truncated vector streams: chunking changes nothing, only EventStreamErrors', () => {
    fc.assert(
      fc.property(
        good,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        fc.option(fc.nat(), { nil: undefined }),
        cuts,
        (frames, flips, truncate, at) => {
          const bytes = Buffer.from(concat(frames));
          for (const [i, x] of flips) bytes[i % bytes.length] ^= x;
          const stream = truncate === undefined ? bytes : bytes.subarray(0, truncate % bytes.length);
          assert.deepEqual(plain(run(cut(stream, at))), plain(run([stream])));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('frames with valid checksums around random header bytes: chunking changes nothing, only EventStreamErrors', () => {
    const randomFrame = fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 20 })).map(([h, p]) => frame(h, p));
    fc.assert(
      fc.property(fc.array(fc.oneof(randomFrame, fc.constantFrom(...positive)), { minLength: 1, maxLength: 5 }), cuts, (frames, at) => {
        const bytes = concat(frames);
        const whole = run([bytes]);
        assert.deepEqual(plain(run(cut(bytes, at))), plain(whole));
        // Reading a decoded message the Bedrock way raises only EventStreamErrors too.
        for (const msg of whole.messages) {
          try {
            bedrockEvent(msg);
          } catch (err) {
            assert.ok(err instanceof EventStreamError, `bedrockEvent threw ${String(err)}`);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes, randomly cut: the same as whole, and only EventStreamErrors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), cuts, (bytes, at) => {
        assert.deepEqual(plain(run(cut(bytes, at))), plain(run([bytes])));
      }),
      { numRuns: 500 },
    );
  });
});
