import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { baseConfig, bearer, category, errorOf, parseResponse, rawHttp, requestBytes, sleep, type Arena, type RawAnswer } from './support.js';

/**
 * Connection limits (spec item 2), on a gateway of its own with `max_connections_per_client: 3`
 * (and longer header and keep-alive timeouts, so held connections stay open): past the limit a
 * new connection from the same address receives an HTTP/1.1 503 `too_many_connections` and is
 * closed, whatever it sends; the connections already open keep working; a freed slot is usable.
 */

const LIMIT = 3;

/** A kept-open HTTP/1.1 connection that sends requests one at a time. */
class Conn {
  readonly #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #waiter: (() => void) | undefined;
  closed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, d]);
      this.#waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  /** Sends one keep-alive request and resolves with its whole answer (bounded). */
  async request(path = '/health', headers: Record<string, string> = {}): Promise<RawAnswer> {
    this.#buffer = Buffer.alloc(0);
    this.#socket.write(requestBytes({ method: 'GET', path, headers: { connection: 'keep-alive', ...headers } }));
    const deadline = Date.now() + 5000;
    for (;;) {
      const parsed = parseResponse(this.#buffer, this.closed);
      if (parsed.complete || this.closed || Date.now() > deadline) return { ...parsed, closed: this.closed, closedAfterMs: 0, elapsedMs: 0 };
      await new Promise<void>((r) => {
        this.#waiter = r;
        setTimeout(r, 50);
      });
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

function refused(a: RawAnswer): void {
  assert.equal(a.status, 503, a.raw.toString('latin1').slice(0, 300));
  assert.equal(errorOf(a)?.code, 'too_many_connections');
  assert.equal(a.closed, true, 'the extra connection is closed');
}

category(
  'connection limits',
  (upstream) => baseConfig(upstream, { server: { max_connections_per_client: LIMIT, headers_timeout: '8s', keep_alive_timeout: '10s', request_timeout: '10s' } }),
  (arena) => {
    const held: Conn[] = [];
    const a = (): Arena => arena();

    test(`${LIMIT} connections from one address are served and stay open`, async () => {
      for (let i = 0; i < LIMIT; i++) held.push(await Conn.open(a().gw.port));
      for (const c of held) assert.equal((await c.request()).status, 200);
      assert.ok(held.every((c) => !c.closed));
    });

    test('one more connection → HTTP/1.1 503 too_many_connections, then closed', async () => {
      const answer = await rawHttp(a().gw.port, requestBytes({ method: 'GET', path: '/health' }), { timeoutMs: 5000 });
      a().seen.push(answer.raw);
      refused(answer);
    });

    test('an extra connection that sends nothing also gets the 503 and is closed', async () => {
      refused(await rawHttp(a().gw.port, [], { timeoutMs: 5000 }));
    });

    test('an extra connection with a valid credential is refused and nothing is forwarded', async () => {
      a().upstream.reset();
      refused(await rawHttp(a().gw.port, requestBytes({ method: 'GET', path: '/transparent/oai/v1/models', headers: bearer(a().key) }), { timeoutMs: 5000 }));
      assert.equal(a().upstream.requests.length, 0);
    });

    test('an extra h2c (prior knowledge) connection is refused the same way', async () => {
      const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00', 'latin1');
      const answer = await rawHttp(a().gw.port, preface, { timeoutMs: 5000 });
      assert.match(answer.raw.toString('latin1'), /^HTTP\/1\.1 503 /);
      assert.equal(answer.closed, true);
    });

    test('five extra connections at once are all refused', async () => {
      const all = await Promise.all(Array.from({ length: 5 }, () => rawHttp(a().gw.port, requestBytes({ method: 'GET', path: '/health' }), { timeoutMs: 5000 })));
      for (const x of all) refused(x);
    });

    test('the connections already open still work', async () => {
      for (const c of held) {
        const r = await c.request('/transparent/oai/v1/models', bearer(a().key));
        assert.equal(r.status, 200);
      }
    });

    test('a freed slot can be used by a new connection', async () => {
      held.pop()!.close();
      let status = 0;
      const deadline = Date.now() + 3000;
      while (status !== 200 && Date.now() < deadline) {
        await sleep(50);
        status = (await rawHttp(a().gw.port, requestBytes({ method: 'GET', path: '/health' }), { timeoutMs: 3000 })).status;
      }
      assert.equal(status, 200);
      for (const c of held) c.close();
    });
  },
);
