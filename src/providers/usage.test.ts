import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import type { SseEvent } from '../protocol/sse.js';
import { UsageObserver, emptyUsage, num, parseEventJson, str, type Usage, type UsageReader } from './usage.js';

/** A reader that records what it is given and reports fixed usage. */
function recordingReader(eventMarker?: string) {
  const jsonBodies: unknown[] = [];
  const events: SseEvent[] = [];
  const reader: UsageReader = {
    ...(eventMarker !== undefined ? { eventMarker } : {}),
    json(body, acc) {
      jsonBodies.push(body);
      acc.inputTokens = 1;
    },
    event(ev, acc) {
      events.push(ev);
      acc.outputTokens += 1;
    },
  };
  return { reader, jsonBodies, events };
}

describe('UsageObserver', () => {
  test('observes event streams and JSON bodies, nothing else', () => {
    const { reader } = recordingReader();
    assert.ok(UsageObserver.for(reader, 'text/event-stream'));
    assert.ok(UsageObserver.for(reader, 'text/event-stream; charset=utf-8'));
    assert.ok(UsageObserver.for(reader, 'application/json'));
    assert.ok(UsageObserver.for(reader, 'application/problem+json'));
    assert.equal(UsageObserver.for(reader, undefined), undefined);
    assert.equal(UsageObserver.for(reader, ''), undefined);
    assert.equal(UsageObserver.for(reader, 'text/html'), undefined);
    assert.equal(UsageObserver.for(reader, 'application/octet-stream'), undefined);
  });

  test('in a stream, only events that hold the reader\'s eventMarker reach it', () => {
    const { reader, events } = recordingReader('"usage');
    const o = UsageObserver.for(reader, 'text/event-stream')!;
    o.push(Buffer.from('data: {"a":1}\n\ndata: {"usage":{}}\n\ndata: {"b":2}\n\ndata: {"usage":null}'));
    assert.deepEqual(o.end(), { model: undefined, inputTokens: 0, outputTokens: 2 });
    assert.deepEqual(
      events.map((e) => e.data),
      ['{"usage":{}}', '{"usage":null}'],
    );
  });

  test('a reader without an eventMarker gets every event', () => {
    const { reader, events } = recordingReader();
    const o = UsageObserver.for(reader, 'text/event-stream')!;
    o.push(Buffer.from('data: {"a":1}\n\ndata: {"usage":{}}\n\n'));
    o.end();
    assert.deepEqual(
      events.map((e) => e.data),
      ['{"a":1}', '{"usage":{}}'],
    );
  });

  test('a JSON body is parsed once, at the end, from all its chunks', () => {
    const { reader, jsonBodies } = recordingReader();
    const o = UsageObserver.for(reader, 'application/json')!;
    o.push(Buffer.from('{"usage":'));
    o.push(Buffer.from('{"x":1}}'));
    assert.equal(jsonBodies.length, 0);
    assert.deepEqual(o.end(), { model: undefined, inputTokens: 1, outputTokens: 0 });
    assert.deepEqual(jsonBodies, [{ usage: { x: 1 } }]);
  });

  test('a JSON body over 8 MiB is forwarded but not accounted', () => {
    const { reader, jsonBodies } = recordingReader();
    const o = UsageObserver.for(reader, 'application/json')!;
    const padding = Buffer.alloc(1024 * 1024, 0x20);
    o.push(Buffer.from('{"usage":{"prompt_tokens":1}, "pad":"'));
    for (let i = 0; i < 8; i++) o.push(padding);
    o.push(Buffer.from('"}'));
    assert.equal(o.end(), undefined);
    assert.equal(jsonBodies.length, 0);
  });

  test('a body that is not JSON reports nothing', () => {
    const { reader } = recordingReader();
    const o = UsageObserver.for(reader, 'application/json')!;
    o.push(Buffer.from('<html>'));
    assert.equal(o.end(), undefined);
  });

  test('usage of zero tokens is reported as none', () => {
    const reader: UsageReader = { json() {}, event() {} };
    const o = UsageObserver.for(reader, 'application/json')!;
    o.push(Buffer.from('{"usage":{}}'));
    assert.equal(o.end(), undefined);
  });
});

describe('usage helpers', () => {
  test('num accepts only finite numbers', () => {
    assert.equal(num(5), 5);
    assert.equal(num(0), 0);
    for (const v of ['5', null, undefined, NaN, Infinity, {}, true]) assert.equal(num(v), 0, String(v));
  });

  test('str accepts non-empty strings up to 200 characters', () => {
    assert.equal(str('gpt-4o'), 'gpt-4o');
    assert.equal(str('x'.repeat(200)), 'x'.repeat(200));
    for (const v of ['', 'x'.repeat(201), 5, null, undefined]) assert.equal(str(v), undefined);
  });

  test('parseEventJson returns objects only', () => {
    const ev = (data: string): SseEvent => ({ event: 'message', data, id: undefined });
    assert.deepEqual(parseEventJson(ev('{"a":1}')), { a: 1 });
    assert.deepEqual(parseEventJson(ev('[1]')), [1]);
    for (const data of ['[DONE]', 'null', '5', '"s"', '{bad']) assert.equal(parseEventJson(ev(data)), undefined, data);
  });

  test('emptyUsage is a fresh object each time', () => {
    const a: Usage = emptyUsage();
    a.inputTokens = 5;
    assert.deepEqual(emptyUsage(), { model: undefined, inputTokens: 0, outputTokens: 0 });
  });
});

describe('UsageObserver and the stream line limit', () => {
  const tooLong = (limit: number) => (err: unknown) =>
    err instanceof GatewayError && err.code === 'upstream_error' && err.message === `the provider sent a stream line longer than ${limit} bytes, the gateway's limit; the stream was cut`;

  test('an SSE line past the configured limit makes push throw the decoder GatewayError', () => {
    const { reader, events } = recordingReader();
    const o = UsageObserver.for(reader, 'text/event-stream', { lineLimit: 64 })!;
    o.push(Buffer.from('data: {"usage":{}}\n\n'));
    assert.equal(events.length, 1);
    o.push(Buffer.from(`data: ${'x'.repeat(50)}`));
    assert.throws(() => o.push(Buffer.from('x'.repeat(20))), tooLong(64));
    assert.throws(() => o.end(), tooLong(64));
  });

  test('without options the limit is 1 MiB', () => {
    const { reader } = recordingReader();
    const o = UsageObserver.for(reader, 'text/event-stream')!;
    o.push(Buffer.alloc(1024 * 1024, 0x78));
    assert.throws(() => o.push(Buffer.from('x')), tooLong(1024 * 1024));
  });

  test('JSON bodies are not subject to the line limit (they have their own cap)', () => {
    const { reader, jsonBodies } = recordingReader();
    const o = UsageObserver.for(reader, 'application/json', { lineLimit: 16 })!;
    o.push(Buffer.from(JSON.stringify({ text: 'y'.repeat(100) })));
    assert.deepEqual(o.end(), { model: undefined, inputTokens: 1, outputTokens: 0 });
    assert.equal(jsonBodies.length, 1);
  });
});
