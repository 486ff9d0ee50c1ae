import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Shared machinery of the provider emulators: a loopback HTTP server that records every
 * request, checks credentials the way the provider does (subclasses decide how), and can be
 * told to misbehave: inject an error answer, delay the first byte, pause between stream chunks,
 * or stall a stream forever.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Set when the client went away before the response finished. */
  aborted: boolean;
  /** Set when the response finished normally. */
  completed: boolean;
}

export interface Injection {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many requests receive it; default 1. */
  times?: number;
}

export interface Behaviour {
  /** Wait this long before sending the status line. */
  firstByteDelayMs: number;
  /** Wait this long between streamed events. */
  chunkDelayMs: number;
  /** Send this many streamed events, then nothing more (the connection stays open). */
  stallAfterChunks: number | undefined;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedRequest;
  json: Record<string, unknown> | undefined;
}

export abstract class Emulator {
  readonly requests: RecordedRequest[] = [];
  /** Credentials the emulator accepts; replace the contents to rotate. */
  readonly acceptedKeys = new Set<string>();
  behaviour: Behaviour = { firstByteDelayMs: 0, chunkDelayMs: 0, stallAfterChunks: undefined };
  /** Keep every request in `requests`; a benchmark turns this off so memory stays flat. */
  recording = true;
  #server: Server | undefined;
  #injections: Injection[] = [];
  #url = '';

  constructor(keys: string[]) {
    for (const k of keys) this.acceptedKeys.add(k);
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#dispatch(req, res));
    this.#server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** The next `times` requests (that pass authentication) get this answer. */
  inject(injection: Injection): void {
    this.#injections.push({ times: 1, ...injection });
  }

  reset(): void {
    this.requests.length = 0;
    this.#injections = [];
    this.behaviour = { firstByteDelayMs: 0, chunkDelayMs: 0, stallAfterChunks: undefined };
  }

  get last(): RecordedRequest {
    const r = this.requests[this.requests.length - 1];
    if (!r) throw new Error(`${this.constructor.name}: no request received`);
    return r;
  }

  /** Resolves once `predicate` holds for the recorded requests (polling; bounded by `timeoutMs`). */
  async waitFor(predicate: (requests: RecordedRequest[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.requests)) {
      if (Date.now() > deadline) throw new Error(`${this.constructor.name}: condition not met within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  /** Returns an error answer if the request's credential is not acceptable, else undefined. */
  protected abstract authenticate(ex: Exchange): { status: number; body: unknown } | undefined;

  protected abstract route(ex: Exchange): Promise<void>;

  /** Sends a JSON answer after the configured first-byte delay. */
  protected async json(ex: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    await this.firstByte(ex);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    ex.res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...this.responseHeaders(), ...headers });
    ex.res.end(text);
  }

  /** Streams SSE frames (already formatted, each ending in a blank line) honouring delays and stalls. */
  protected async sse(ex: Exchange, frames: string[]): Promise<void> {
    await this.firstByte(ex);
    await this.stream(ex, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }, frames);
  }

  /** Sends a 200 with `headers`, then `frames` one write each, honouring chunk delays and stalls. */
  protected async stream(ex: Exchange, headers: Record<string, string>, frames: ReadonlyArray<string | Uint8Array>): Promise<void> {
    ex.res.writeHead(200, { ...headers, ...this.responseHeaders() });
    for (const [i, frame] of frames.entries()) {
      if (this.behaviour.stallAfterChunks !== undefined && i >= this.behaviour.stallAfterChunks) return; // hang
      if (i > 0 && this.behaviour.chunkDelayMs > 0) await sleep(this.behaviour.chunkDelayMs);
      if (ex.res.destroyed) return;
      ex.res.write(frame);
    }
    ex.res.end();
  }

  protected async firstByte(ex: Exchange): Promise<void> {
    if (this.behaviour.firstByteDelayMs > 0) await sleep(this.behaviour.firstByteDelayMs);
    void ex;
  }

  /** Headers the provider puts on every answer (request ids). */
  protected responseHeaders(): Record<string, string> {
    return {};
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: q === -1 ? url : url.slice(0, q),
      query: q === -1 ? '' : url.slice(q + 1),
      headers: req.headers,
      body: Buffer.concat(chunks),
      aborted: false,
      completed: false,
    };
    if (this.recording) this.requests.push(record);
    res.once('close', () => {
      if (res.writableFinished) record.completed = true;
      else record.aborted = true;
    });
    let json: Record<string, unknown> | undefined;
    if (record.body.length > 0 && String(req.headers['content-type'] ?? '').includes('json')) {
      try {
        json = JSON.parse(record.body.toString('utf8')) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
    const ex: Exchange = { req, res, record, json };
    try {
      const denied = this.authenticate(ex);
      if (denied) return await this.json(ex, denied.status, denied.body);
      const injection = this.#injections[0];
      if (injection) {
        if (--injection.times! <= 0) this.#injections.shift();
        return await this.json(ex, injection.status, injection.body ?? {}, injection.headers);
      }
      await this.route(ex);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `emulator failure: ${String(err)}` } }));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function requestId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/** How providers show a rejected key in their error text: a few characters at each end. */
export function masked(key: string): string {
  return key.length <= 8 ? '***' : `${key.slice(0, 3)}${'*'.repeat(Math.max(4, key.length - 7))}${key.slice(-4)}`;
}
