import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Req, Res } from '../util/http.js';

export type Handler = (req: Req, res: Res) => void;

export interface ListenerOptions {
  host: string;
  port: number;
  keepAliveTimeoutMs: number;
  /** TLS: HTTP/2 and HTTP/1.1 negotiated by ALPN. Without it: HTTP/1.1 and prior-knowledge h2c. */
  tls?: { certFile: string; keyFile: string };
}

/** The HTTP/2 connection preface (RFC 9113 §3.4) starts with this; no HTTP/1 method does. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One listening port serving HTTP/1.1 and HTTP/2. AWS SDK v3 clients speak HTTP/2 to Bedrock,
 * so the gateway must too. In clear text, the first bytes of each connection tell the two apart
 * (h2c with prior knowledge); over TLS, ALPN does.
 */
export class Listener {
  readonly #options: ListenerOptions;
  readonly #h1: http.Server | undefined;
  readonly #h2: http2.Http2Server | http2.Http2SecureServer;
  readonly #front: net.Server | http2.Http2SecureServer;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #sockets = new Set<net.Socket>();

  constructor(handler: Handler, options: ListenerOptions) {
    this.#options = options;
    const h = handler as unknown as http.RequestListener;
    if (options.tls) {
      const secure = http2.createSecureServer(
        { allowHTTP1: true, cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) },
        handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
      );
      this.#h2 = secure;
      this.#front = secure;
      this.#h1 = undefined;
      secure.on('secureConnection', (socket: net.Socket) => this.#track(socket));
    } else {
      this.#h1 = http.createServer({ keepAliveTimeout: options.keepAliveTimeoutMs, requestTimeout: 0 }, h);
      this.#h2 = http2.createServer({}, handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
      this.#front = net.createServer({ noDelay: true }, (socket) => this.#sniff(socket));
    }
    this.#h2.on('session', (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
    });
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #sniff(socket: net.Socket): void {
    this.#track(socket);
    socket.on('error', () => socket.destroy());
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) {
        socket.once('readable', onReadable);
        return;
      }
      socket.unshift(chunk);
      const n = Math.min(chunk.length, H2_PREFACE.length);
      const isH2 = chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      (isH2 ? this.#h2 : this.#h1!).emit('connection', socket);
    };
    socket.once('readable', onReadable);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#front.once('error', reject);
      this.#front.listen(this.#options.port, this.#options.host, () => {
        this.#front.off('error', reject);
        resolve(this.#front.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo {
    return this.#front.address() as AddressInfo;
  }

  /**
   * Stops accepting connections; idle keep-alive connections close now, HTTP/2 sessions get a
   * GOAWAY and finish their open streams. Busy HTTP/1 connections close after their response.
   */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#front.close(() => resolve()));
    this.#h1?.closeIdleConnections();
    for (const s of this.#sessions) s.close();
    return closed.then(() => undefined);
  }

  /** Ends every remaining connection (after the drain timeout). */
  destroyAll(): void {
    this.#h1?.closeAllConnections();
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#sockets) s.destroy();
  }
}
