import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { constants as h2 } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * The part of node's HTTP/1 and HTTP/2-compat request and response objects the gateway uses.
 * Both `http.IncomingMessage`/`ServerResponse` and `http2.Http2ServerRequest`/`Response`
 * satisfy these, so every route serves both protocols.
 */
export interface Req extends AsyncIterable<Buffer> {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersionMajor: number;
  /** Header names and values as received, alternating (HTTP/1: duplicates kept). */
  readonly rawHeaders: string[];
  /** True once the whole request (headers and body) has been received. */
  readonly complete: boolean;
  readonly socket: Socket;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  resume(): unknown;
}

export interface Res {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  hasHeader(name: string): boolean;
  write(chunk: Uint8Array | string): boolean;
  end(chunk?: Uint8Array | string): unknown;
  once(event: 'close' | 'drain' | 'finish', listener: () => void): unknown;
  removeListener(event: 'close' | 'drain' | 'finish', listener: () => void): unknown;
}

/** Ends a response abnormally so the client sees a failure, not a truncated success. */
export function abortResponse(res: Res): void {
  const r = res as unknown as { stream?: { close(code: number): void; destroyed: boolean }; destroy?: (err?: Error) => void };
  if (r.stream) {
    if (!r.stream.destroyed) r.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  } else {
    r.destroy?.();
  }
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
