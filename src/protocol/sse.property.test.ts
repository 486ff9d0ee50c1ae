import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cutAt as cut } from '../../test/helpers/chunks.js';
import { GatewayError } from '../errors/gateway-error.js';
import { SseDecoder, type SseEvent } from './sse.js';

/**
 * Property tests: the SSE decoder's result depends only on the bytes, never on how the network
 * cut them (splits inside CRLF, inside multi-byte UTF-8 sequences, empty chunks), it agrees with
 * a plain reading of the WHATWG rules, and no input makes it throw anything but the line-limit
 * GatewayError.
 */

interface Outcome {
  events: SseEvent[];
  /** The message of the error that ended decoding, if any. */
  error: string | undefined;
  unframed: string;
}

/** Feeds `chunks` to a new decoder, then end(); every event, and the first error. */
function run(chunks: readonly Uint8Array[], options: { lineLimit?: number; keepUnframedText?: boolean }): Outcome {
  const d = new SseDecoder(options);
  const events: SseEvent[] = [];
  try {
    for (const c of chunks) events.push(...d.push(c));
    events.push(...d.end());
    return { events, error: undefined, unframed: d.unframedText };
  } catch (err) {
    // The only error the decoder may raise for any input.
    assert.ok(err instanceof GatewayError, `unexpected ${String(err)}`);
    assert.equal(err.code, 'upstream_error');
    assert.match(err.message, /^the provider sent a stream (line|event|text outside its events) longer than \d+ bytes/);
    return { events, error: err.message, unframed: d.unframedText };
  }
}

/** Offsets where a cut is most likely to break a careless decoder: between CR and LF, inside a UTF-8 sequence. */
function trickyOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 1; i < bytes.length; i++) {
    if ((bytes[i - 1] === 13 && bytes[i] === 10) || (bytes[i]! & 0xc0) === 0x80) out.push(i);
  }
  return out;
}

/**
 * The events of a whole stream read the simplest way, straight from the spec: decode it all
 * (a leading BOM dropped), split lines on CRLF, CR or LF, and interpret each line. Like the
 * decoder, a last line without its line end is still read and a last event still dispatched.
 */
function reference(bytes: Uint8Array): SseEvent[] {
  const lines = new TextDecoder().decode(bytes).split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  const events: SseEvent[] = [];
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  const dispatch = () => {
    if (data.length > 0) events.push({ event: event || 'message', data: data.join('\n'), id });
    event = '';
    data = [];
  };
  for (const line of lines) {
    if (line === '') {
      dispatch();
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
  dispatch();
  return events;
}

const lineEnd = fc.constantFrom('\n', '\r\n', '\r');
/** Text with multi-byte characters (2, 3 and 4 bytes in UTF-8) and the odd CR or LF. */
const text = fc.string({ unit: fc.constantFrom('a', ' ', ':', 'é', '€', '日', '🌍', '\u0000', '\ufeff'), maxLength: 12 });
const line = fc.oneof(
  text.map((t) => `data: ${t}`),
  text.map((t) => `data:${t}`),
  text.map((t) => `event: ${t}`),
  text.map((t) => `id: ${t}`),
  text.map((t) => `: ${t}`),
  fc.constant('retry: 1000'),
  fc.constant(''),
  text,
);
/** An event stream built from SSE-like lines with mixed line ends, maybe a BOM, maybe no final line end. */
const stream = fc
  .tuple(fc.boolean(), fc.array(fc.tuple(line, lineEnd), { maxLength: 30 }), fc.option(line, { nil: undefined }))
  .map(([bom, lines, last]) => new TextEncoder().encode(`${bom ? '\ufeff' : ''}${lines.map(([l, e]) => l + e).join('')}${last ?? ''}`));
const cuts = fc.array(fc.nat(), { maxLength: 12 });
const options = fc.record({ lineLimit: fc.option(fc.integer({ min: 1, max: 80 }), { nil: undefined }), keepUnframedText: fc.boolean() });

describe('SseDecoder properties (fast-check)', () => {
  test('any chunking gives the same events, error and unframed text as one whole push', () => {
    fc.assert(
      fc.property(stream, cuts, options, (bytes, at, opts) => {
        assert.deepEqual(run(cut(bytes, at), opts), run([bytes], opts));
      }),
      { numRuns: 500 },
    );
  });

  test('cuts between CR and LF and inside multi-byte characters change nothing', () => {
    fc.assert(
      fc.property(
        stream.chain((bytes) => fc.tuple(fc.constant(bytes), fc.subarray(trickyOffsets(bytes)))),
        options,
        ([bytes, at], opts) => {
          assert.deepEqual(run(cut(bytes, at), opts), run([bytes], opts));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('byte by byte gives the same events as one whole push', () => {
    fc.assert(
      fc.property(stream, options, (bytes, opts) => {
        const bytewise = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
        assert.deepEqual(run(bytewise, opts), run([bytes], opts));
      }),
      { numRuns: 200 },
    );
  });

  test('without a limit in play, the events are the spec reading of the whole text', () => {
    fc.assert(
      fc.property(stream, cuts, (bytes, at) => {
        const out = run(cut(bytes, at), {});
        assert.equal(out.error, undefined);
        assert.deepEqual(out.events, reference(bytes));
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes, randomly cut, give the same result as whole and throw nothing but the limit error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, options, (bytes, at, opts) => {
        assert.deepEqual(run(cut(bytes, at), opts), run([bytes], opts));
        if (opts.lineLimit === undefined) assert.deepEqual(run([bytes], {}).events, reference(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  test('past the limit the error is raised whatever the chunking, and no line longer than the limit is read', () => {
    fc.assert(
      fc.property(stream, cuts, fc.integer({ min: 1, max: 40 }), (bytes, at, limit) => {
        const longest = Math.max(0, ...new TextDecoder().decode(bytes).split(/\r\n|\r|\n/).map((l) => Buffer.byteLength(l)));
        const out = run(cut(bytes, at), { lineLimit: limit });
        if (longest > limit) assert.notEqual(out.error, undefined);
        for (const e of out.events) assert.ok(Buffer.byteLength(e.data) <= limit, `event of ${Buffer.byteLength(e.data)} bytes under a ${limit}-byte limit`);
      }),
      { numRuns: 500 },
    );
  });
});
