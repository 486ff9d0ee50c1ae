import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { selfSignedCert } from '../helpers/net.js';

/**
 * Every listener bounds its clients in time and number (issue 11, defect 1): a connection that
 * sends nothing, trickles its headers or its body, or idles, is closed; one address cannot hold
 * more than its share of connections. Timeouts are short here so the suite stays fast; every wait
 * is bounded, and a case fails rather than hangs.
 */

const PROVIDER_KEY = 'sk-provider-connections-5d1c9b7e3a2f4068';
const CHAT_PATH = '/transparent/openai/v1/chat/completions';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });

const TIMEOUTS = { headers_timeout: '1s', request_timeout: '2s', keep_alive_timeout: '1500ms' };
/** Longest a case waits for the gateway to act on a deadline above (the check runs every 250 ms). */
const GRACE_MS = 6000;

function instances(url: string) {
  return { openai: { type: 'openai', endpoint: url, authentication: { type: 'api_key', api_key: '${env:CONNECTIONS_TEST_KEY}' } } };
}

/** A raw TCP client: what it received, and when the gateway closed the connection. */
interface RawClient {
  socket: net.Socket;
  received(): string;
  /** Resolves with what was received once the peer closes; rejects after `ms`. */
  closed(ms: number): Promise<string>;
}

function raw(port: number, connect: (port: number) => net.Socket = (p) => net.connect(p, '127.0.0.1')): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port);
    let text = '';
    let done = false;
    const waiters: Array<() => void> = [];
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => (text += s));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      done = true;
      for (const w of waiters.splice(0)) w();
    });
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () =>
      resolve({
        socket,
        received: () => text,
        closed: (ms) =>
          new Promise((res, rej) => {
            if (done) return res(text);
            const timer = setTimeout(() => rej(new Error(`the gateway kept the connection open for ${ms} ms; received: ${text.slice(0, 200)}`)), ms);
            waiters.push(() => {
              clearTimeout(timer);
              res(text);
            });
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** Writes `parts` one at a time, `gapMs` apart, while the socket is open; stops at the first failure. */
async function trickle(client: RawClient, parts: string[], gapMs: number): Promise<void> {
  for (const part of parts) {
    if (client.socket.destroyed || client.socket.writableEnded) return;
    client.socket.write(part);
    await new Promise((r) => setTimeout(r, gapMs));
  }
}

function head(port: number, extra: string[] = []): string {
  return [`POST ${CHAT_PATH} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'content-type: application/json', ...extra].join('\r\n') + '\r\n\r\n';
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
}

function jsonBody(text: string): { error: { code: string } } {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
}

describe('slow clients are cut off on every listener', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let key: string;
  let cert: ReturnType<typeof selfSignedCert>;

  before(async () => {
    process.env['CONNECTIONS_TEST_KEY'] = PROVIDER_KEY;
    cert = selfSignedCert();
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({ instances: instances(emu.url), server: { ...TIMEOUTS, tls: { port: 0, cert_file: cert.certFile, key_file: cert.keyFile } } });
    key = await gw.key({ name: 'slow' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('a connection that sends nothing is closed after headers_timeout', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => raw(gw.port)));
    await Promise.all(clients.map((c) => c.closed(GRACE_MS)));
  });

  test('headers trickled one line at a time are cut off after headers_timeout (408)', async () => {
    const clients = await Promise.all(Array.from({ length: 5 }, () => raw(gw.port)));
    const lines = [`GET /health HTTP/1.1\r\n`, ...Array.from({ length: 40 }, (_, i) => `x-slow-${i}: 1\r\n`)];
    for (const c of clients) void trickle(c, lines, 300);
    const got = await Promise.all(clients.map((c) => c.closed(GRACE_MS)));
    for (const text of got) assert.equal(statusOf(text), 408, text);
  });

  test('a client whose first segment is "P" or "PR" is still understood as HTTP/1.1; a split HTTP/2 preface as HTTP/2', async () => {
    for (const [method, first] of [['POST', 'P'], ['PROPFIND', 'PR']] as const) {
      const c = await raw(gw.port);
      c.socket.write(first);
      await new Promise((r) => setTimeout(r, 100));
      c.socket.write(`${method.slice(first.length)} /health HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      const text = await c.closed(GRACE_MS);
      // /health answers GET only: a 405 from the router proves the request was parsed whole.
      assert.equal(statusOf(text), 405, `${first}: ${text}`);
      assert.equal(jsonBody(text).error.code, 'method_not_allowed');
    }
    const session = http2.connect(gw.url, {
      createConnection: () => {
        const socket = net.connect(gw.port, '127.0.0.1');
        // The preface leaves in two segments: "PRI" alone says nothing yet.
        const write = socket.write.bind(socket) as (chunk: Buffer | string, cb?: () => void) => boolean;
        let first = true;
        socket.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
          if (first && Buffer.isBuffer(chunk) && chunk.subarray(0, 3).toString() === 'PRI') {
            first = false;
            write(chunk.subarray(0, 3));
            return write(chunk.subarray(3), ...(rest as [() => void]));
          }
          return write(chunk, ...(rest as [() => void]));
        }) as typeof socket.write;
        return socket;
      },
    });
    session.on('error', () => undefined);
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': '/health' });
      req.once('response', (h) => resolve(Number(h[':status'])));
      req.once('error', reject);
      req.end();
    });
    session.close();
    assert.equal(status, 200);
  });

  test('a body trickled with a valid credential gets 408 request_timeout and the connection closes', async () => {
    const c = await raw(gw.port);
    const body = CHAT_BODY;
    c.socket.write(head(gw.port, [`authorization: Bearer ${key}`, `content-length: ${body.length}`]));
    void trickle(c, body.split(''), 400);
    const text = await c.closed(2000 + GRACE_MS);
    assert.equal(statusOf(text), 408, text);
    assert.equal(jsonBody(text).error.code, 'request_timeout');
    assert.match(text, /\r\nconnection: close\r\n/i);
  });

  test('a body trickled without a credential gets 401 at once, and the connection closes', async () => {
    const before = emu.requests.length;
    const c = await raw(gw.port);
    c.socket.write(head(gw.port, [`content-length: ${CHAT_BODY.length}`]));
    void trickle(c, CHAT_BODY.split(''), 400);
    const text = await c.closed(GRACE_MS);
    assert.equal(statusOf(text), 401, text);
    assert.match(text, /\r\nconnection: close\r\n/i);
    assert.equal(emu.requests.length, before, 'nothing reached the provider');
  });

  test('an idle keep-alive connection is closed after keep_alive_timeout', async () => {
    const c = await raw(gw.port);
    c.socket.write(`GET /health HTTP/1.1\r\nhost: x\r\n\r\n`);
    const text = await c.closed(GRACE_MS);
    assert.equal(statusOf(text), 200, text);
  });

  test('HTTP/2: an idle session is closed, and a stream trickling its body is answered 408', async () => {
    const session = http2.connect(gw.url);
    session.on('error', () => undefined);
    await new Promise<void>((r, j) => session.once('connect', () => r()).once('error', j));
    const closed = new Promise<void>((r) => session.once('close', () => r()));
    // One stream whose body never completes...
    const stream = session.request({ ':method': 'POST', ':path': CHAT_PATH, authorization: `Bearer ${key}`, 'content-type': 'application/json' });
    stream.on('error', () => undefined);
    stream.write('{"model":');
    const status = await new Promise<number>((r) => stream.once('response', (h) => r(Number(h[':status']))));
    assert.equal(status, 408);
    stream.destroy();
    // ...then nothing: the session goes away after keep_alive_timeout.
    const timer = setTimeout(() => session.destroy(new Error('session still open')), GRACE_MS);
    await closed;
    clearTimeout(timer);
    assert.equal(session.destroyed, true);
  });

  test('TLS: a connection that never completes its handshake is closed after headers_timeout', async () => {
    const c = await raw(gw.addresses.tls!.port);
    await c.closed(GRACE_MS);
  });

  test('TLS with HTTP/1.1: trickled headers get 408, an idle keep-alive connection is closed', async () => {
    const connect = (p: number) => tls.connect({ port: p, host: '127.0.0.1', ca: cert.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const slow = await raw(gw.addresses.tls!.port, connect);
    void trickle(slow, ['GET /health HTTP/1.1\r\n', ...Array.from({ length: 40 }, (_, i) => `x-slow-${i}: 1\r\n`)], 300);
    assert.equal(statusOf(await slow.closed(GRACE_MS)), 408);
    const idle = await raw(gw.addresses.tls!.port, connect);
    idle.socket.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.equal(statusOf(await idle.closed(GRACE_MS)), 200);
  });

  test('a request with two Host headers is refused with 400', async () => {
    const c = await raw(gw.port);
    c.socket.write(`GET /health HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\nconnection: close\r\n\r\n`);
    const text = await c.closed(GRACE_MS);
    assert.equal(statusOf(text), 400, text);
    assert.equal(jsonBody(text).error.code, 'invalid_request');
  });
});

describe('connection limits', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let cert: ReturnType<typeof selfSignedCert>;

  before(async () => {
    process.env['CONNECTIONS_TEST_KEY'] = PROVIDER_KEY;
    cert = selfSignedCert();
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      instances: instances(emu.url),
      server: { ...TIMEOUTS, keep_alive_timeout: '30s', headers_timeout: '30s', max_connections_per_client: 3, max_connections: 5, tls: { port: 0, cert_file: cert.certFile, key_file: cert.keyFile } },
    });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  async function refused(): Promise<{ status: number; code: string }> {
    const c = await raw(gw.port);
    const text = await c.closed(GRACE_MS);
    return { status: statusOf(text), code: jsonBody(text).error.code };
  }

  test('past max_connections_per_client a new connection gets 503 too_many_connections; the open ones still work', async () => {
    const open = await Promise.all([raw(gw.port), raw(gw.port), raw(gw.port)]);
    assert.deepEqual(await refused(), { status: 503, code: 'too_many_connections' });
    // The admitted connections are served, and closing one makes room.
    open[0]!.socket.write('GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(statusOf(await open[0]!.closed(GRACE_MS)), 200);
    const next = await raw(gw.port);
    next.socket.write('GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(statusOf(await next.closed(GRACE_MS)), 200);
    for (const c of open) c.socket.destroy();
    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: { connection: 'close' } })).text();
    assert.match(metrics, /^llmproxy_connections_refused_total\{reason="max_connections_per_client"\} 1$/m);
  });

  test('past max_connections (all addresses together) a new connection gets 503 as well', async () => {
    // 127.0.0.1 and 127.0.0.2 are different clients; together they reach the listener's limit of 5.
    const from = (address: string) => (p: number) => net.connect({ port: p, host: '127.0.0.1', localAddress: address });
    const open = await Promise.all([raw(gw.port), raw(gw.port), raw(gw.port, from('127.0.0.2')), raw(gw.port, from('127.0.0.2')), raw(gw.port, from('127.0.0.3'))]);
    const c = await raw(gw.port, from('127.0.0.3'));
    const text = await c.closed(GRACE_MS);
    assert.equal(statusOf(text), 503, text);
    assert.equal(jsonBody(text).error.code, 'too_many_connections');
    for (const o of open) o.socket.destroy();
  });

  test('TLS: past max_connections_per_client a new connection is closed before its handshake; the admitted ones are served', async () => {
    const port = gw.addresses.tls!.port;
    const connect = (p: number) => tls.connect({ port: p, host: '127.0.0.1', ca: cert.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const open = await Promise.all([raw(port, connect), raw(port, connect), raw(port, connect)]);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port);
      socket.once('secureConnect', () => resolve('handshake completed'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.once('close', () => resolve('closed'));
    });
    assert.notEqual(refused, 'handshake completed');
    open[0]!.socket.write('GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(statusOf(await open[0]!.closed(GRACE_MS)), 200);
    for (const c of open) c.socket.destroy();
    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: { connection: 'close' } })).text();
    assert.match(metrics, /^llmproxy_connections_refused_total\{reason="max_connections_per_client"\} [1-9]\d*$/m);
  });
});
