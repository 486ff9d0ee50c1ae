import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requestLogs, startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-openai-0123456789abcdef';
process.env['TEST_OPENAI_KEY'] = PROVIDER_KEY;

describe('transparent mode: OpenAI SDK through the gateway', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let key: string;
  let client: OpenAI;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      instances: {
        openai: {
          type: 'openai',
          endpoint: emu.url,
          organization: 'org-gateway',
          authentication: { type: 'api_key', api_key: '${env:TEST_OPENAI_KEY}' },
        },
      },
    });
    key = await gw.key({ name: 'sdk' });
    client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/transparent/openai/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  /** The gateway key must not appear in anything the provider received. */
  function assertNoGatewayKeyUpstream(): void {
    for (const r of emu.requests) {
      const everything = JSON.stringify(r.headers) + r.body.toString('utf8') + r.query;
      assert.ok(!everything.includes(key), 'the gateway key reached the provider');
      assert.ok(!everything.includes('llmp_'), 'something shaped like a gateway key reached the provider');
    }
  }

  test('chat completion: provider key swapped in, gateway key never forwarded', async () => {
    emu.reset();
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]?.message.content, OpenAIEmulator.REPLY.join(''));
    assert.equal(completion.usage?.total_tokens, 15);
    assert.equal(emu.last.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.equal(emu.last.path, '/v1/chat/completions');
    assert.equal(emu.last.headers['openai-organization'], 'org-gateway');
    assertNoGatewayKeyUpstream();
  });

  test('streaming chat completion with usage arrives chunk by chunk, unchanged', async () => {
    emu.reset();
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, OpenAIEmulator.REPLY.join(''));
    assert.equal(chunks, OpenAIEmulator.REPLY.length + 3); // role chunk, words, finish, usage
    assert.equal(usage?.completion_tokens, OpenAIEmulator.REPLY.length);
    assertNoGatewayKeyUpstream();
  });

  test('models, embeddings, completions and the Responses API (JSON and streamed)', async () => {
    emu.reset();
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
    const one = await client.models.retrieve('gpt-4o-mini');
    assert.equal(one.id, 'gpt-4o-mini');
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);
    const cmpl = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x' });
    assert.equal(cmpl.choices[0]?.text, OpenAIEmulator.REPLY.join(''));
    const resp = await client.responses.create({ model: 'gpt-4o', input: 'hi' });
    assert.equal(resp.output_text, OpenAIEmulator.REPLY.join(''));
    const events: string[] = [];
    for await (const ev of await client.responses.create({ model: 'gpt-4o', input: 'hi', stream: true })) events.push(ev.type);
    assert.equal(events[0], 'response.created');
    assert.equal(events[events.length - 1], 'response.completed');
    assertNoGatewayKeyUpstream();
  });

  test('the provider type names the default instance', async () => {
    emu.reset();
    const viaType = new OpenAI({ apiKey: key, baseURL: `${gw.url}/transparent/openai/v1`, maxRetries: 0 });
    await viaType.models.list();
    assert.equal(emu.last.path, '/v1/models');
  });

  test('every client credential header and gateway control header is stripped', async () => {
    emu.reset();
    const res = await fetch(`${gw.url}/transparent/openai/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `bearer ${key}`,
        'x-api-key': 'client-x-api-key-value',
        'api-key': 'client-azure-key-value',
        'x-goog-api-key': 'client-goog-key-value',
        'x-totp-code': '123456',
        cookie: 'session=client-cookie-value',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-llmproxy-instance': 'other',
        'openai-organization': 'org-client-chosen',
        'x-forwarded-for': '10.1.2.3',
        'content-type': 'application/json',
        'x-custom-header': 'kept',
      },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    const h = emu.last.headers;
    assert.equal(h.authorization, `Bearer ${PROVIDER_KEY}`);
    for (const gone of ['x-api-key', 'api-key', 'x-goog-api-key', 'x-totp-code', 'cookie', 'proxy-authorization', 'x-llmproxy-instance', 'x-forwarded-for']) {
      assert.equal(h[gone], undefined, `${gone} was forwarded`);
    }
    assert.equal(h['openai-organization'], 'org-gateway');
    assert.equal(h['x-custom-header'], 'kept');
    assert.equal(h['accept-encoding'], 'identity');
    assertNoGatewayKeyUpstream();
  });

  test('the key is accepted from every documented header', async () => {
    const headerSets: Array<Record<string, string>> = [
      { authorization: `Bearer ${key}` },
      { authorization: `BEARER ${key}` },
      { 'x-api-key': key },
      { 'X-API-Key': key },
      { 'api-key': key },
      { 'x-goog-api-key': key },
    ];
    for (const headers of headerSets) {
      const res = await fetch(`${gw.url}/transparent/openai/v1/models`, { headers });
      assert.equal(res.status, 200, JSON.stringify(Object.keys(headers)));
    }
    assertNoGatewayKeyUpstream();
  });

  test('request ids: upstream x-request-id kept, gateway id always in X-LLMProxy-Request-Id, incoming id honoured', async () => {
    const res = await fetch(`${gw.url}/transparent/openai/v1/models`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': 'client-trace-42' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-llmproxy-request-id'), 'client-trace-42');
    assert.match(res.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{24}$/); // the provider's
    const bad = await fetch(`${gw.url}/transparent/openai/v1/models`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': 'has spaces and {json}' } });
    assert.match(bad.headers.get('x-llmproxy-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const denied = await fetch(`${gw.url}/transparent/openai/v1/models`, { headers: { 'x-request-id': 'trace-on-error' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('x-request-id'), 'trace-on-error');
    assert.equal(denied.headers.get('x-llmproxy-request-id'), 'trace-on-error');
  });

  test('provider errors pass through with their status, body and Retry-After', async () => {
    emu.reset();
    emu.inject({ status: 429, headers: { 'retry-after': '7' }, body: { error: { message: 'Rate limit reached for gpt-4o', type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.status, 429);
      assert.equal(err.headers?.get('retry-after'), '7');
      assert.equal(err.code, 'rate_limit_exceeded');
      return true;
    });
    emu.inject({ status: 500, body: { error: { message: 'The server had an error', type: 'server_error', param: null, code: null } } });
    await assert.rejects(client.models.list(), (err: unknown) => err instanceof OpenAI.InternalServerError && err.message.includes('The server had an error'));
  });

  test('a provider 401 (bad gateway credential) becomes a 502 that leaks nothing of the provider key', async () => {
    emu.reset();
    emu.acceptedKeys.clear();
    emu.acceptedKeys.add('sk-some-other-key');
    try {
      const res = await fetch(`${gw.url}/transparent/openai/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      const body = await res.text();
      assert.equal(res.status, 502);
      assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'upstream_credential_rejected');
      assert.ok(!body.includes(PROVIDER_KEY.slice(-4)) && !body.includes('sk-'), body);
    } finally {
      emu.acceptedKeys.add(PROVIDER_KEY);
    }
  });

  test('usage and requests are counted in metrics, and no log line holds a secret', async () => {
    await gw.settle();
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(text, /llmproxy_tokens_total\{instance="openai",model="gpt-4o",direction="output"\} \d+/);
    assert.match(text, /llmproxy_requests_total\{instance="openai",provider="openai",region="",mode="transparent",status="200"\} \d+/);
    assert.match(text, /llmproxy_requests_total\{instance="openai",provider="openai",region="",mode="transparent",status="502"\} 1/);
    const all = gw.logs.join('\n');
    assert.ok(!all.includes(key.slice(18)), 'gateway key secret in logs');
    assert.ok(!all.includes(PROVIDER_KEY), 'provider key in logs');
    const lines = requestLogs(gw);
    assert.ok(lines.some((l) => l['status'] === 200 && (l['auth'] as { result: string }).result === 'success'));
  });
});
