import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { toHttp } from '../errors/http.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Req, Res } from '../util/http.js';

export type Handler = (req: Req, res: Res) => void;

/** How long a client may take, as nginx's client_header_timeout / client_body_timeout / keepalive_timeout do. */
export interface ListenerTimeouts {
  /** To receive a request's headers (or, on a new connection, its first bytes and headers). */
  headersMs: number;
  /**
   * To receive a whole request. The handler's body reader answers 408 at this deadline; the
   * listener's own checks (node's `requestTimeout`, an HTTP/2 stream reset) come `headersMs`
   * later, for requests whose body nobody reads.
   */
  requestMs: number;
  /** An idle connection: between HTTP/1.1 requests, or an HTTP/2 session with no open stream. */
  keepAliveMs: number;
}

export interface ConnectionLimits {
  /** Open connections on this listener. */
  max: number;
  /** Open connections from one peer address. */
  perClient: number;
  /** Peers the per-client limit does not apply to (trusted proxies: every client comes through them). */
  exempt?: (address: string) => boolean;
  /** The canonical form of a peer address, so `::ffff:10.0.0.1` and `10.0.0.1` count together. */
  canonical?: (address: string) => string;
}

export interface ListenerOptions {
  host: string;
  port: number;
  timeouts: ListenerTimeouts;
  limits: ConnectionLimits;
  /** TLS: HTTP/2 and HTTP/1.1 negotiated by ALPN. Without it: HTTP/1.1 and prior-knowledge h2c. */
  tls?: { certFile: string; keyFile: string };
  /** Told of every connection refused at a limit (metrics). */
  onRefused?: (reason: 'max_connections' | 'max_connections_per_client') => void;
}

/** The HTTP/2 connection preface (RFC 9113 §3.4) starts with this; no HTTP/1 method does. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One listening port serving HTTP/1.1 and HTTP/2. AWS SDK v3 clients speak HTTP/2 to Bedrock,
 * so the gateway must too. In clear text, the first bytes of each connection tell the two apart
 * (h2c with prior knowledge); over TLS, ALPN does.
 *
 * Every connection is bounded in time (see ListenerTimeouts) and in number (ConnectionLimits):
 * a client that opens connections and sends nothing, trickles its headers or its body, or keeps
 * an idle connection, is cut off, and one address cannot take every connection.
 */
export class Listener {
  readonly #options: ListenerOptions;
  readonly #h1: http.Server | undefined;
  readonly #h2: http2.Http2Server | http2.Http2SecureServer;
  readonly #front: net.Server | http2.Http2SecureServer;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #sockets = new Set<net.Socket>();
  /** Open connections per canonical peer address. */
  readonly #perClient = new Map<string, number>();

  constructor(handler: Handler, options: ListenerOptions) {
    this.#options = options;
    const { headersMs, requestMs, keepAliveMs } = options.timeouts;
    // node checks header and request deadlines on an interval; a fraction of the shortest keeps them close to exact.
    const checkEveryMs = Math.max(100, Math.min(1000, Math.floor(headersMs / 4)));
    const h1Timeouts = { headersTimeout: headersMs, requestTimeout: requestMs + headersMs, keepAliveTimeout: keepAliveMs, connectionsCheckingInterval: checkEveryMs };
    const h = handler as unknown as http.RequestListener;
    const h2Handler = handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
    if (options.tls) {
      const secure = http2.createSecureServer(
        { allowHTTP1: true, cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile), handshakeTimeout: headersMs },
        h2Handler,
      );
      // HTTP/1.1 over TLS is served by node's HTTP/1 code, which reads these fields from this server.
      Object.assign(secure, h1Timeouts);
      this.#h2 = secure;
      this.#front = secure;
      this.#h1 = undefined;
      // Counted at TCP accept, before the handshake costs anything; over a limit the connection is closed (no TLS to answer in yet).
      secure.prependListener('connection', (socket: net.Socket) => {
        if (!this.#admit(socket)) socket.destroy();
      });
    } else {
      this.#h1 = http.createServer({ ...h1Timeouts, requireHostHeader: true }, h);
      this.#h2 = http2.createServer({}, h2Handler);
      this.#front = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    }
    this.#h2.on('session', (session: http2.ServerHttp2Session) => this.#watchSession(session));
  }

  /** Counts `socket` in; false (nothing counted) when a limit is reached. */
  #admit(socket: net.Socket): boolean {
    const { limits, onRefused } = this.#options;
    const raw = socket.remoteAddress ?? '';
    const address = limits.canonical ? limits.canonical(raw) : raw;
    const exempt = limits.exempt?.(address) ?? false;
    const open = this.#perClient.get(address) ?? 0;
    const refusal = this.#sockets.size >= limits.max ? 'max_connections' : !exempt && open >= limits.perClient ? 'max_connections_per_client' : undefined;
    if (refusal !== undefined) {
      onRefused?.(refusal);
      return false;
    }
    this.#sockets.add(socket);
    this.#perClient.set(address, open + 1);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const left = (this.#perClient.get(address) ?? 1) - 1;
      if (left > 0) this.#perClient.set(address, left);
      else this.#perClient.delete(address);
    });
    return true;
  }

  /** Clear text: admit, then tell HTTP/1 from HTTP/2 by the first bytes. */
  #accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (!this.#admit(socket)) {
      refuse(socket);
      return;
    }
    // Until the protocol is known, nothing else times the connection out.
    socket.setTimeout(this.#options.timeouts.headersMs, () => socket.destroy());
    let seen: Buffer = Buffer.alloc(0);
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) {
        socket.once('readable', onReadable);
        return;
      }
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const prefix = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (prefix && n < H2_PREFACE.length) {
        // "P" or "PR" may begin "POST" or "PRI * HTTP/2.0": wait for the bytes that tell.
        socket.once('readable', onReadable);
        return;
      }
      socket.setTimeout(0);
      socket.unshift(seen);
      (prefix ? this.#h2 : this.#h1!).emit('connection', socket);
    };
    socket.once('readable', onReadable);
  }

  /**
   * HTTP/2 sessions: closed (GOAWAY) after keepAliveMs with no open stream; a stream whose request
   * has not fully arrived within the request deadline (plus headersMs, the handler answers first) is reset.
   */
  #watchSession(session: http2.ServerHttp2Session): void {
    const { keepAliveMs, requestMs, headersMs } = this.#options.timeouts;
    this.#sessions.add(session);
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      idle = setTimeout(() => session.close(), keepAliveMs);
      idle.unref();
    };
    armIdle();
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      const deadline = setTimeout(() => {
        if (!stream.readableEnded && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      }, requestMs + headersMs);
      deadline.unref();
      stream.once('end', () => clearTimeout(deadline));
      stream.once('close', () => {
        clearTimeout(deadline);
        if (--open === 0 && !session.destroyed) armIdle();
      });
    });
    // Open streams and no frame for headersMs: a quiet upstream, or a session nghttp2 gave up on. After
    // a protocol error (an oversized frame, say) it sends GOAWAY and stops reading, and node never
    // closes the session or its streams, so their requests would stay in flight forever.
    session.setTimeout(headersMs, () => {
      if (open > 0) probe(session, headersMs);
    });
    session.once('close', () => {
      clearTimeout(idle);
      this.#sessions.delete(session);
    });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#front.once('error', reject);
      this.#front.listen(this.#options.port, this.#options.host, () => {
        this.#front.off('error', reject);
        // The HTTP/1 server is handed connections rather than listening itself; 'listening' is what
        // starts node's header and request deadline checks (setupConnectionsTracking in _http_server).
        this.#h1?.emit('listening');
        resolve(this.#front.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo {
    return this.#front.address() as AddressInfo;
  }

  /** Open connections (for tests and metrics). */
  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Stops accepting connections; idle keep-alive connections close now, HTTP/2 sessions get a
   * GOAWAY and finish their open streams. Busy HTTP/1 connections close after their response.
   */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#front.close(() => resolve()));
    // Stops node's deadline checks; the server never listened, so close() only reports that.
    this.#h1?.close(() => undefined);
    this.#h1?.closeIdleConnections();
    for (const s of this.#sessions) {
      s.close();
      // A session that no longer answers must not hold up the drain.
      probe(s, Math.min(this.#options.timeouts.headersMs, 2000));
    }
    return closed.then(() => undefined);
  }

  /** Ends every remaining connection (after the drain timeout). */
  destroyAll(): void {
    this.#h1?.closeAllConnections();
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#sockets) s.destroy();
  }
}

/** PINGs `session`; destroys it (ending its streams) when no answer comes within `ms`. */
function probe(session: http2.ServerHttp2Session, ms: number): void {
  if (session.destroyed) return;
  const timer = setTimeout(() => session.destroy(), ms);
  timer.unref();
  const sent = session.ping((err) => {
    if (!err) clearTimeout(timer);
  });
  if (!sent) clearTimeout(timer); // pings already outstanding: one of them decides
}

const REFUSAL = toHttp(new GatewayError('too_many_connections', 'Too many open connections; try again later.', { retryAfter: 1 }));
const REFUSAL_BYTES = Buffer.from(
  `HTTP/1.1 ${REFUSAL.status} Service Unavailable\r\n${Object.entries(REFUSAL.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}content-length: ${Buffer.byteLength(REFUSAL.body)}\r\nconnection: close\r\n\r\n${REFUSAL.body}`,
);

/** Answers 503 on a connection over a limit, without reading its request, and closes it. */
function refuse(socket: net.Socket): void {
  socket.setTimeout(1000, () => socket.destroy());
  socket.end(REFUSAL_BYTES);
  socket.resume(); // discard what the client sends meanwhile, so the close is not a reset before it reads the answer
}
