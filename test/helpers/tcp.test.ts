import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { closedPort } from './net.js';
import { startBalancer, startFaultProxy, type Balancer, type FaultProxy } from './tcp.js';

/** A loopback server that greets each connection with `name\n`, then echoes; it counts what it saw. */
async function startNamedEcho(name: string) {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let received = 0;
  const server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    s.write(`${name}\n`);
    s.on('data', (d: Buffer) => {
      received += d.length;
      s.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    received: () => received,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

type Echo = Awaited<ReturnType<typeof startNamedEcho>>;

/** A client connection that collects what it receives and how it ended. */
function dialClient(port: number) {
  const socket = connect({ host: '127.0.0.1', port });
  let text = '';
  const waiters = new Set<() => void>();
  let ended: 'end' | 'error' | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (s: string) => {
    text += s;
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<'end' | 'error'>((resolve) => {
    socket.on('error', () => (ended = 'error'));
    socket.once('close', (hadError) => resolve((ended ??= hadError ? 'error' : 'end')));
  });
  void closed.then(() => {
    for (const w of [...waiters]) w();
  });
  return {
    socket,
    text: () => text,
    closed,
    /** Resolves once `text` contains `s`; rejects if the connection closes first or after 3 s. */
    waitFor(s: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`did not receive ${JSON.stringify(s)} within 3 s (got ${JSON.stringify(text)})`)), 3000);
        const check = () => {
          if (text.includes(s)) done(undefined);
          else if (ended) done(new Error(`connection closed (${ended}) before ${JSON.stringify(s)} arrived (got ${JSON.stringify(text)})`));
        };
        const done = (err: Error | undefined) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Resolves with how the connection ended, rejecting if it is still open after 3 s. */
async function closedWithin(client: ReturnType<typeof dialClient>): Promise<'end' | 'error'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([client.closed, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('connection still open after 3 s')), 3000)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('startBalancer', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const track = <T extends { close(): Promise<void> }>(x: T): T => (cleanup.push(() => x.close()), x);

  test('sends each new connection to the next target, round robin, both ways', async () => {
    const echoes: Echo[] = await Promise.all(['a', 'b', 'c'].map(async (n) => track(await startNamedEcho(n))));
    const lb = track(await startBalancer(echoes.map((e) => ({ host: '127.0.0.1', port: e.port }))));
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = dialClient(lb.port);
      await c.waitFor('\n');
      c.socket.write(`ping${i}`);
      await c.waitFor(`ping${i}`);
      seen.push(c.text().split('\n')[0]!);
      assert.equal(lb.targetOf(c.socket.localPort!), ['a', 'b', 'c'].indexOf(seen[i]!));
      c.socket.end();
      assert.equal(await closedWithin(c), 'end');
    }
    assert.deepEqual(seen, ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.deepEqual(lb.stats().forwarded, [2, 2, 2]);
  });

  test('skips a target that refuses the connection, trying each target once', async () => {
    const live = track(await startNamedEcho('live'));
    const dead = await closedPort();
    const lb = track(await startBalancer([{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: live.port }]));
    for (let i = 0; i < 4; i++) {
      const c = dialClient(lb.port);
      await c.waitFor('live\n');
      c.socket.destroy();
    }
    const stats = lb.stats();
    assert.deepEqual(stats.forwarded, [0, 4]);
    assert.equal(stats.failed[0], 2, 'the dead target was tried on the connections whose turn it was');
    assert.equal(stats.dropped, 0);
  });

  test('resets the client when no target accepts; remove() takes a target out of the rotation', async () => {
    const lb = track(await startBalancer([{ host: '127.0.0.1', port: await closedPort() }, { host: '127.0.0.1', port: await closedPort() }]));
    const c = dialClient(lb.port);
    assert.equal(await closedWithin(c), 'error', 'a connection no target accepted is reset, not ended cleanly');
    assert.equal(c.text(), '');
    assert.equal(lb.stats().dropped, 1);

    const a = track(await startNamedEcho('a'));
    const b = track(await startNamedEcho('b'));
    lb.setTargets([{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }]);
    lb.remove(0);
    for (let i = 0; i < 3; i++) {
      const d = dialClient(lb.port);
      await d.waitFor('b\n');
      d.socket.destroy();
    }
    assert.equal(a.accepted(), 0);
  });

  test('a target closing mid-connection closes the client; close() destroys every open connection', async () => {
    const a = await startNamedEcho('a');
    const b = track(await startNamedEcho('b'));
    const lb: Balancer = await startBalancer([{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }]);
    const onA = dialClient(lb.port);
    await onA.waitFor('a\n');
    const onB = dialClient(lb.port);
    await onB.waitFor('b\n');
    await a.close(); // destroys its sockets: the balancer passes the failure on
    assert.ok(['end', 'error'].includes(await closedWithin(onA)));
    await lb.close();
    assert.ok(['end', 'error'].includes(await closedWithin(onB)));
    assert.equal(lb.openSockets(), 0);
  });
});

describe('startFaultProxy', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const track = <T extends { close(): Promise<void> }>(x: T): T => (cleanup.push(() => x.close()), x);

  async function setup(): Promise<{ echo: Echo; proxy: FaultProxy }> {
    const echo = track(await startNamedEcho('server'));
    const proxy = track(await startFaultProxy({ host: '127.0.0.1', port: echo.port }));
    return { echo, proxy };
  }

  test('forwards both ways while open', async () => {
    const { proxy } = await setup();
    const c = dialClient(proxy.port);
    c.socket.write('hello');
    await c.waitFor('server\nhello');
    assert.equal(proxy.connections(), 1);
    c.socket.end();
    assert.equal(await closedWithin(c), 'end');
  });

  test('cut() (reset) resets open connections and every new one; restore() forwards again', async () => {
    const { echo, proxy } = await setup();
    const open = dialClient(proxy.port);
    await open.waitFor('server\n');
    proxy.cut();
    assert.equal(proxy.state, 'reset');
    assert.equal(await closedWithin(open), 'error');
    const refused = dialClient(proxy.port);
    assert.equal(await closedWithin(refused), 'error');
    assert.equal(refused.text(), '');
    assert.equal(echo.accepted(), 1, 'nothing reached the server while cut');

    proxy.restore();
    const again = dialClient(proxy.port);
    again.socket.write('back');
    await again.waitFor('server\nback');
    again.socket.destroy();
  });

  test('cut({mode: blackhole}) keeps connections open but forwards nothing either way; restore() resets them', async () => {
    const { echo, proxy } = await setup();
    const stalled = dialClient(proxy.port);
    await stalled.waitFor('server\n');
    proxy.cut({ mode: 'blackhole' });
    stalled.socket.write('lost');
    const held = dialClient(proxy.port);
    await new Promise<void>((resolve, reject) => {
      held.socket.once('connect', resolve);
      held.socket.once('error', reject);
    });
    held.socket.write('also lost');
    // Give forwarding, if there were any, ample time to happen on loopback.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(echo.received(), 0, 'no byte reached the server');
    assert.equal(echo.accepted(), 1, 'the held connection never reached the server');
    assert.equal(stalled.text(), 'server\n', 'no byte came back');
    assert.equal(proxy.connections(), 2, 'both connections are still open');
    assert.equal(stalled.socket.destroyed, false);

    proxy.restore();
    assert.equal(await closedWithin(stalled), 'error');
    assert.equal(await closedWithin(held), 'error');
    const fresh = dialClient(proxy.port);
    fresh.socket.write('fresh');
    await fresh.waitFor('server\nfresh');
    fresh.socket.destroy();
  });

  test('a server that is down resets the client; close() ends everything', async () => {
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: await closedPort() });
    const c = dialClient(proxy.port);
    assert.equal(await closedWithin(c), 'error');
    const echo = track(await startNamedEcho('x'));
    const p2 = await startFaultProxy({ host: '127.0.0.1', port: echo.port });
    const open = dialClient(p2.port);
    await open.waitFor('x\n');
    await Promise.all([proxy.close(), p2.close()]);
    assert.ok(['end', 'error'].includes(await closedWithin(open)));
  });
});
