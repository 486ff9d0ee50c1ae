import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readTestdata, testdataFiles, testdataSkip } from '../../test/helpers/testdata.js';
import { GatewayError } from '../errors/gateway-error.js';
import { DEFAULT_STREAM_LINE_LIMIT, SseDecoder, type SseEvent } from './sse.js';
import { randomChunks, byteByByte } from '../../test/helpers/chunks.js';


/** Feeds `chunks` to a new decoder; the events from push() and from end() separately. */
function decode(chunks: Iterable<Uint8Array>): { pushed: SseEvent[]; ended: SseEvent[]; all: SseEvent[] } {
  const d = new SseDecoder();
  const pushed: SseEvent[] = [];
  for (const c of chunks) pushed.push(...d.push(c));
  const ended = d.end();
  return { pushed, ended, all: [...pushed, ...ended] };
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/**
 * The events of a recorded transcript, read independently of SseDecoder: the transcripts only
 * use `event: ` and `data: ` lines, LF line ends and blank-line separators.
 */
function expectedEvents(text: string): SseEvent[] {
  assert.ok(!text.includes('\r'), 'the transcripts use LF line ends');
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
        else assert.fail(`unexpected transcript line ${JSON.stringify(line)}`);
      }
      return { event, data: data.join('\n'), id: undefined };
    });
}

/** Every way a transcript is fed: whole, byte by byte, and in 25 random splits. */
function feedings(bytes: Uint8Array): Array<[string, Uint8Array[]]> {
  const out: Array<[string, Uint8Array[]]> = [
    ['whole', [bytes]],
    ['byte by byte', byteByByte(bytes)],
  ];
  for (let seed = 1; seed <= 25; seed++) out.push([`random split, seed ${seed}`, randomChunks(bytes, seed, seed % 2 === 0 ? 7 : 200)]);
  return out;
}

function transcriptSuite(sub: string, known: Record<string, { events: number; types?: Record<string, number> }>): void {
  describe(`SseDecoder over the recorded ${sub} transcripts`, { skip: testdataSkip(sub) }, () => {
    const files = testdataFiles(sub, '.sse');

    test('every transcript has a known event count', () => {
      assert.deepEqual(files, Object.keys(known).sort());
    });

    for (const name of files) {
      describe(name, () => {
        const bytes = readTestdata(sub, name);
        const text = bytes.toString('utf8');
        const expected = expectedEvents(text);
        // An event whose blank line is missing at EOF is only dispatched by end().
        const flushedAtEnd = text.endsWith('\n\n') ? 0 : 1;

        test(`has ${known[name]!.events} events, as counted by hand`, () => {
          assert.equal(expected.length, known[name]!.events);
          const types = known[name]!.types;
          if (types) {
            const counted: Record<string, number> = {};
            for (const e of expected) counted[e.event] = (counted[e.event] ?? 0) + 1;
            assert.deepEqual(counted, types);
          }
        });

        for (const [how, chunks] of feedings(bytes)) {
          test(`decodes ${how}`, () => {
            const { pushed, ended, all } = decode(chunks);
            assert.deepEqual(all, expected);
            assert.equal(ended.length, flushedAtEnd);
            assert.equal(pushed.length, expected.length - flushedAtEnd);
          });
        }

        test('decodes the same with CRLF line ends, byte by byte and split', () => {
          const crlf = utf8(text.replaceAll('\n', '\r\n'));
          assert.deepEqual(decode(byteByByte(crlf)).all, expected);
          for (let seed = 100; seed < 110; seed++) assert.deepEqual(decode(randomChunks(crlf, seed, 5)).all, expected, `seed ${seed}`);
        });

        test('decodes the same with CR line ends', () => {
          const cr = utf8(text.replaceAll('\n', '\r'));
          assert.deepEqual(decode(byteByByte(cr)).all, expected);
          assert.deepEqual(decode(randomChunks(cr, 7, 9)).all, expected);
        });

        test('every data field is the JSON the transcript carries (or [DONE])', () => {
          for (const e of decode(randomChunks(bytes, 42)).all) {
            if (e.data === '[DONE]') continue;
            const parsed = JSON.parse(e.data) as { type?: string };
            // Anthropic names each event after its payload's type.
            if (e.event !== 'message') assert.equal(parsed.type, e.event);
          }
        });
      });
    }
  });
}

transcriptSuite('wire/openai', {
  'chat-completions-stream.basic.sse': { events: 34, types: { message: 34 } },
  'chat-completions-stream.logprobs.sse': { events: 6 },
  'chat-completions-stream.max-tokens.sse': { events: 5 },
  'chat-completions-stream.n3-multiple-choices.sse': { events: 50 },
  'chat-completions-stream.parallel-tool-calls.sse': { events: 26 },
  'chat-completions-stream.refusal.sse': { events: 14 },
  'chat-completions-stream.tool-call.sse': { events: 11 },
});

transcriptSuite('wire/anthropic', {
  'messages-stream.basic.sse': {
    events: 9,
    types: { message_start: 1, content_block_start: 1, ping: 1, content_block_delta: 3, content_block_stop: 1, message_delta: 1, message_stop: 1 },
  },
  'messages-stream.tool-use.sse': { events: 15 },
});

describe('SseDecoder over recorded streams: contents', () => {
  test('the OpenAI basic stream carries the reply text and ends with [DONE]', { skip: testdataSkip('wire/openai') }, () => {
    const events = decode(byteByByte(readTestdata('wire/openai', 'chat-completions-stream.basic.sse'))).all;
    assert.equal(events.at(-1)?.data, '[DONE]');
    let text = '';
    for (const e of events.slice(0, -1)) {
      const chunk = JSON.parse(e.data) as { choices: Array<{ delta: { content?: string } }> };
      for (const c of chunk.choices) text += c.delta.content ?? '';
    }
    assert.equal(
      text,
      "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app.",
    );
  });

  test('the Anthropic tool-use stream carries {"location": "Paris"} in its input_json_delta fragments', { skip: testdataSkip('wire/anthropic') }, () => {
    const events = decode(randomChunks(readTestdata('wire/anthropic', 'messages-stream.tool-use.sse'), 3, 11)).all;
    let json = '';
    for (const e of events.filter((x) => x.event === 'content_block_delta')) {
      const d = (JSON.parse(e.data) as { delta: { type: string; partial_json?: string } }).delta;
      if (d.type === 'input_json_delta') json += d.partial_json;
    }
    assert.deepEqual(JSON.parse(json), { location: 'Paris' });
    assert.equal(events.at(-1)?.event, 'message_stop');
  });
});

describe('SseDecoder (WHATWG event-stream parsing)', () => {
  const one = (text: string) => decode([utf8(text)]).all;

  test('an event without event: is a "message"; event: names it', () => {
    assert.deepEqual(one('data: a\n\nevent: ping\ndata: b\n\n'), [
      { event: 'message', data: 'a', id: undefined },
      { event: 'ping', data: 'b', id: undefined },
    ]);
  });

  test('several data lines join with LF', () => {
    assert.deepEqual(one('data: line 1\ndata: line 2\ndata:\n\n')[0]?.data, 'line 1\nline 2\n');
  });

  test('one space after the colon is removed, no more; no colon means an empty value', () => {
    assert.deepEqual(
      one('data:x\n\ndata:  x\n\ndata\n\n').map((e) => e.data),
      ['x', ' x', ''],
    );
  });

  test('comments, retry and unknown fields are ignored', () => {
    assert.deepEqual(one(': keep-alive\nretry: 1000\nfoo: bar\ndata: a\n\n:\n\n'), [{ event: 'message', data: 'a', id: undefined }]);
  });

  test('an event with no data is not dispatched, and its type does not leak into the next', () => {
    assert.deepEqual(one('event: ping\n\ndata: b\n\n'), [{ event: 'message', data: 'b', id: undefined }]);
  });

  test('id is kept for following events; an id containing NUL is ignored', () => {
    assert.deepEqual(
      one('id: 1\ndata: a\n\ndata: b\n\nid: 2\u0000\ndata: c\n\nid: 3\ndata: d\n\n').map((e) => e.id),
      ['1', '1', '1', '3'],
    );
  });

  test('a leading byte order mark is skipped', () => {
    assert.deepEqual(decode([new Uint8Array([0xef, 0xbb, 0xbf]), utf8('data: a\n\n')]).all, [{ event: 'message', data: 'a', id: undefined }]);
  });

  test('multi-byte UTF-8 split across chunks decodes intact', () => {
    const bytes = utf8('data: héllo wörld 🌍 日本\n\n');
    assert.deepEqual(
      decode(byteByByte(bytes)).all.map((e) => e.data),
      ['héllo wörld 🌍 日本'],
    );
  });

  test('a CR at the end of one chunk and LF at the start of the next are one line end', () => {
    const { all } = decode([utf8('data: a\r'), utf8('\ndata: b\r'), utf8('\n\r'), utf8('\n')]);
    assert.deepEqual(all, [{ event: 'message', data: 'a\nb', id: undefined }]);
  });

  test('end() dispatches a last event without its blank line, and a last line without its line end', () => {
    const d = new SseDecoder();
    assert.deepEqual(d.push(utf8('data: a\n\ndata: b')), [{ event: 'message', data: 'a', id: undefined }]);
    assert.deepEqual(d.end(), [{ event: 'message', data: 'b', id: undefined }]);
  });

  test('end() with nothing pending returns nothing', () => {
    const d = new SseDecoder();
    d.push(utf8('data: a\n\n: trailing comment\n'));
    assert.deepEqual(d.end(), []);
  });

  test('push() returns nothing until an event is complete', () => {
    const d = new SseDecoder();
    assert.deepEqual(d.push(utf8('event: x\n')), []);
    assert.deepEqual(d.push(utf8('data: 1\n')), []);
    assert.deepEqual(d.push(utf8('\n')), [{ event: 'x', data: '1', id: undefined }]);
  });
});

describe('SseDecoder keepUnframedText', () => {
  const body = 'data: {"a":1}\r\n\r\n{\r\n  "error": {"code": 500, "message": "boom"}\r\n}\r\n';
  test('by default text outside the framing is skipped, as the spec says', () => {
    const d = new SseDecoder();
    assert.deepEqual([...d.push(Buffer.from(body)), ...d.end()].map((e) => e.data), ['{"a":1}']);
    assert.equal(d.unframedText, '');
  });
  test('when kept, it is collected whole (every later line), whatever the chunking', () => {
    for (const chunks of [[Buffer.from(body)], byteByByte(Buffer.from(body))]) {
      const d = new SseDecoder({ keepUnframedText: true });
      const events = [...chunks.flatMap((c) => d.push(c)), ...d.end()];
      assert.deepEqual(events.map((e) => e.data), ['{"a":1}']);
      assert.deepEqual(JSON.parse(d.unframedText), { error: { code: 500, message: 'boom' } });
    }
  });
});

describe('SseDecoder line limit (server.stream_line_limit)', () => {
  const MiB = 1024 * 1024;

  /** `bytes` in `size`-byte chunks. */
  function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
    return out;
  }

  function assertTooLong(err: unknown, what: string, limit: number): true {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.code, 'upstream_error');
    assert.equal(err.message, `the provider sent a stream ${what} longer than ${limit} bytes, the gateway's limit; the stream was cut`);
    return true;
  }

  test('the default limit is 1 MiB, the default of server.stream_line_limit', () => {
    assert.equal(DEFAULT_STREAM_LINE_LIMIT, MiB);
    const d = new SseDecoder();
    assert.deepEqual(d.push(new Uint8Array(MiB).fill(120)), []); // 'x' * 1 MiB: a line exactly at the limit is still pending
    assert.throws(() => d.push(utf8('x')), (err) => assertTooLong(err, 'line', MiB));
  });

  test('a 4 MB line fed in 64 KiB chunks decodes whole, with work proportional to its length', () => {
    const payload = 'y'.repeat(4 * 1000 * 1000);
    const bytes = utf8(`data: ${payload}\n\n`);
    const d = new SseDecoder({ lineLimit: 8 * MiB });
    const events: SseEvent[] = [];
    for (const c of chunked(bytes, 64 * 1024)) events.push(...d.push(c));
    events.push(...d.end());
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data.length, payload.length);
    assert.equal(events[0]!.data, payload);
    // Scanned once, copied once into the line buffer, plus the copies when the buffer doubles
    // (together less than twice the line). The quadratic decoder this replaced re-copied and
    // re-scanned the whole pending line on every chunk: about 30 times the line's length here.
    assert.ok(d.work <= 4 * bytes.length, `work ${d.work} for ${bytes.length} bytes`);
    assert.ok(d.work >= 2 * bytes.length - 64 * 1024, `work ${d.work} for ${bytes.length} bytes: the tally must count the scan and the copy`);
  });

  test('work stays linear whatever the chunk size (1 B to 64 KiB) for many lines and one long one', () => {
    const text = `${'data: {"a":1}\n\n'.repeat(2000)}data: ${'z'.repeat(200_000)}\n\n`;
    const bytes = utf8(text);
    for (const size of [1, 7, 1500, 65536]) {
      const d = new SseDecoder();
      let n = 0;
      for (const c of chunked(bytes, size)) n += d.push(c).length;
      n += d.end().length;
      assert.equal(n, 2001, `chunks of ${size}`);
      assert.ok(d.work <= 4 * bytes.length, `chunks of ${size}: work ${d.work} for ${bytes.length} bytes`);
    }
  });

  test('a line over the limit throws once its bytes pass the limit, before its line end arrives', () => {
    const d = new SseDecoder({ lineLimit: 100 });
    assert.deepEqual(d.push(utf8(`data: ${'a'.repeat(60)}`)), []);
    assert.throws(() => d.push(utf8('b'.repeat(40))), (err) => assertTooLong(err, 'line', 100));
  });

  test('a line of exactly the limit is accepted; one byte more is not (CRLF not counted)', () => {
    const line = `data: ${'a'.repeat(94)}`; // 100 bytes
    const d = new SseDecoder({ lineLimit: 100 });
    assert.deepEqual(d.push(utf8(`${line}\r\n\r\n`)), [{ event: 'message', data: 'a'.repeat(94), id: undefined }]);
    assert.throws(() => new SseDecoder({ lineLimit: 100 }).push(utf8(`${line}a\n\n`)), (err) => assertTooLong(err, 'line', 100));
  });

  test('the limit counts bytes, not characters', () => {
    const line = `data: ${'é'.repeat(47)}`; // 6 + 94 bytes, 53 characters
    assert.equal(new SseDecoder({ lineLimit: 100 }).push(utf8(`${line}\n\n`)).length, 1);
    assert.throws(() => new SseDecoder({ lineLimit: 99 }).push(utf8(`${line}\n\n`)), (err) => assertTooLong(err, 'line', 99));
  });

  test('many short data lines without a blank line cannot grow one event past the limit', () => {
    const d = new SseDecoder({ lineLimit: 100 });
    assert.deepEqual(d.push(utf8('data: 123456789\n'.repeat(6))), []); // 6 lines of 15 bytes
    assert.throws(() => d.push(utf8('data: 123456789\n')), (err) => assertTooLong(err, 'event', 100));
  });

  test('the count restarts at each event', () => {
    const d = new SseDecoder({ lineLimit: 100 });
    const events = d.push(utf8('data: 123456789\ndata: 123456789\n\n'.repeat(20)));
    assert.equal(events.length, 20);
  });

  test('unframed text is bounded by the limit too', () => {
    const d = new SseDecoder({ keepUnframedText: true, lineLimit: 100 });
    assert.equal(d.push(utf8('data: {}\n\n{\n')).length, 1);
    assert.deepEqual(d.push(utf8('"error": 1,\n'.repeat(7))), []); // 2 + 7 * 11 bytes
    assert.throws(() => d.push(utf8('"error": 1,\n'.repeat(3))), (err) => assertTooLong(err, 'text outside its events', 100));
  });

  test('events completed before the long line are returned, then every call raises the error', () => {
    const d = new SseDecoder({ lineLimit: 50 });
    assert.deepEqual(d.push(utf8(`data: a\n\ndata: ${'x'.repeat(60)}\n\n`)), [{ event: 'message', data: 'a', id: undefined }]);
    assert.throws(() => d.push(utf8('data: b\n\n')), (err) => assertTooLong(err, 'line', 50));
    assert.throws(() => d.end(), (err) => assertTooLong(err, 'line', 50));
  });

  test('a line over the limit in the last, unterminated line fails end() as well as push()', () => {
    const d = new SseDecoder({ lineLimit: 20 });
    assert.deepEqual(d.push(utf8('data: 0123456789')), []);
    assert.throws(() => d.push(utf8('0123456789')), (err) => assertTooLong(err, 'line', 20));
    assert.throws(() => d.end(), (err) => assertTooLong(err, 'line', 20));
  });

  test('an empty chunk between CR and LF does not split the line end in two', () => {
    const { all } = decode([utf8('data: a\r'), new Uint8Array(0), utf8('\ndata: b\n\n')]);
    assert.deepEqual(all, [{ event: 'message', data: 'a\nb', id: undefined }]);
  });
});
