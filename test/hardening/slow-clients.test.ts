import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { before, test } from 'node:test';
import { JSON_HEADERS, baseConfig, category, errorOf, rawHttp, requestBytes, sleep, type Arena, type RawAnswer } from './support.js';

/**
 * Slow clients (spec item 1), with the test config's `headers_timeout: 1s`,
 * `request_timeout: 2s`, `keep_alive_timeout: 2s`. A connection that sends nothing or trickles
 * its headers is closed after the headers timeout (Node may first answer 408); a body trickled
 * with a valid credential gets 408 `request_timeout` or a close within the request timeout; a
 * body trickled without one gets 401 at once and the connection is closed; idle keep-alive
 * connections and HTTP/2 sessions with no open stream are closed after the keep-alive timeout.
 *
 * Every scenario starts at once (they take seconds each, mostly waiting), then each test checks
 * its own. Bounds: the configured timeout plus MARGIN_MS.
 */

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const KEEP_ALIVE_TIMEOUT_MS = 2000;
const MARGIN_MS = 3000;
const CHAT_PATH = '/transparent/oai/v1/chat/completions';

/** A connection closed by the gateway within `boundMs`, having answered nothing or `408`. */
function closedQuietlyOr408(a: RawAnswer, boundMs: number): void {
  assert.equal(a.closed, true, `the gateway closes the connection within ${boundMs} ms`);
  assert.ok(a.elapsedMs <= boundMs, `closed after ${a.elapsedMs} ms (bound ${boundMs})`);
  if (a.raw.length > 0) assert.match(a.raw.toString('latin1'), /^HTTP\/1\.1 408 /, 'anything said is a 408');
}

/** `n` pieces of one byte each. */
const bytes = (text: string) => Array.from(text);

function trickleLines(n: number): string[] {
  return ['GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n', ...Array.from({ length: n }, (_, i) => `x-slow-${i}: ${'v'.repeat(10)}\r\n`)];
}

/** POST headers announcing a 1000-byte body, then the body one byte per piece. */
function trickledBody(headers: Record<string, string>, scenario: string): Array<string | Buffer> {
  const head = requestBytes({ method: 'POST', path: CHAT_PATH, headers: { ...headers, ...JSON_HEADERS, 'content-length': '1000', 'x-hardening-scenario': scenario, connection: 'keep-alive' } });
  return [head, ...bytes('{"model":"gpt-4o","messages":[{"role":"user","content":"'), ...Array.from({ length: 40 }, () => 'x')];
}

type Scenario = (arena: Arena) => Promise<void>;

/** Waits for an HTTP/2 session to end (close or GOAWAY), bounded; returns after how long, or undefined. */
function sessionEnd(session: http2.ClientHttp2Session, boundMs: number): Promise<number | undefined> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), boundMs);
    const done = () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    };
    session.once('goaway', done);
    session.once('close', done);
    session.once('error', () => undefined);
  });
}

function h2connect(arena: Arena): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(arena.gw.url);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

interface H2Outcome {
  status: number | undefined;
  body: string;
  /** The stream ended without a response (reset or session closed). */
  reset: boolean;
  elapsedMs: number;
}

/** An h2 POST whose body is trickled one byte every `gapMs`; resolves on a response end, a reset, or after `boundMs`. */
function h2Trickle(arena: Arena, headers: Record<string, string>, gapMs: number, boundMs: number): Promise<H2Outcome & { session: http2.ClientHttp2Session }> {
  return h2connect(arena).then(
    (session) =>
      new Promise((resolve) => {
        const started = Date.now();
        const req = session.request({ ':method': 'POST', ':path': CHAT_PATH, 'content-type': 'application/json', 'content-length': '1000', ...headers });
        let status: number | undefined;
        let body = '';
        let finished = false;
        const finish = (reset: boolean) => {
          if (finished) return;
          finished = true;
          clearInterval(drip);
          clearTimeout(timer);
          resolve({ status, body, reset, elapsedMs: Date.now() - started, session });
        };
        req.on('response', (h) => (status = Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => finish(false));
        req.on('close', () => finish(status === undefined));
        req.on('error', () => finish(true));
        const drip = setInterval(() => {
          if (!req.destroyed && !req.writableEnded) req.write('x');
        }, gapMs);
        const timer = setTimeout(() => finish(true), boundMs);
        req.write('{');
      }),
  );
}

const SCENARIOS: Record<string, Scenario> = {
  'HTTP/1.1: a connection that sends nothing is closed after headers_timeout': async (arena) => {
    closedQuietlyOr408(await rawHttp(arena.gw.port, [], { timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS }), HEADERS_TIMEOUT_MS + MARGIN_MS);
  },
  'HTTP/1.1: ten silent connections are all closed': async (arena) => {
    const all = await Promise.all(Array.from({ length: 10 }, () => rawHttp(arena.gw.port, [], { timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS })));
    for (const a of all) closedQuietlyOr408(a, HEADERS_TIMEOUT_MS + MARGIN_MS);
  },
  'HTTP/1.1: header lines trickled every 250 ms → closed after headers_timeout': async (arena) => {
    closedQuietlyOr408(await rawHttp(arena.gw.port, trickleLines(30), { gapMs: 250, timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS }), HEADERS_TIMEOUT_MS + MARGIN_MS);
  },
  'HTTP/1.1: request line trickled byte by byte → closed after headers_timeout': async (arena) => {
    closedQuietlyOr408(await rawHttp(arena.gw.port, bytes('GET /transparent/oai/v1/models HTTP/1.1\r\n'), { gapMs: 200, timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS }), HEADERS_TIMEOUT_MS + MARGIN_MS);
  },
  'a first segment "P" and then silence → closed after headers_timeout': async (arena) => {
    closedQuietlyOr408(await rawHttp(arena.gw.port, ['P'], { timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS }), HEADERS_TIMEOUT_MS + MARGIN_MS);
  },
  'a first segment "PR" and then silence → closed after headers_timeout': async (arena) => {
    closedQuietlyOr408(await rawHttp(arena.gw.port, ['PR'], { timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS }), HEADERS_TIMEOUT_MS + MARGIN_MS);
  },
  'h2c: a partial connection preface and then silence → closed after headers_timeout': async (arena) => {
    const a = await rawHttp(arena.gw.port, ['PRI * HTTP/2.0\r\n'], { timeoutMs: HEADERS_TIMEOUT_MS + MARGIN_MS });
    assert.equal(a.closed, true, 'closed');
  },
  'HTTP/1.1: body trickled with a valid credential → 408 request_timeout or closed within request_timeout': async (arena) => {
    const bound = REQUEST_TIMEOUT_MS + MARGIN_MS;
    const a = await rawHttp(arena.gw.port, trickledBody({ authorization: `Bearer ${arena.key}` }, 'trickle-auth'), { gapMs: 250, timeoutMs: bound });
    assert.equal(a.closed, true, `closed within ${bound} ms`);
    if (a.raw.length > 0) {
      assert.equal(a.status, 408, a.raw.toString('latin1').slice(0, 300));
      assert.equal(errorOf(a)?.code, 'request_timeout');
    }
    assert.equal(arena.upstream.requests.filter((r) => r.headers['x-hardening-scenario'] === 'trickle-auth').length, 0, 'nothing forwarded');
  },
  'HTTP/1.1: body trickled without a credential → 401 at once, connection: close, then EOF': async (arena) => {
    const a = await rawHttp(arena.gw.port, trickledBody({}, 'trickle-anon'), { gapMs: 250, timeoutMs: REQUEST_TIMEOUT_MS + MARGIN_MS });
    assert.equal(a.status, 401);
    assert.equal(errorOf(a)?.code, 'unauthorized');
    assert.equal(a.headers['connection'], 'close');
    assert.equal(a.closed, true, 'the connection is closed after the answer');
    assert.ok(a.elapsedMs < REQUEST_TIMEOUT_MS, `answered and closed before the request timeout could (${a.elapsedMs} ms)`);
  },
  'HTTP/1.1: an idle keep-alive connection is closed after keep_alive_timeout': async (arena) => {
    const bound = KEEP_ALIVE_TIMEOUT_MS + MARGIN_MS;
    const a = await rawHttp(arena.gw.port, requestBytes({ method: 'GET', path: '/health', headers: { connection: 'keep-alive' } }), { timeoutMs: bound });
    assert.equal(a.status, 200);
    assert.equal(a.closed, true, `closed within ${bound} ms of the answer`);
  },
  'HTTP/1.1: a slow but steady request within the timeouts is answered': async (arena) => {
    const text = requestBytes({ method: 'GET', path: '/transparent/oai/v1/models', headers: { authorization: `Bearer ${arena.key}`, 'x-hardening-scenario': 'steady' } }).toString('latin1');
    const third = Math.ceil(text.length / 3);
    const a = await rawHttp(arena.gw.port, [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)], { gapMs: 100 });
    assert.equal(a.status, 200);
  },
  'h2c: a session with no stream is closed (GOAWAY) after keep_alive_timeout': async (arena) => {
    const session = await h2connect(arena);
    try {
      const after = await sessionEnd(session, KEEP_ALIVE_TIMEOUT_MS + MARGIN_MS);
      assert.ok(after !== undefined, 'the idle session ended');
    } finally {
      session.destroy();
    }
  },
  'h2c: a session idle after its last stream is closed after keep_alive_timeout': async (arena) => {
    const session = await h2connect(arena);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/health' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
      assert.equal(status, 200);
      assert.ok((await sessionEnd(session, KEEP_ALIVE_TIMEOUT_MS + MARGIN_MS)) !== undefined, 'the idle session ended');
    } finally {
      session.destroy();
    }
  },
  'h2c: body trickled with a valid credential → 408 request_timeout or the stream is reset within request_timeout': async (arena) => {
    const bound = REQUEST_TIMEOUT_MS + MARGIN_MS;
    const out = await h2Trickle(arena, { authorization: `Bearer ${arena.key}`, 'x-hardening-scenario': 'h2-trickle-auth' }, 250, bound + 500);
    out.session.destroy();
    assert.ok(out.elapsedMs <= bound, `ended after ${out.elapsedMs} ms (bound ${bound})`);
    if (out.status !== undefined) {
      assert.equal(out.status, 408, out.body);
      assert.equal((JSON.parse(out.body) as { error: { code: string } }).error.code, 'request_timeout');
    } else assert.equal(out.reset, true);
    assert.equal(arena.upstream.requests.filter((r) => r.headers['x-hardening-scenario'] === 'h2-trickle-auth').length, 0, 'nothing forwarded');
  },
  'h2c: body trickled without a credential → 401 at once': async (arena) => {
    const out = await h2Trickle(arena, {}, 250, REQUEST_TIMEOUT_MS + MARGIN_MS);
    out.session.destroy();
    assert.equal(out.status, 401, out.body);
    assert.ok(out.elapsedMs < REQUEST_TIMEOUT_MS, `answered before the request timeout could (${out.elapsedMs} ms)`);
  },
};

category(
  'slow clients',
  (upstream) => baseConfig(upstream),
  (arena) => {
    const outcomes = new Map<string, Promise<unknown>>();
    before(() => {
      for (const [name, run] of Object.entries(SCENARIOS)) {
        const p = run(arena()).then(
          () => undefined,
          (err: unknown) => err,
        );
        outcomes.set(name, p);
      }
    });
    for (const name of Object.keys(SCENARIOS)) {
      test(name, async () => {
        const err = await outcomes.get(name);
        if (err !== undefined) throw err;
      });
    }
    test('after every slow client, the gateway still answers', async () => {
      await Promise.all(outcomes.values());
      await sleep(10);
      const a = await rawHttp(arena().gw.port, requestBytes({ method: 'GET', path: '/health' }));
      assert.equal(a.status, 200);
    });
  },
);
