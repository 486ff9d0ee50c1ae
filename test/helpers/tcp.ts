import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * Loopback TCP plumbing for fleet tests: a round-robin L4 balancer in front of gateway replicas,
 * and a fault proxy that cuts a replica fleet from PostgreSQL or Redis without touching the
 * machine's servers. Both listen on 127.0.0.1:0, track every socket they open and destroy them
 * all on `close()`, so a test never leaves a handle behind.
 *
 * @example
 * const lb = await startBalancer([{ host: '127.0.0.1', port: a }, { host: '127.0.0.1', port: b }]);
 * await fetch(`${lb.url}/health`);           // connection 1 → a, connection 2 → b, ...
 * const redisLink = await startFaultProxy({ host: '127.0.0.1', port: 6379 });
 * redisLink.cut({ mode: 'blackhole' });      // Redis stops answering; nothing is refused
 * redisLink.restore();
 */
export interface Target {
  host: string;
  port: number;
}

/** How long the balancer and the proxy wait for a TCP connect to a target (a blackholed SYN). */
const CONNECT_TIMEOUT_MS = 2000;

/**
 * Pipes `a` and `b` both ways, with half-close (an HTTP client's FIN reaches the server). An
 * error on one side resets the other, as a real L4 proxy would: a peer that died mid-response
 * shows up as a reset, never as a clean end of a truncated response.
 */
function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const onClose = (other: Socket) => (hadError: boolean) => {
    if (hadError) resetSocket(other);
    else other.end();
  };
  a.once('close', onClose(b));
  b.once('close', onClose(a));
}

function resetSocket(s: Socket): void {
  // An RST, not a FIN: the peer must see a failure, not the clean end of a truncated stream.
  if (!s.destroyed) s.resetAndDestroy();
}

/** Every socket of a server, destroyed on close; errors on any of them are expected (resets). */
class SocketSet {
  readonly #sockets = new Set<Socket>();

  add(s: Socket): Socket {
    this.#sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => this.#sockets.delete(s));
    return s;
  }

  get size(): number {
    return this.#sockets.size;
  }

  destroyAll(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Connects to `target`; resolves with the socket once connected, rejects on error or after the connect timeout. */
function dial(target: Target, sockets: SocketSet): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = sockets.add(connect({ host: target.host, port: target.port, allowHalfOpen: true }));
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error(`connect to ${target.host}:${target.port} timed out`), { code: 'ETIMEDOUT' }));
    }, CONNECT_TIMEOUT_MS);
    const onError = (err: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    };
    s.once('error', onError);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onError);
      resolve(s);
    });
  });
}

export interface BalancerStats {
  /** Connections forwarded, per target index. */
  forwarded: number[];
  /** Connect attempts that failed (refused, reset, timed out), per target index. */
  failed: number[];
  /** Client connections closed because no target accepted them. */
  dropped: number;
}

export interface Balancer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Replaces the targets (indices restart at 0); open connections stay where they are. */
  setTargets(targets: readonly Target[]): void;
  /** Takes target `index` out of the rotation (indices of the others do not change). */
  remove(index: number): void;
  /** The target index a client connection from 127.0.0.1:`clientPort` was forwarded to, if any. */
  targetOf(clientPort: number): number | undefined;
  stats(): BalancerStats;
  /** Open sockets, both sides together. */
  openSockets(): number;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/**
 * A round-robin TCP balancer: each new client connection goes to the next target; a target that
 * refuses or fails the connect is skipped and the next one tried, each target at most once per
 * connection (an L4 balancer with connect retry, such as an AWS NLB or kube-proxy in IPVS mode
 * with health checks). When none accepts, the client connection is reset. Connections are not
 * balanced per request: an HTTP keep-alive connection stays on its target.
 */
export async function startBalancer(targets: readonly Target[]): Promise<Balancer> {
  let list: Array<Target | undefined> = [...targets];
  let next = 0;
  const sockets = new SocketSet();
  const stats: BalancerStats = { forwarded: list.map(() => 0), failed: list.map(() => 0), dropped: 0 };
  // Client port → target index, for attributing a request to a replica; bounded by port reuse.
  const routes = new Map<number, number>();
  let closed = false;

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    sockets.add(client);
    if (closed) return void client.destroy();
    const order: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const index = (next + i) % list.length;
      if (list[index] !== undefined) order.push(index);
    }
    next = list.length === 0 ? 0 : (next + 1) % list.length;
    void forward(client, order);
  });

  async function forward(client: Socket, order: number[]): Promise<void> {
    for (const index of order) {
      if (client.destroyed || closed) return;
      const target = list[index];
      if (target === undefined) continue;
      let upstream: Socket;
      try {
        upstream = await dial(target, sockets);
      } catch {
        stats.failed[index] = (stats.failed[index] ?? 0) + 1;
        continue;
      }
      if (client.destroyed || closed) return void upstream.destroy();
      stats.forwarded[index] = (stats.forwarded[index] ?? 0) + 1;
      if (client.remotePort !== undefined) routes.set(client.remotePort, index);
      splice(client, upstream);
      client.resume();
      return;
    }
    stats.dropped++;
    resetSocket(client);
  }

  const port = await listen(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setTargets(t) {
      list = [...t];
      next = 0;
      stats.forwarded = list.map(() => 0);
      stats.failed = list.map(() => 0);
    },
    remove(index) {
      if (index >= 0 && index < list.length) list[index] = undefined;
    },
    targetOf: (clientPort) => routes.get(clientPort),
    stats: () => ({ forwarded: [...stats.forwarded], failed: [...stats.failed], dropped: stats.dropped }),
    openSockets: () => sockets.size,
    close() {
      closed = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        sockets.destroyAll();
        routes.clear();
      });
    },
  };
}

export type CutMode = 'reset' | 'blackhole';

export interface FaultProxy {
  readonly port: number;
  /** Where the proxy forwards to. */
  readonly target: Target;
  /** `open` (forwarding), or the mode of the current cut. */
  readonly state: 'open' | CutMode;
  /**
   * Cuts the link.
   * - `reset` (default): every open connection is reset on both sides and every new one is
   *   reset at once — the server went away (a crash, a failover, a firewall sending RSTs).
   * - `blackhole`: nothing is forwarded any more, in either direction, and nothing is refused:
   *   open connections stay open but silent, new ones are accepted and never forwarded — a
   *   network partition, where a client only notices through its own timeouts.
   */
  cut(options?: { mode?: CutMode }): void;
  /**
   * Forwards new connections again. Connections that were stalled or held by a blackhole are
   * reset (the partition outlived both peers' connection state), so clients reconnect.
   */
  restore(): void;
  /** Client connections open through the proxy (forwarding, stalled or held). */
  connections(): number;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket | undefined;
}

/** A TCP proxy to `target` that a test can cut and restore (see FaultProxy). */
export async function startFaultProxy(target: Target): Promise<FaultProxy> {
  const sockets = new SocketSet();
  const links = new Set<Link>();
  let state: 'open' | CutMode = 'open';
  let closed = false;

  const drop = (link: Link) => {
    resetSocket(link.client);
    if (link.upstream) resetSocket(link.upstream);
    links.delete(link);
  };

  const stall = (link: Link) => {
    const { client, upstream } = link;
    if (upstream) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      upstream.pause();
    }
    // Not read any more: what the peer sends stays in the kernel's buffers, as on a dead path.
    client.pause();
  };

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    sockets.add(client);
    if (closed || state === 'reset') return void resetSocket(client);
    const link: Link = { client, upstream: undefined };
    links.add(link);
    client.once('close', () => links.delete(link));
    if (state === 'blackhole') return; // accepted, held, never forwarded
    dial(target, sockets).then(
      (upstream) => {
        if (client.destroyed || closed || state === 'reset') return void (resetSocket(upstream), drop(link));
        link.upstream = upstream;
        if (state === 'blackhole') return stall(link);
        splice(client, upstream);
        client.resume();
      },
      () => drop(link),
    );
  });

  const port = await listen(server);
  return {
    port,
    target,
    get state() {
      return state;
    },
    cut(options = {}) {
      const mode = options.mode ?? 'reset';
      state = mode;
      for (const link of [...links]) {
        if (mode === 'reset') drop(link);
        else stall(link);
      }
    },
    restore() {
      if (state === 'blackhole') for (const link of [...links]) drop(link);
      state = 'open';
    },
    connections: () => links.size,
    close() {
      closed = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        sockets.destroyAll();
        links.clear();
      });
    },
  };
}
