import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-protocol-0123456789';

describe('protocol mode: the OpenAI SDK through /openai/{instance} and /v1', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['PROTOCOL_TEST_KEY'] = PROVIDER_KEY;
    gw = await startGateway({
      instances: {
        oai: { type: 'openai', endpoint: emu.url, timeouts: { idle: '400ms' }, authentication: { type: 'api_key', api_key: '${env:PROTOCOL_TEST_KEY}' } },
      },
      model_aliases: { fast: 'oai/gpt-4o-mini' },
    });
    key = await gw.key({ name: 'protocol' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  const client = (baseURL: string, apiKey = key) => new OpenAI({ apiKey, baseURL, maxRetries: 0 });

  test('chat completion through /openai/{instance}: the provider key swapped in, the answer in OpenAI shape', async () => {
    emu.reset();
    const out = await client(`${gw.url}/openai/oai`).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(out.choices[0]?.message.content, OpenAIEmulator.REPLY.join(''));
    assert.equal(emu.last.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.equal(emu.last.path, '/v1/chat/completions');
    assert.ok(out.usage && out.usage.completion_tokens > 0);
  });

  test('streaming with include_usage: chunks as the SDK expects them, usage in the last one', async () => {
    const stream = await client(`${gw.url}/openai/oai`).chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text.join(''), OpenAIEmulator.REPLY.join(''));
    assert.ok(usage && usage.completion_tokens > 0);
    await gw.settle();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /llmproxy_requests_total\{instance="oai",provider="openai",region="",mode="protocol",status="200"\} [1-9]/);
    assert.match(metrics, /llmproxy_tokens_total\{instance="oai",model="gpt-4o",direction="output"\} [1-9]/);
  });

  test('/v1/chat/completions resolves an alias and "instance/model"; an unknown model is 404', async () => {
    emu.reset();
    const v1 = client(`${gw.url}/v1`);
    await v1.chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(JSON.parse(emu.last.body.toString('utf8')).model, 'gpt-4o-mini');
    await v1.chat.completions.create({ model: 'oai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(JSON.parse(emu.last.body.toString('utf8')).model, 'gpt-4o');
    await assert.rejects(v1.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.NotFoundError>) => {
      assert.equal(err.status, 404);
      assert.equal(err.code, 'unknown_model');
      return true;
    });
  });

  test('model scopes apply to the provider model an alias resolves to', async () => {
    const scoped = await gw.key({ name: 'mini-only', scopes: { instances: null, models: ['gpt-4o-mini'] } });
    const v1 = client(`${gw.url}/v1`, scoped);
    await v1.chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(v1.chat.completions.create({ model: 'oai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), { status: 403 });
  });

  test('provider errors become OpenAI errors: 429 keeps Retry-After, 400 keeps the message; bad input is a 400 that changes nothing', async () => {
    emu.reset();
    emu.inject({ status: 429, body: { error: { message: 'Rate limit reached for gpt-4o', type: 'requests', code: 'rate_limit_exceeded' } }, headers: { 'retry-after': '7' } });
    const raw = await fetch(`${gw.url}/openai/oai/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('retry-after'), '7');
    assert.match(((await raw.json()) as { error: { message: string } }).error.message, /Rate limit reached/);

    emu.inject({ status: 400, body: { error: { message: 'Invalid value for temperature', type: 'invalid_request_error' } } });
    await assert.rejects(client(`${gw.url}/openai/oai`).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /Invalid value for temperature/);
      return true;
    });

    const before = emu.requests.length;
    for (const body of ['not json', '{"messages":[]}', '{"model":"gpt-4o"}', '[]']) {
      const res = await fetch(`${gw.url}/openai/oai/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
      assert.equal(res.status, 400, body);
    }
    assert.equal(emu.requests.length, before, 'nothing reached the provider');
  });

  test('a provider stream that stops before [DONE] ends with an SSE error the SDK raises, not a clean end', async () => {
    emu.reset();
    emu.behaviour.stallAfterChunks = 2;
    const stream = await client(`${gw.url}/openai/oai`).chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      (err: Error) => {
        assert.match(err.message, /stopped sending|stream/);
        return true;
      },
    );
    assert.ok(seen.length >= 1, 'chunks before the failure were delivered');
    emu.reset();
  });

  test('tools: a tool call as JSON and streamed argument deltas, then the tool result sent back', async () => {
    const weather: OpenAI.ChatCompletionTool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } };
    const asked: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const sdk = client(`${gw.url}/openai/oai`);
    const out = await sdk.chat.completions.create({ model: 'gpt-4o', messages: asked, tools: [weather] });
    const call = out.choices[0]?.message.tool_calls?.[0];
    assert.equal(out.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}'), { location: 'Paris' });
    const streamed = await sdk.chat.completions.stream({ model: 'gpt-4o', messages: asked, tools: [weather] }).finalChatCompletion();
    const streamedCall = streamed.choices[0]?.message.tool_calls?.[0];
    assert.deepEqual(JSON.parse(streamedCall?.type === 'function' ? streamedCall.function.arguments : '{}'), { location: 'Paris' });
    emu.reset();
    const answer = await sdk.chat.completions.create({ model: 'gpt-4o', tools: [weather], messages: [...asked, out.choices[0]!.message, { role: 'tool', tool_call_id: call!.id, content: '18°C' }] });
    assert.equal(answer.choices[0]?.message.content, OpenAIEmulator.REPLY.join(''));
    const sent = JSON.parse(emu.last.body.toString('utf8')) as { messages: Array<{ role: string; tool_call_id?: string }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.equal(sent.messages[2]?.tool_call_id, call!.id);
  });

  test('/v1/models and /openai/{instance}/models list the provider models and the aliases the key may use', async () => {
    const all = await client(`${gw.url}/v1`).models.list();
    assert.deepEqual(all.data.map((m) => [m.id, m.owned_by]), [['oai/gpt-4o', 'oai'], ['oai/gpt-4o-mini', 'oai'], ['oai/text-embedding-3-small', 'oai'], ['fast', 'oai']]);
    const perInstance = await client(`${gw.url}/openai/oai`).models.list();
    assert.deepEqual(perInstance.data.map((m) => m.id), ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small', 'fast']);
    const other = await gw.key({ name: 'gpt-4o-only', scopes: { instances: null, models: ['gpt-4o'] } });
    assert.deepEqual((await client(`${gw.url}/v1`, other).models.list()).data.map((m) => m.id), ['oai/gpt-4o']);
    const wrongMethod = await fetch(`${gw.url}/openai/oai/chat/completions`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(wrongMethod.status, 404);
  });

  test('anonymous and wrong keys are refused before anything is read or forwarded', async () => {
    const before = emu.requests.length;
    await assert.rejects(client(`${gw.url}/v1`, 'llmp_wrong').chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }), { status: 401 });
    assert.equal(emu.requests.length, before);
  });
});
