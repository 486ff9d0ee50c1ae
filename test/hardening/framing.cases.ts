import assert from 'node:assert/strict';
import type { HttpCase } from './support.js';

/**
 * HTTP/1.1 framing cases, sent as raw bytes: conflicting or malformed Content-Length and
 * Transfer-Encoding (request smuggling), bad chunk sizes, obs-fold, duplicate or missing Host,
 * oversized headers, odd request lines, and requests whose first TCP segment is only `P` or `PR`
 * (the HTTP/1 vs HTTP/2 sniffer must wait for more). Every case carries a valid credential, so
 * anything wrongly accepted would reach the upstream.
 */

const CHAT_PATH = '/transparent/oai/v1/chat/completions';
const BODY = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}';

export function framingCases(key: () => string): HttpCase[] {
  const auth = () => `authorization: Bearer ${key()}\r\n`;
  /** A POST to the chat route with `headers` (raw lines, each ending in CRLF) and `rest` after the blank line. */
  const post = (headers: string, rest: string) => () => Buffer.from(`POST ${CHAT_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\n${auth()}content-type: application/json\r\n${headers}\r\n${rest}`, 'latin1');
  const get = (requestLine: string, headers = 'host: 127.0.0.1\r\nconnection: close\r\n') => () => Buffer.from(`${requestLine}\r\n${headers}${auth()}\r\n`, 'latin1');
  const refused = { status: 400, forwarded: 0 } as const;
  const chunked = (size: string, data: string) => `${size}\r\n${data}\r\n0\r\n\r\n`;

  const cases: HttpCase[] = [
    // Content-Length and Transfer-Encoding disagreements.
    { name: 'Content-Length then Transfer-Encoding: chunked → 400', request: post(`content-length: ${BODY.length}\r\ntransfer-encoding: chunked\r\n`, chunked(BODY.length.toString(16), BODY)), expect: refused },
    { name: 'Transfer-Encoding: chunked then Content-Length → 400', request: post(`transfer-encoding: chunked\r\ncontent-length: 4\r\n`, chunked(BODY.length.toString(16), BODY)), expect: refused },
    { name: 'two different Content-Length headers → 400', request: post(`content-length: ${BODY.length}\r\ncontent-length: 5\r\n`, BODY), expect: refused },
    { name: 'two equal Content-Length headers → 400', request: post(`content-length: ${BODY.length}\r\ncontent-length: ${BODY.length}\r\n`, BODY), expect: refused },
    { name: 'Content-Length list "n, n" → 400', request: post(`content-length: ${BODY.length}, ${BODY.length}\r\n`, BODY), expect: refused },
    { name: 'Content-Length with a plus sign → 400', request: post(`content-length: +${BODY.length}\r\n`, BODY), expect: refused },
    { name: 'negative Content-Length → 400', request: post('content-length: -1\r\n', BODY), expect: refused },
    { name: 'non-numeric Content-Length → 400', request: post('content-length: ten\r\n', BODY), expect: refused },
    { name: 'Content-Length with inner space → 400', request: post('content-length: 6 0\r\n', BODY), expect: refused },
    { name: 'Content-Length overflowing 64 bits → 400', request: post('content-length: 99999999999999999999999\r\n', BODY), expect: refused },
    { name: 'Transfer-Encoding: xchunked → 400', request: post('transfer-encoding: xchunked\r\n', chunked(BODY.length.toString(16), BODY)), expect: refused },
    { name: 'Transfer-Encoding: chunked, identity → 400', request: post('transfer-encoding: chunked, identity\r\n', chunked(BODY.length.toString(16), BODY)), expect: refused },
    { name: 'Transfer-Encoding: identity → 400', request: post('transfer-encoding: identity\r\n', BODY), expect: refused },
    { name: 'Transfer-Encoding with a space before the colon → 400', request: post('transfer-encoding : chunked\r\n', chunked(BODY.length.toString(16), BODY)), expect: refused },
    { name: 'Transfer-Encoding folded onto the next line (obs-fold) → 400', request: post('transfer-encoding:\r\n chunked\r\n', chunked(BODY.length.toString(16), BODY)), expect: refused },
    // Chunk sizes.
    { name: 'chunk size "zz" → 400', request: post('transfer-encoding: chunked\r\n', chunked('zz', BODY)), expect: refused },
    { name: 'chunk size "-1" → 400', request: post('transfer-encoding: chunked\r\n', chunked('-1', BODY)), expect: refused },
    { name: 'chunk size overflowing 64 bits → 400', request: post('transfer-encoding: chunked\r\n', chunked('fffffffffffffffffff', BODY)), expect: refused },
    { name: 'chunk size "0x10" → 400', request: post('transfer-encoding: chunked\r\n', chunked('0x10', BODY)), expect: refused },
    { name: 'chunk data longer than its size → 400', request: post('transfer-encoding: chunked\r\n', chunked('4', BODY)), expect: refused },
    { name: 'chunk size with a space inside → 400', request: post('transfer-encoding: chunked\r\n', chunked('1 0', BODY)), expect: refused },
    // Header syntax.
    { name: 'obs-fold in an ordinary header → 400', request: post(`content-length: ${BODY.length}\r\nx-note: first\r\n  folded\r\n`, BODY), expect: refused },
    { name: 'space inside a header name → 400', request: post(`content-length: ${BODY.length}\r\nx bad: 1\r\n`, BODY), expect: refused },
    { name: 'NUL in a header value → 400', request: post(`content-length: ${BODY.length}\r\nx-note: a\u0000b\r\n`, BODY), expect: refused },
    { name: 'bare CR ending a header line → 400', request: post(`content-length: ${BODY.length}\r\nx-note: a\rx-other: b\r\n`, BODY), expect: refused },
    { name: 'header without a colon → 400', request: post(`content-length: ${BODY.length}\r\nno-colon-here\r\n`, BODY), expect: refused },
    // Host.
    {
      name: 'two Host headers (different) → 400 invalid_request',
      request: get(`GET /transparent/oai/v1/models HTTP/1.1`, 'host: 127.0.0.1\r\nhost: evil.example\r\nconnection: close\r\n'),
      expect: { status: 400, code: 'invalid_request', forwarded: 0 },
    },
    {
      name: 'two Host headers (equal) → 400 invalid_request',
      request: get(`GET /transparent/oai/v1/models HTTP/1.1`, 'host: 127.0.0.1\r\nHost: 127.0.0.1\r\nconnection: close\r\n'),
      expect: { status: 400, code: 'invalid_request', forwarded: 0 },
    },
    { name: 'HTTP/1.1 request without Host → 400', request: get('GET /transparent/oai/v1/models HTTP/1.1', 'connection: close\r\n'), expect: refused },
    // Request lines.
    { name: 'invalid method token → 400', request: get('G@T /transparent/oai/v1/models HTTP/1.1'), expect: refused },
    { name: 'lower-case method → 400', request: get('get /transparent/oai/v1/models HTTP/1.1'), expect: refused },
    { name: 'unknown protocol version HTTP/1.7 → 400', request: get('GET /health HTTP/1.7'), expect: refused },
    { name: 'HTTP/1.0 request is answered', request: get('GET /health HTTP/1.0', ''), expect: { status: 200, forwarded: 0 } },
    // Sizes.
    { name: 'one 20 KB header → 431', request: post(`content-length: ${BODY.length}\r\nx-big: ${'b'.repeat(20_000)}\r\n`, BODY), expect: { status: 431, forwarded: 0 } },
    { name: '400 headers of 64 bytes → 431', request: post(`content-length: ${BODY.length}\r\n${Array.from({ length: 400 }, (_, i) => `x-h${i}: ${'v'.repeat(56)}\r\n`).join('')}`, BODY), expect: { status: 431, forwarded: 0 } },
  ];

  // The sniffer must wait for enough bytes: first segments `P`, `PR`, `POS`, then the rest.
  const whole = () => `POST ${CHAT_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${auth()}content-type: application/json\r\ncontent-length: ${BODY.length}\r\n\r\n${BODY}`;
  for (const first of ['P', 'PR', 'POS', 'POST /']) {
    cases.push({
      name: `first TCP segment ${JSON.stringify(first)}, then the rest → answered normally`,
      request: () => Buffer.alloc(0),
      pieces: () => {
        const text = whole();
        return [text.slice(0, first.length), text.slice(first.length)];
      },
      gapMs: 60,
      expect: { status: 200, forwarded: 1, check: (_a, up) => assert.equal(up[0]!.body.toString(), BODY) },
    });
  }
  for (const first of ['G', 'GE']) {
    cases.push({
      name: `first TCP segment ${JSON.stringify(first)} of a GET, then the rest → answered normally`,
      request: () => Buffer.alloc(0),
      pieces: () => {
        const text = `GET /transparent/oai/v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${auth()}\r\n`;
        return [text.slice(0, first.length), text.slice(first.length)];
      },
      gapMs: 60,
      expect: { status: 200, forwarded: 1 },
    });
  }
  cases.push({
    name: 'request sent in 8-byte pieces → answered normally',
    request: () => Buffer.alloc(0),
    pieces: () => {
      const text = whole();
      return Array.from({ length: Math.ceil(text.length / 8) }, (_, i) => text.slice(i * 8, i * 8 + 8));
    },
    gapMs: 2,
    expect: { status: 200, forwarded: 1, check: (_a, up) => assert.equal(up[0]!.body.toString(), BODY) },
  });

  // Valid framings are forwarded with the gateway's own framing.
  cases.push({
    name: 'chunked body with a trailer → forwarded whole with Content-Length, no Transfer-Encoding',
    request: post('transfer-encoding: chunked\r\nconnection: close\r\n', `${(20).toString(16)}\r\n${BODY.slice(0, 20)}\r\n${(BODY.length - 20).toString(16)}\r\n${BODY.slice(20)}\r\n0\r\nx-trailer: t\r\n\r\n`),
    expect: {
      status: 200,
      forwarded: 1,
      check: (_a, up) => {
        assert.equal(up[0]!.body.toString(), BODY);
        assert.equal(up[0]!.headers['transfer-encoding'], undefined);
        assert.equal(up[0]!.headers['content-length'], String(BODY.length));
        assert.equal(up[0]!.headers['x-trailer'], undefined);
      },
    },
  });
  cases.push({
    name: 'a request smuggled after the last chunk is a request of its own (401 without credential), not part of the body',
    request: post(
      'transfer-encoding: chunked\r\n',
      `${chunked(BODY.length.toString(16), BODY)}GET /transparent/oai/v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`,
    ),
    expect: {
      status: 200,
      forwarded: 1,
      check: (a) => {
        assert.equal(a.raw.toString('latin1').match(/HTTP\/1\.1 \d{3}/g)?.join(','), 'HTTP/1.1 200,HTTP/1.1 401');
      },
    },
  });
  cases.push({
    name: 'pipelined requests are answered in order, each on its own credential',
    request: () =>
      Buffer.from(
        `GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\nGET /transparent/oai/v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n${auth()}\r\nGET /transparent/oai/v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`,
      ),
    expect: {
      status: 200,
      forwarded: 1,
      check: (a) => assert.equal(a.raw.toString('latin1').match(/HTTP\/1\.1 \d{3}/g)?.join(','), 'HTTP/1.1 200,HTTP/1.1 200,HTTP/1.1 401'),
    },
  });
  cases.push({
    name: 'Upgrade: websocket on an inference route is not an upgrade',
    request: get('GET /transparent/oai/v1/models HTTP/1.1', 'host: 127.0.0.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n'),
    expect: { status: 200, forwarded: 1, check: (_a, up) => assert.equal(up[0]!.headers['upgrade'], undefined) },
  });
  return cases;
}
