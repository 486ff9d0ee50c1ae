import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { JSON_HEADERS, assertUpstreamClean, baseConfig, category, chat, errorOf, inflightSettlesAt, rawHttp, requestBytes, sleep, type Arena } from './support.js';

/**
 * HTTP/2 (prior-knowledge h2c): ordinary requests, then streams and sessions that end badly:
 * an oversized DATA frame (spec item 3: the session is dropped and `llmproxy_inflight_requests`
 * comes back to 0, so graceful shutdown still drains), client resets, sessions destroyed while a
 * response is pending, malformed header blocks. Raw frames are built here (HPACK literals without
 * Huffman coding), so nothing in a client library smooths them out.
 */

// --- raw frames -------------------------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const enum Type { DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, GOAWAY = 7 }
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

function frame(type: Type, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByte = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A header block of literals without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
function headerBlock(headers: Array<[string, string]>): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of headers) {
    bytes.push(0x00, ...hpackInt(Buffer.byteLength(name), 7), ...Buffer.from(name, 'latin1'));
    bytes.push(...hpackInt(Buffer.byteLength(value), 7), ...Buffer.from(value, 'latin1'));
  }
  return Buffer.from(bytes);
}

function requestHead(path: string, extra: Array<[string, string]> = [], method = 'POST'): Array<[string, string]> {
  return [[':method', method], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', path], ...extra];
}

/** Preface, empty SETTINGS, and a HEADERS frame opening stream 1. */
function opening(headers: Array<[string, string]>, endStream = false): Buffer {
  return Buffer.concat([PREFACE, frame(Type.SETTINGS, 0, 0, Buffer.alloc(0)), frame(Type.HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), 1, headerBlock(headers))]);
}

// --- client helpers ---------------------------------------------------------------------------

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function h2session(arena: Arena): http2.ClientHttp2Session {
  const s = http2.connect(arena.gw.url);
  s.on('error', () => undefined);
  return s;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers });
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let text = '';
    const timer = setTimeout(() => reject(new Error('h2 request not answered within 10 s')), 10_000);
    req.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => {
      clearTimeout(timer);
      resolve({ status, headers: responseHeaders, body: text });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

async function oneRequest(arena: Arena, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Answer> {
  const session = h2session(arena);
  try {
    const answer = await h2request(session, headers, body);
    arena.seen.push(Buffer.from(JSON.stringify(answer)));
    return answer;
  } finally {
    session.close();
  }
}

/**
 * Runs `body` and checks `llmproxy_inflight_requests` comes back to where it was (so a leak is
 * charged to the case that caused it; a last test checks the gauge is 0 after all of them).
 */
async function inflightRestored(arena: Arena, body: () => Promise<void>): Promise<void> {
  const baseline = await inflightSettlesAt(arena.gw.port, 0, 500);
  await body();
  assert.equal(await inflightSettlesAt(arena.gw.port, baseline ?? 0), baseline, 'llmproxy_inflight_requests is back where it was');
}

category(
  'HTTP/2',
  (upstream) => baseConfig(upstream),
  (arena) => {
    const a = () => arena();
    const auth = () => ({ authorization: `Bearer ${a().key}` });

    test('GET /health over h2c → 200', async () => {
      assert.equal((await oneRequest(a(), { ':path': '/health' })).status, 200);
    });

    test('transparent GET with a valid key → 200, only the provider credential upstream', async () => {
      a().upstream.reset();
      const r = await oneRequest(a(), { ':path': '/transparent/oai/v1/models', ...auth(), 'x-totp-code': '123456', 'x-api-key': 'junk' });
      assert.equal(r.status, 200);
      assert.equal(a().upstream.requests.length, 1);
      assertUpstreamClean(a().upstream.requests);
    });

    test('no credential → 401 unauthorized, nothing forwarded', async () => {
      a().upstream.reset();
      const r = await oneRequest(a(), { ':path': '/transparent/oai/v1/models' });
      assert.equal(r.status, 401);
      assert.equal(errorOf({ text: r.body })?.code, 'unauthorized');
      assert.equal(a().upstream.requests.length, 0);
    });

    test('protocol chat over h2c → 200', async () => {
      const r = await oneRequest(a(), { ':path': '/openai/claude/chat/completions', ...auth(), ...JSON_HEADERS }, chat('claude-sonnet-4-5'));
      assert.equal(r.status, 200);
    });

    test('protocol: malformed body over h2c → 400 with its param', async () => {
      const r = await oneRequest(a(), { ':path': '/openai/claude/chat/completions', ...auth(), ...JSON_HEADERS }, JSON.stringify({ model: 'x', messages: [null] }));
      assert.equal(r.status, 400);
      assert.equal(errorOf({ text: r.body })?.param, 'messages[0]');
    });

    test('a body over the server body_limit over h2c → 413 payload_too_large', async () => {
      a().upstream.reset();
      const r = await oneRequest(a(), { ':path': '/openai/oai/chat/completions', ...auth(), ...JSON_HEADERS }, chat('gpt-4o', { messages: [{ role: 'user', content: 'x'.repeat(4 * 1024 * 1024) }] }));
      assert.equal(r.status, 413);
      assert.equal(errorOf({ text: r.body })?.code, 'payload_too_large');
      assert.equal(a().upstream.requests.length, 0);
    });

    test('forged X-LLMProxy-* and Set-Cookie headers from the upstream never reach an h2 client', async () => {
      const r = await oneRequest(a(), { ':path': '/transparent/oai/v1/chat/completions', ...auth(), ...JSON_HEADERS, 'x-request-id': 'h2-forged-check' }, chat('headers'));
      assert.equal(r.status, 200);
      assert.equal(r.headers['set-cookie'], undefined);
      assert.equal(r.headers['x-llmproxy-instance'], undefined);
      assert.equal(r.headers['x-llmproxy-request-id'], 'h2-forged-check');
    });

    for (const withCredential of [false, true]) {
      test(`HEADERS then an oversized DATA frame (${withCredential ? 'valid' : 'no'} credential) → session dropped, inflight back to 0`, async () => {
      await inflightRestored(a(), async () => {
        a().upstream.reset();
        const head = opening(requestHead('/transparent/oai/v1/chat/completions', [['content-type', 'application/json'], ...(withCredential ? [['authorization', `Bearer ${a().key}`] as [string, string]] : [])]));
        const oversized = frame(Type.DATA, END_STREAM, 1, Buffer.alloc(20_000, 0x61));
        const answer = await rawHttp(a().gw.port, [head, oversized], { gapMs: 100, timeoutMs: 5000 });
        assert.ok(frameTypes(answer.raw).includes(Type.GOAWAY), 'the server ends the session with GOAWAY');
        assert.equal(answer.closed, true, 'the session is dropped');
        assert.equal(a().upstream.requests.length, 0);
      });
      });
    }

    test('a stream reset by the client mid-body → inflight back to 0, nothing forwarded', async () => {
      await inflightRestored(a(), async () => {
      a().upstream.reset();
      const head = opening(requestHead('/transparent/oai/v1/chat/completions', [['content-type', 'application/json'], ['content-length', '1000'], ['authorization', `Bearer ${a().key}`]]));
      const part = frame(Type.DATA, 0, 1, Buffer.from('{"model":'));
      const rst = frame(Type.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 8]));
      await rawHttp(a().gw.port, [head, part, rst], { gapMs: 100, timeoutMs: 1500 });
      assert.deepEqual(a().upstream.requests.map((r) => r.body.toString()), [], 'a body the client abandoned is not forwarded');
      });
    });

    test('a session destroyed while its response is pending (upstream stalls) → inflight back to 0', async () => {
      await inflightRestored(a(), async () => {
      a().upstream.reset();
      const session = h2session(a());
      const req = session.request({ ':method': 'POST', ':path': '/openai/oai/chat/completions', ...auth(), ...JSON_HEADERS });
      req.on('error', () => undefined);
      req.end(chat('stall'));
      await a().upstream.waitForRequests(1);
      session.destroy();
      });
    });

    test('100 streams opened and reset at once → inflight back to 0', async () => {
      await inflightRestored(a(), async () => {
      const session = h2session(a());
      for (let i = 0; i < 100; i++) {
        const req = session.request({ ':method': 'POST', ':path': '/transparent/oai/v1/chat/completions', ...auth(), ...JSON_HEADERS });
        req.on('error', () => undefined);
        req.write('{');
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
      await sleep(200);
      session.destroy();
      });
    });

    const malformed: Array<[string, Array<[string, string]>]> = [
      ['an upper-case header name', requestHead('/health', [['X-Upper', '1']], 'GET')],
      ['a connection-specific header', requestHead('/health', [['connection', 'keep-alive']], 'GET')],
      ['no :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', '127.0.0.1']]],
      ['a pseudo-header after a regular one', [[':method', 'GET'], ['x-a', '1'], [':path', '/health'], [':scheme', 'http']]],
      ['an unknown pseudo-header', requestHead('/health', [[':evil', '1']], 'GET')],
      ['te: gzip', requestHead('/health', [['te', 'gzip']], 'GET')],
    ];
    for (const [name, headers] of malformed) {
      test(`a header block with ${name} is refused; the gateway keeps serving, inflight 0`, async () => {
      await inflightRestored(a(), async () => {
        const answer = await rawHttp(a().gw.port, opening(headers, true), { timeoutMs: 600 });
        // An HTTP/2 response to stream 1 would be a HEADERS frame with :status 200; a refusal is RST_STREAM or GOAWAY.
        assert.equal(hasHeadersFrame(answer.raw), false, 'no response on the malformed stream');
        assert.equal((await oneRequest(a(), { ':path': '/health' })).status, 200);
      });
      });
    }

    test('after every HTTP/2 case, llmproxy_inflight_requests is 0 (graceful shutdown can drain)', async () => {
      assert.equal(await inflightSettlesAt(a().gw.port, 0), 0);
    });

    test('an HTTP/1.1 Upgrade: h2c request is answered as HTTP/1.1', async () => {
      const r = await rawHttp(a().gw.port, requestBytes({ method: 'GET', path: '/health', headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' } }), { untilResponse: true });
      assert.equal(r.status, 200);
    });
  },
);

/** The [type, stream] of each whole frame the server sent. */
function frames(raw: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = 0;
  for (let guard = 0; guard < 1000 && at + 9 <= raw.length; guard++) {
    out.push([raw[at + 3]!, raw.readUInt32BE(at + 5) & 0x7fffffff]);
    at += 9 + raw.readUIntBE(at, 3);
  }
  return out;
}

function frameTypes(raw: Buffer): number[] {
  return frames(raw).map(([type]) => type);
}

/** Whether the server answered stream 1 (a HEADERS frame on it). */
function hasHeadersFrame(raw: Buffer): boolean {
  return frames(raw).some(([type, stream]) => type === Type.HEADERS && stream === 1);
}
