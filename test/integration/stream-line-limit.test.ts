import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { requestLogs, startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 11, defect 5: a provider stream with one huge line. The gateway relays long lines in
 * linear time (so /health keeps answering), and past `server.stream_line_limit` it cuts the
 * stream: protocol mode ends with an SSE error object, transparent mode ends the response
 * abnormally; the upstream request is aborted either way.
 */

const PROVIDER_KEY = 'sk-provider-line-limit-0123456789';
process.env['TEST_LINE_LIMIT_KEY'] = PROVIDER_KEY;
const PIECE = 64 * 1024;

const firstChunk = { id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' }, logprobs: null, finish_reason: null }] };
const lastChunk = { id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] };

/** What the upstream does for one request: the model names the size of the long line. */
interface Plan {
  /** Length of the long chunk's content, in bytes. */
  size: number;
  /** Resolved by the test: the upstream stops halfway through the long line until then. */
  gate?: Promise<void>;
}

/**
 * A tiny OpenAI-like upstream: a first chunk, then one chunk whose content is `size` bytes
 * (written in 64 KiB pieces, with backpressure), then a finish chunk and [DONE]. Records
 * whether each response was cut by the gateway before it was complete.
 */
class LongLineUpstream {
  readonly server: Server;
  plan: Plan = { size: 0 };
  /** Per request: true when the gateway closed the connection before the upstream finished; undefined while open. */
  readonly aborted: Array<boolean | undefined> = [];
  #halfway: (() => void) | undefined;

  constructor() {
    this.server = createServer((req, res) => void this.#serve(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves when the upstream has written half of the next long line. */
  halfway(): Promise<void> {
    return new Promise((r) => (this.#halfway = r));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req); // the body is not needed
    const n = this.aborted.push(undefined) - 1;
    res.on('close', () => (this.aborted[n] = !res.writableFinished));
    if (req.headers.authorization !== `Bearer ${PROVIDER_KEY}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}');
      return;
    }
    const { size, gate } = this.plan;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify(firstChunk)}\n\n`);
    const head = `data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"`;
    if (!(await write(res, head))) return;
    const piece = 'x'.repeat(PIECE);
    for (let sent = 0; sent < size; sent += PIECE) {
      if (gate && sent >= size / 2 && sent < size / 2 + PIECE) {
        this.#halfway?.();
        await gate;
      }
      if (!(await write(res, piece.slice(0, Math.min(PIECE, size - sent))))) return;
    }
    if (!(await write(res, `"},"logprobs":null,"finish_reason":null}]}\n\ndata: ${JSON.stringify(lastChunk)}\n\ndata: [DONE]\n\n`))) return;
    res.end();
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Writes `text`, waiting for drain; false when the connection is gone. */
async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(text)) return true;
  return new Promise((r) => {
    const drained = () => {
      res.off('close', closed);
      r(true);
    };
    const closed = () => {
      res.off('drain', drained);
      r(false);
    };
    res.once('drain', drained);
    res.once('close', closed);
  });
}

interface Answer {
  status: number;
  body: string;
  /** The response ended properly (not cut by a reset). */
  complete: boolean;
}

/** A POST over a fresh connection; the body as far as it came, and whether it ended properly. */
function post(url: string, key: string, body: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const done = (complete: boolean) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), complete });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(res.complete));
      res.on('error', () => done(false));
      res.on('close', () => done(res.complete));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** The `data:` payloads of an SSE body. */
function dataOf(body: string): string[] {
  return body
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      assert.ok(block.startsWith('data: '), `unexpected block ${block.slice(0, 80)}`);
      return block.slice('data: '.length);
    });
}

const chatBody = { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true };

function gatewayConfig(upstream: string, limit: string): Record<string, unknown> {
  return {
    server: { stream_line_limit: limit },
    instances: { up: { type: 'openai', endpoint: upstream, authentication: { type: 'api_key', api_key: '${env:TEST_LINE_LIMIT_KEY}' } } },
  };
}

describe('a provider line past server.stream_line_limit (64kb here)', () => {
  const upstream = new LongLineUpstream();
  let gw: TestGateway;
  let key: string;

  before(async () => {
    gw = await startGateway(gatewayConfig(await upstream.start(), '64kb'));
    key = await gw.key();
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('protocol mode: the translated stream ends with an SSE error object, and the upstream request is aborted', async () => {
    upstream.plan = { size: 4 * 1024 * 1024 };
    const answer = await post(`${gw.url}/openai/up/chat/completions`, key, chatBody);
    assert.equal(answer.status, 200);
    assert.equal(answer.complete, true);
    const data = dataOf(answer.body);
    assert.equal(data.length, 2);
    assert.deepEqual(JSON.parse(data[0]!), firstChunk);
    assert.deepEqual(JSON.parse(data[1]!), {
      error: { message: "the provider sent a stream line longer than 65536 bytes, the gateway's limit; the stream was cut", type: 'api_error', code: 'upstream_error', param: null },
    });
    await until('the upstream response closed', () => upstream.aborted.at(-1) !== undefined);
    assert.equal(upstream.aborted.at(-1), true);
    await gw.settle();
    assert.equal(requestLogs(gw).at(-1)?.['error'], 'upstream_error');
  });

  test('transparent mode: the response is cut (no clean end), and the upstream request is aborted', async () => {
    upstream.plan = { size: 4 * 1024 * 1024 };
    const answer = await post(`${gw.url}/transparent/up/v1/chat/completions`, key, chatBody);
    assert.equal(answer.status, 200);
    assert.equal(answer.complete, false);
    // The bytes that did pass are the upstream's, unchanged: the first event, then the long line's start.
    assert.ok(answer.body.startsWith(`data: ${JSON.stringify(firstChunk)}\n\ndata: {"id":"chatcmpl-up"`));
    assert.ok(!answer.body.includes('[DONE]'));
    assert.ok(answer.body.length < 2 * 65536 + 1024, `${answer.body.length} bytes passed: no more than the limit and a piece`);
    await until('the upstream response closed', () => upstream.aborted.at(-1) !== undefined);
    assert.equal(upstream.aborted.at(-1), true);
    await gw.settle();
    assert.equal(requestLogs(gw).at(-1)?.['error'], 'upstream_error');
  });

  test('lines within the limit pass in both modes', async () => {
    upstream.plan = { size: 60_000 };
    const proto = await post(`${gw.url}/openai/up/chat/completions`, key, chatBody);
    assert.equal(proto.complete, true);
    const data = dataOf(proto.body);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal((JSON.parse(data[1]!) as typeof firstChunk).choices[0]!.delta.content, 'x'.repeat(60_000));
    const transparent = await post(`${gw.url}/transparent/up/v1/chat/completions`, key, chatBody);
    assert.equal(transparent.complete, true);
    assert.ok(transparent.body.endsWith('data: [DONE]\n\n'));
  });
});

describe('a long line within the limit (16mb here) is relayed while /health answers', () => {
  const upstream = new LongLineUpstream();
  let gw: TestGateway;
  let key: string;

  before(async () => {
    gw = await startGateway(gatewayConfig(await upstream.start(), '16mb'));
    key = await gw.key();
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  for (const [mode, path] of [
    ['protocol', '/openai/up/chat/completions'],
    ['transparent', '/transparent/up/v1/chat/completions'],
  ] as const) {
    test(`${mode} mode: an 8 MB line arrives whole; /health answers halfway through it`, async () => {
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      upstream.plan = { size: 8 * 1024 * 1024, gate };
      const halfway = upstream.halfway();
      const pending = post(`${gw.url}${path}`, key, chatBody);
      await halfway;
      const health = await fetch(`${gw.url}/health`);
      assert.equal(health.status, 200);
      await health.arrayBuffer();
      open();
      const answer = await pending;
      assert.equal(answer.status, 200);
      assert.equal(answer.complete, true);
      const data = dataOf(answer.body);
      assert.equal(data.length, 4);
      assert.equal((JSON.parse(data[1]!) as typeof firstChunk).choices[0]!.delta.content, 'x'.repeat(8 * 1024 * 1024));
      assert.equal(data[3], '[DONE]');
      await until('the upstream response closed', () => upstream.aborted.at(-1) !== undefined);
      assert.equal(upstream.aborted.at(-1), false);
    });
  }
});
