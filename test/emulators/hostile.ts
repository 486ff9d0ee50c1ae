import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A misbehaving provider for the hardening corpus (test/hardening/). One loopback server plays
 * two providers, chosen by the first path segment of the instance endpoint:
 *
 * - `/openai/...`: OpenAI-style, `Authorization: Bearer <provider key>`;
 * - `/anthropic/...`: Anthropic-style, `x-api-key: <provider key>`.
 *
 * Like the real providers it refuses a wrong credential (401) and records everything it
 * receives (method, raw path, query, headers, body). What it answers is chosen per request by a
 * *directive*: the JSON body's `model`, else the last path segment (`GET .../v1/models/err-500`).
 * Unknown directives get a normal answer in the provider's shape (JSON, or SSE for
 * `stream: true`).
 *
 * | directive        | answer                                                                         |
 * |------------------|--------------------------------------------------------------------------------|
 * | `err-<status>`   | that status, an error whose message echoes the presented provider key and the  |
 * |                  | longer registered secret that contains it (`echoSuffix`); 429 adds Retry-After  |
 * | `plain-<status>` | that status, an error with no secret in it                                      |
 * | `deep`           | 200 JSON nested 50,000 arrays deep                                             |
 * | `cut`            | 200 with Content-Length 4096, half a JSON body, then the socket is destroyed    |
 * | `reset`          | the socket is destroyed before any byte                                        |
 * | `stall`          | nothing, ever (the gateway's first-byte timeout must fire)                      |
 * | `slow-<ms>`      | a normal answer after `<ms>` milliseconds                                       |
 * | `html`           | 200 `text/html`                                                                |
 * | `longline`       | 200 SSE: one normal event, then a `data:` line of `longLineBytes` (1.5 MiB)      |
 * | `truncated`      | 200 SSE: two events, then a clean end without the terminal event               |
 * | `stream-reset`   | 200 SSE: two events, then the socket is destroyed                               |
 * | `headers`        | a normal answer plus `X-LLMProxy-*` and `Set-Cookie` headers                     |
 */
export interface HostileRecord {
  method: string;
  /** Raw path as received, without the query. */
  path: string;
  /** Raw query without `?`, '' when none. */
  query: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  flavour: Flavour;
  directive: string;
}

export type Flavour = 'openai' | 'anthropic';

export interface HostileKeys {
  openai: string;
  anthropic: string;
}

/** Headers the `headers` directive sets; none may reach a client. */
export const FORGED_HEADERS: Readonly<Record<string, string>> = {
  'x-llmproxy-request-id': 'forged-by-upstream',
  'x-llmproxy-instance': 'forged-instance',
  'x-llmproxy-dropped-params': 'forged',
  'set-cookie': 'upstream_session=stolen; Path=/; HttpOnly',
};

export const REPLY_TEXT = 'Hello from the hostile upstream.';

export class HostileUpstream {
  readonly requests: HostileRecord[] = [];
  /** The SSE `data:` line size of the `longline` directive. */
  longLineBytes = 1.5 * 1024 * 1024;
  readonly #keys: HostileKeys;
  /** Appended to the presented key to make the longer secret an error message echoes. */
  readonly #echoSuffix: string;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #url = '';

  constructor(keys: HostileKeys, echoSuffix: string) {
    this.#keys = keys;
    this.#echoSuffix = echoSuffix;
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.#dispatch(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    this.#server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  reset(): void {
    this.requests.length = 0;
  }

  /** Resolves once `n` requests were received; throws after `timeoutMs`. */
  async waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() > deadline) throw new Error(`hostile upstream: ${n} request(s) not received within ${timeoutMs} ms (got ${this.requests.length})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const chunks: Buffer[] = [];
    try {
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    } catch {
      return; // the gateway went away mid-body
    }
    const body = Buffer.concat(chunks);
    const flavour: Flavour = path.startsWith('/anthropic/') ? 'anthropic' : 'openai';
    const json = parseJson(body);
    const directive = typeof json?.['model'] === 'string' ? (json['model'] as string) : decodeSafe(path.slice(path.lastIndexOf('/') + 1));
    this.requests.push({ method: req.method ?? 'GET', path, query: q === -1 ? '' : url.slice(q + 1), headers: req.headers, rawHeaders: req.rawHeaders, body, flavour, directive });
    res.on('error', () => undefined);
    const presented = presentedKey(req, flavour);
    if (presented !== this.#keys[flavour]) {
      return sendJson(res, 401, errorBody(flavour, 'authentication_error', `Incorrect API key provided: ${mask(presented)}.`));
    }
    await this.#answer(directive, flavour, json, req, res, presented);
  }

  async #answer(directive: string, flavour: Flavour, json: Record<string, unknown> | undefined, req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const stream = json?.['stream'] === true;
    const status = /^(err|plain)-(\d{3})$/.exec(directive);
    if (status) {
      const code = Number(status[2]);
      const message = status[1] === 'err' ? `Incorrect API key provided: ${key}. The key ${key}${this.#echoSuffix} is not valid either.` : `hostile plain error ${code}`;
      return sendJson(res, code, errorBody(flavour, code === 429 ? 'rate_limit_error' : 'invalid_request_error', message), code === 429 ? { 'retry-after': '7' } : {});
    }
    const slow = /^slow-(\d{1,5})$/.exec(directive);
    if (slow) await new Promise((r) => setTimeout(r, Number(slow[1])));
    switch (directive) {
      case 'deep':
        return sendRaw(res, 200, 'application/json', `{"id":"deep","choices":${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
      case 'cut': {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
        res.write('{"id":"chatcmpl-cut","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hel');
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'stall':
        return; // never answers; the socket closes when the gateway gives up
      case 'html':
        return sendRaw(res, 200, 'text/html', '<html><body>502 Bad Gateway (not really)</body></html>');
      case 'longline':
        return this.#sse(res, flavour, (frames) => [frames[0]!, `data: {"pad":"${'x'.repeat(this.longLineBytes)}"}\n\n`, ...frames.slice(1)], 'end');
      case 'truncated':
        return this.#sse(res, flavour, (frames) => frames.slice(0, 2), 'end');
      case 'stream-reset':
        return this.#sse(res, flavour, (frames) => frames.slice(0, 2), 'destroy');
      case 'headers':
        return stream ? this.#sse(res, flavour, (f) => f, 'end', FORGED_HEADERS) : sendJson(res, 200, normalAnswer(flavour, json, req), FORGED_HEADERS);
      default:
        return stream ? this.#sse(res, flavour, (f) => f, 'end') : sendJson(res, 200, normalAnswer(flavour, json, req));
    }
  }

  /** A 200 event stream: the provider's normal frames, edited by `shape`, then a clean end or a destroyed socket. */
  async #sse(res: ServerResponse, flavour: Flavour, shape: (frames: string[]) => string[], ending: 'end' | 'destroy', headers: Record<string, string> = {}): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
    for (const frame of shape(streamFrames(flavour))) {
      if (res.destroyed) return;
      if (!res.write(frame)) await new Promise<void>((r) => { res.once('drain', r); res.once('close', r); });
      await new Promise((r) => setImmediate(r));
    }
    if (ending === 'end') res.end();
    else setTimeout(() => res.socket?.destroy(), 20);
  }
}

function presentedKey(req: IncomingMessage, flavour: Flavour): string {
  if (flavour === 'anthropic') {
    const k = req.headers['x-api-key'];
    return typeof k === 'string' ? k : '';
  }
  const auth = req.headers.authorization ?? '';
  return auth.startsWith('Bearer ') ? auth.slice(7) : '';
}

function mask(key: string): string {
  return key.length <= 8 ? '***' : `${key.slice(0, 3)}****${key.slice(-2)}`;
}

function errorBody(flavour: Flavour, type: string, message: string): object {
  return flavour === 'anthropic' ? { type: 'error', error: { type, message } } : { error: { message, type, param: null, code: null } };
}

function normalAnswer(flavour: Flavour, json: Record<string, unknown> | undefined, req: IncomingMessage): object {
  const model = typeof json?.['model'] === 'string' ? json['model'] : 'hostile-model';
  if (req.method === 'GET') return { object: 'list', data: [{ id: model, object: 'model', created: 0, owned_by: 'hostile' }] };
  if (flavour === 'anthropic') {
    return {
      id: 'msg_hostile', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: REPLY_TEXT }],
      stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 7 },
    };
  }
  return {
    id: 'chatcmpl-hostile', object: 'chat.completion', created: 1_700_000_000, model,
    choices: [{ index: 0, message: { role: 'assistant', content: REPLY_TEXT }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
  };
}

function streamFrames(flavour: Flavour): string[] {
  if (flavour === 'anthropic') {
    const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    return [
      ev('message_start', { message: { id: 'msg_hostile', type: 'message', role: 'assistant', content: [], model: 'claude-hostile', stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: REPLY_TEXT } }),
      ev('content_block_stop', { index: 0 }),
      ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } }),
      ev('message_stop', {}),
    ];
  }
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-hostile', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-hostile', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return [chunk({ role: 'assistant', content: '' }, null), chunk({ content: REPLY_TEXT }, null), chunk({}, 'stop'), 'data: [DONE]\n\n'];
}

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  sendRaw(res, status, 'application/json', JSON.stringify(body), headers);
}

function sendRaw(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined;
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
