import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/*
 * Issue 11, defect 4: malformed protocol-mode bodies crashed the Anthropic translator (shared by
 * Claude on Bedrock and on Vertex) with a 500, and deep bodies threw RangeError. Through a real
 * gateway: each is a 400 invalid_request_error naming the field, nothing reaches the provider;
 * a provider answer nested 50,000 deep or cut mid-body is a 502.
 */

const ANTHROPIC_KEY = 'sk-ant-malformed-0123456789abcdef';
const VERTEX_TOKEN = 'ya29.a0-malformed-test-token';
const PROJECT = 'proj-malformed-1';
const LOCATION = 'us-central1';

const user = { role: 'user', content: 'hi' };

/** The attacker campaign's bodies, with the param each must be refused with. */
const HOSTILE: Array<[string, Record<string, unknown>, string]> = [
  ['messages: [null]', { messages: [null] }, 'messages[0]'],
  ['content: 42', { messages: [{ role: 'user', content: 42 }] }, 'messages[0].content'],
  ['content: {...}', { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] }, 'messages[0].content'],
  ['tools: "x"', { messages: [user], tools: 'x' }, 'tools'],
  ['tools: [null]', { messages: [user], tools: [null] }, 'tools[0]'],
  ['tool_calls: "x"', { messages: [user, { role: 'assistant', content: null, tool_calls: 'x' }] }, 'messages[1].tool_calls'],
  ['tool_calls of the wrong type', { messages: [user, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'x', function: { name: 'f', arguments: '{}' } }] }] }, 'messages[1].tool_calls[0].type'],
  ['image_url: null', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: null }] }] }, 'messages[0].content[0].image_url'],
];

interface OpenAIErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

describe('protocol mode: malformed bodies are 400s naming the field, hostile answers 502s', () => {
  let anthropic: AnthropicEmulator;
  let vertex: VertexEmulator;
  let raw: Server;
  let rawAnswer: 'deep' | 'cut' = 'deep';
  let rawRequests = 0;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    anthropic = await new AnthropicEmulator([ANTHROPIC_KEY]).start();
    vertex = await new VertexEmulator([VERTEX_TOKEN], { project: PROJECT, location: LOCATION }).start();
    // A provider that answers 200 with JSON nested 50,000 deep, or half a body and a reset.
    raw = createServer((req, res) => {
      rawRequests++;
      req.resume();
      req.on('end', () => {
        if (rawAnswer === 'deep') {
          const body = `{"type":"message","content":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
        res.write('{"type":"message","content":[{"type":"text","text":"half');
        setImmediate(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    process.env['MALFORMED_ANTHROPIC_KEY'] = ANTHROPIC_KEY;
    process.env['MALFORMED_VERTEX_TOKEN'] = VERTEX_TOKEN;
    gw = await startGateway({
      instances: {
        claude: { type: 'anthropic', endpoint: anthropic.url, authentication: { type: 'api_key', api_key: '${env:MALFORMED_ANTHROPIC_KEY}' } },
        vtx: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: vertex.url, authentication: { type: 'access_token', token: '${env:MALFORMED_VERTEX_TOKEN}' } },
        rogue: { type: 'anthropic', endpoint: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, authentication: { type: 'api_key', api_key: '${env:MALFORMED_ANTHROPIC_KEY}' } },
        br: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
          control_endpoint: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
          authentication: { type: 'access_keys', access_key_id: 'AKIAMALFORMEDTEST000', secret_access_key: '${env:MALFORMED_ANTHROPIC_KEY}' },
        },
      },
    });
    key = await gw.key({ name: 'malformed' });
  });
  after(async () => {
    await gw.close();
    await anthropic.close();
    await vertex.close();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
  });

  const post = (path: string, body: string) =>
    fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });

  async function expectError(res: Response, status: number, code: string, type: string): Promise<OpenAIErrorBody['error']> {
    const text = await res.text();
    assert.equal(res.status, status, text);
    const error = (JSON.parse(text) as OpenAIErrorBody).error;
    assert.equal(error.code, code);
    assert.equal(error.type, type);
    return error;
  }

  const targets: Array<[string, string, string, () => number]> = [
    ['Anthropic', '/openai/claude/chat/completions', 'claude-sonnet-4-5', () => anthropic.requests.length],
    ['Claude on Vertex', '/openai/vtx/chat/completions', 'claude-sonnet-4', () => vertex.requests.length],
  ];
  for (const [provider, path, model, received] of targets) {
    for (const [name, fields, param] of HOSTILE) {
      test(`${provider}: ${name} → 400 invalid_request_error, param ${param}, nothing forwarded`, async () => {
        const before = received();
        const error = await expectError(await post(path, JSON.stringify({ model, ...fields })), 400, 'invalid_request', 'invalid_request_error');
        assert.equal(error.param, param);
        assert.ok(error.message.startsWith(`"${param}" `), error.message);
        assert.equal(received(), before, 'nothing reached the provider');
      });
    }
  }

  test('a body nested 10,000 deep is a 400 naming the limit (server.json_depth_limit, 128), nothing forwarded', async () => {
    const before = anthropic.requests.length;
    const body = `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const error = await expectError(await post('/openai/claude/chat/completions', body), 400, 'invalid_request', 'invalid_request_error');
    assert.equal(error.param, null);
    assert.match(error.message, /deeper than 128 levels/);
    const embeddings = await expectError(await post('/v1/embeddings', `{"model":"vtx/text-embedding-005","input":${'['.repeat(10_000)}${']'.repeat(10_000)}}`), 400, 'invalid_request', 'invalid_request_error');
    assert.match(embeddings.message, /deeper than 128 levels/);
    assert.equal(anthropic.requests.length, before);
  });

  test('the Bedrock legacy envelope: a body nested 10,000 deep is a 400 (AWS-flavoured), nothing forwarded', async () => {
    const before = rawRequests;
    const res = await fetch(`${gw.url}/bedrock/invoke-model`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-llmproxy-instance': 'br' },
      body: `{"modelId":"anthropic.claude-3-haiku-20240307-v1:0","body":{"messages":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`,
    });
    const error = await expectError(res, 400, 'invalid_request', 'invalid_request_error');
    assert.match(error.message, /deeper than 128 levels/);
    assert.equal(res.headers.get('x-amzn-errortype'), 'ValidationException');
    assert.equal(rawRequests, before);
  });

  test('the same bodies, well formed, still reach the provider and answer 200', async () => {
    const res = await post('/openai/claude/chat/completions', JSON.stringify({ model: 'claude-sonnet-4-5', messages: [user, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'ok' }] }));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { object: string }).object, 'chat.completion');
  });

  test('a provider answer nested 50,000 deep, or cut mid-body, is a 502 upstream error, not a 500', async () => {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', messages: [user] });
    rawAnswer = 'deep';
    const deep = await expectError(await post('/openai/rogue/chat/completions', body), 502, 'upstream_error', 'api_error');
    assert.match(deep.message, /nested deeper than/);
    rawAnswer = 'cut';
    const cut = await expectError(await post('/openai/rogue/chat/completions', body), 502, 'upstream_error', 'api_error');
    assert.match(cut.message, /^instance rogue: the provider's answer was cut off/);
    assert.equal(rawRequests, 2);
  });
});
