import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The built-in demo upstream: a tiny OpenAI-compatible server on a loopback port, so
 * `npm start` gives a working gateway with no cloud account. It requires a Bearer token that
 * only the gateway process knows, so the demo shows the real credential swap.
 *
 * It answers `GET /v1/models`, `POST /v1/chat/completions` (JSON and SSE streaming, with
 * `stream_options.include_usage`) and `POST /v1/embeddings`. Replies echo the last user message.
 */
export interface DemoUpstream {
  origin: string;
  token: string;
  close(): Promise<void>;
}

export const DEMO_MODELS = ['demo-echo', 'demo-embed'] as const;
const CHUNK_DELAY_MS = 15;
const MAX_BODY = 1024 * 1024;

export async function startDemoUpstream(): Promise<DemoUpstream> {
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const server: Server = createServer((req, res) => {
    const auth = Buffer.from(req.headers.authorization ?? '');
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      return json(res, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    }
    route(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: { message: 'demo upstream failure', type: 'server_error', param: null, code: null } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/v1/models') {
    return json(res, 200, { object: 'list', data: DEMO_MODELS.map(model) });
  }
  if (req.method === 'GET' && path?.startsWith('/v1/models/')) {
    const id = decodeURIComponent(path.slice('/v1/models/'.length));
    return (DEMO_MODELS as readonly string[]).includes(id) ? json(res, 200, model(id)) : notFound(res, `The model '${id}' does not exist`);
  }
  if (req.method === 'POST' && path === '/v1/chat/completions') return chat(res, await readJson(req));
  if (req.method === 'POST' && path === '/v1/embeddings') return embeddings(res, await readJson(req));
  return notFound(res, `Unknown request URL: ${req.method} ${path}`);
}

function model(id: string) {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'llm-proxy-auth-demo' };
}

interface ChatBody {
  model?: unknown;
  messages?: Array<{ role?: unknown; content?: unknown }>;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
}

async function chat(res: ServerResponse, body: ChatBody): Promise<void> {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return json(res, 400, { error: { message: "'messages' must be a non-empty array", type: 'invalid_request_error', param: 'messages', code: null } });
  }
  const modelId = typeof body.model === 'string' ? body.model : 'demo-echo';
  const lastUser = [...body.messages].reverse().find((m) => m.role === 'user');
  const said = textOf(lastUser?.content).slice(0, 500);
  const reply = `You said: "${said}". This reply comes from the built-in demo upstream; add a provider instance to reach a real model.`;
  const words = reply.split(/(?<= )/);
  const usage = { prompt_tokens: countTokens(body.messages.map((m) => textOf(m.content)).join(' ')), completion_tokens: words.length, total_tokens: 0 };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const id = `chatcmpl-demo${randomBytes(8).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);

  if (body.stream !== true) {
    return json(res, 200, {
      id, object: 'chat.completion', created, model: modelId,
      choices: [{ index: 0, message: { role: 'assistant', content: reply, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage,
    });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const chunk = (delta: object, finish: string | null) => ({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const send = (obj: object) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  send(chunk({ role: 'assistant', content: '' }, null));
  for (const w of words) {
    if (res.destroyed) return;
    await sleep(CHUNK_DELAY_MS);
    send(chunk({ content: w }, null));
  }
  send(chunk({}, 'stop'));
  if (body.stream_options?.include_usage === true) send({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [], usage });
  res.end('data: [DONE]\n\n');
}

function embeddings(res: ServerResponse, body: { input?: unknown; model?: unknown }): void {
  const inputs = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) ? body.input.map(String) : undefined;
  if (!inputs || inputs.length === 0) {
    return json(res, 400, { error: { message: "'input' is required", type: 'invalid_request_error', param: 'input', code: null } });
  }
  const data = inputs.map((text, index) => {
    const digest = createHash('sha256').update(text).digest();
    const embedding = Array.from({ length: 8 }, (_, i) => (digest[i]! - 128) / 128);
    return { object: 'embedding', index, embedding };
  });
  const tokens = countTokens(inputs.join(' '));
  json(res, 200, { object: 'list', data, model: typeof body.model === 'string' ? body.model : 'demo-embed', usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
  return '';
}

function countTokens(text: string): number {
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(c);
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function notFound(res: ServerResponse, message: string): void {
  json(res, 404, { error: { message, type: 'invalid_request_error', param: null, code: 'not_found' } });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
