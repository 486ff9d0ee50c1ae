import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { DEFAULT_API_VERSION } from '../../src/providers/watsonx/index.js';
import { WatsonxEmulator, ibmError } from '../emulators/watsonx.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const IAM_TOKEN = 'eyJraWQiOiJ3YXRzb254LWVtdWxhdG9yIn0.iam-access-token';
const PROJECT = '8d3c6f2e-1111-4a4b-9c9d-0123456789ab';
const SPACE = 'c0ffee00-2222-4a4b-9c9d-0123456789ab';
const OTHER_PROJECT = 'deadbeef-3333-4a4b-9c9d-0123456789ab';
const MODEL = 'ibm/granite-3-8b-instruct';
const WEATHER = { type: 'function' as const, function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } };

describe('watsonx: the OpenAI SDK through /openai/{instance} and /v1, and transparent mode', () => {
  let emu: WatsonxEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    // The token can use two projects: a client must still only reach the instance's.
    emu = await new WatsonxEmulator([IAM_TOKEN], { projects: [PROJECT, OTHER_PROJECT], spaces: [SPACE] }).start();
    process.env['WX_TEST_IAM_TOKEN'] = IAM_TOKEN;
    process.env['WX_TEST_STALE_TOKEN'] = 'eyJraWQiOiJzdGFsZSJ9.expired';
    const auth = { type: 'bearer_token', token: '${env:WX_TEST_IAM_TOKEN}' };
    gw = await startGateway({
      instances: {
        wx: { type: 'watsonx', region: 'us-south', endpoint: emu.url, project_id: PROJECT, timeouts: { idle: '400ms' }, authentication: auth },
        wxspace: { type: 'watsonx', region: 'eu-de', endpoint: emu.url, space_id: SPACE, version: '2024-10-08', authentication: auth },
        wxstale: { type: 'watsonx', region: 'us-south', endpoint: emu.url, project_id: PROJECT, authentication: { type: 'bearer_token', token: '${env:WX_TEST_STALE_TOKEN}' } },
      },
      model_aliases: { granite: `wx/${MODEL}` },
    });
    key = await gw.key({ name: 'watsonx' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  const client = (baseURL: string, apiKey = key) => new OpenAI({ apiKey, baseURL, maxRetries: 0 });
  const sentBody = () => JSON.parse(emu.last.body.toString('utf8')) as Record<string, unknown>;
  const hi = [{ role: 'user' as const, content: 'hi' }];

  test('chat completion through /openai/{instance}: IAM token, project and version added; the answer in OpenAI shape', async () => {
    emu.reset();
    const { data, response } = await client(`${gw.url}/openai/wx`)
      .chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, ...hi], temperature: 0.2, max_tokens: 50, stop: 'END', user: 'u-1' })
      .withResponse();
    assert.equal(data.choices[0]?.message.content, WatsonxEmulator.REPLY.join(''));
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.equal(data.model, MODEL);
    assert.equal(data.object, 'chat.completion');
    assert.deepEqual(data.usage, { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    assert.equal(response.headers.get('x-llmproxy-dropped-params'), 'user');

    assert.equal(emu.last.path, '/ml/v1/text/chat');
    assert.equal(emu.last.query, `version=${DEFAULT_API_VERSION}`);
    assert.equal(emu.last.headers.authorization, `Bearer ${IAM_TOKEN}`);
    assert.ok(!JSON.stringify(emu.last.headers).includes(key), 'the gateway key never reaches watsonx');
    assert.deepEqual(sentBody(), {
      model_id: MODEL,
      project_id: PROJECT,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }],
      temperature: 0.2,
      max_tokens: 50,
      stop: ['END'],
    });
  });

  test('streaming with include_usage through /v1 and an alias: chunks as the SDK expects them, usage last', async () => {
    emu.reset();
    const stream = await client(`${gw.url}/v1`).chat.completions.create({ model: 'granite', stream: true, stream_options: { include_usage: true }, messages: hi });
    const text: string[] = [];
    const finishes: Array<string | null> = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text.push(chunk.choices[0]?.delta.content ?? '');
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      if (chunk.usage) {
        usage = chunk.usage;
        assert.deepEqual(chunk.choices, []);
      }
      assert.equal(chunk.model, MODEL);
    }
    assert.equal(text.join(''), WatsonxEmulator.REPLY.join(''));
    assert.deepEqual(finishes, ['stop']);
    assert.deepEqual(usage, { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    assert.equal(chunks, 1 + WatsonxEmulator.REPLY.length + 2);
    assert.equal(emu.last.path, '/ml/v1/text/chat_stream');
    assert.equal(sentBody()['model_id'], MODEL);
    await gw.settle();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /llmproxy_requests_total\{instance="wx",provider="watsonx",region="us-south",mode="protocol",status="200"\} [1-9]/);
    assert.match(metrics, /llmproxy_tokens_total\{instance="wx",model="ibm\/granite-3-8b-instruct",direction="output"\} [1-9]/);
  });

  test('tools: the call comes back whole, and streamed argument deltas assemble to the same call', async () => {
    emu.reset();
    const c = client(`${gw.url}/openai/wx`);
    const out = await c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [WEATHER], tool_choice: 'required' });
    const call = out.choices[0]?.message.tool_calls?.[0];
    assert.equal(out.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(out.choices[0]?.message.content, null);
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });
    assert.equal(sentBody()['tool_choice_option'], 'required');
    assert.deepEqual(sentBody()['tools'], [WEATHER]);

    const stream = c.chat.completions.stream({ model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    assert.ok(streamed && streamed.type === 'function');
    assert.equal(streamed.function.name, 'get_weather');
    assert.equal(streamed.function.arguments, WatsonxEmulator.TOOL_ARGUMENTS.join(''));
    assert.deepEqual(sentBody()['tool_choice'], { type: 'function', function: { name: 'get_weather' } });

    // The next turn carries the call and its result back.
    const next = await c.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris?' }, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21°C' }],
      tools: [WEATHER],
      tool_choice: 'none',
    });
    assert.equal(next.choices[0]?.message.content, WatsonxEmulator.REPLY.join(''));
    assert.deepEqual((sentBody()['messages'] as unknown[]).slice(1), [
      { role: 'assistant', tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: call.function.arguments } }] },
      { role: 'tool', content: 'sunny, 21°C', tool_call_id: call.id },
    ]);
  });

  test('a space instance bills its space, with its own API version', async () => {
    emu.reset();
    const out = await client(`${gw.url}/openai/wxspace`).chat.completions.create({ model: MODEL, messages: hi, n: 2 });
    assert.equal(out.choices.length, 2);
    assert.equal(sentBody()['space_id'], SPACE);
    assert.equal(sentBody()['project_id'], undefined);
    assert.equal(emu.last.query, 'version=2024-10-08');
  });

  test('errors: 429 stays 429 with Retry-After and IBM\'s message; 400 keeps the message; a refused parameter never leaves', async () => {
    emu.reset();
    emu.inject({ status: 429, body: ibmError(429, 'token_quota_reached', 'Token quota reached for the project'), headers: { 'retry-after': '9' } });
    const raw = await fetch(`${gw.url}/openai/wx/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: hi }) });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('retry-after'), '9');
    const body = (await raw.json()) as { error: { message: string; code: string } };
    assert.equal(body.error.code, 'upstream_rate_limited');
    assert.match(body.error.message, /Token quota reached for the project \(token_quota_reached\)/);

    emu.inject({ status: 400, body: ibmError(400, 'json_validation_error', 'Model ibm/nope is not supported') });
    await assert.rejects(client(`${gw.url}/openai/wx`).chat.completions.create({ model: 'ibm/nope', messages: hi }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /Model ibm\/nope is not supported/);
      return true;
    });

    const before = emu.requests.length;
    await assert.rejects(client(`${gw.url}/openai/wx`).chat.completions.create({ model: MODEL, messages: hi, functions: [WEATHER.function] }), { status: 400 });
    assert.equal(emu.requests.length, before, 'nothing reached watsonx');
  });

  test('a token watsonx rejects is the operator\'s problem: 502, and its 401 body is not passed on', async () => {
    await assert.rejects(client(`${gw.url}/openai/wxstale`).chat.completions.create({ model: MODEL, messages: hi }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 502);
      assert.equal(err.code, 'upstream_credential_rejected');
      assert.ok(!err.message.includes('Failed to parse'));
      return true;
    });
  });

  test('a stream that stalls, or an error event mid-stream, ends in an SSE error the SDK raises', async () => {
    emu.reset();
    emu.behaviour.stallAfterChunks = 2;
    const stalled = await client(`${gw.url}/openai/wx`).chat.completions.create({ model: MODEL, stream: true, messages: hi });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stalled) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      /stopped sending|stream/,
    );
    assert.ok(seen.length >= 1, 'chunks before the failure were delivered');
    emu.reset();

    const failing = await client(`${gw.url}/openai/wx`).chat.completions.create({ model: 'emulator-stream-error', stream: true, messages: hi });
    await assert.rejects(
      (async () => {
        for await (const chunk of failing) void chunk;
      })(),
      (err: Error) => {
        assert.match(err.message, /Model inference failed mid-stream/);
        return true;
      },
    );
  });

  describe('transparent mode', () => {
    const post = (path: string, body: string, apiKey = key) =>
      fetch(`${gw.url}/transparent/wx${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body });

    test('an inference call naming no project gets the instance\'s; one naming it goes byte for byte', async () => {
      emu.reset();
      const res = await post(`/ml/v1/text/chat?version=${DEFAULT_API_VERSION}`, JSON.stringify({ model_id: MODEL, messages: hi }));
      assert.equal(res.status, 200);
      const answer = (await res.json()) as { model_id: string; choices: Array<{ message: { content: string } }> };
      assert.equal(answer.model_id, MODEL, 'watsonx\'s own answer, untranslated');
      assert.equal(answer.choices[0]?.message.content, WatsonxEmulator.REPLY.join(''));
      assert.equal(emu.last.body.toString('utf8'), JSON.stringify({ project_id: PROJECT, model_id: MODEL, messages: hi }));
      assert.equal(emu.last.headers.authorization, `Bearer ${IAM_TOKEN}`);
      assert.equal(emu.last.query, `version=${DEFAULT_API_VERSION}`);

      const exact = `{ "project_id": "${PROJECT}", "model_id": "${MODEL}", "inputs": ["a", "b"] }`;
      const embedded = await post(`/ml/v1/text/embeddings?version=${DEFAULT_API_VERSION}`, exact);
      assert.equal(embedded.status, 200);
      assert.equal(emu.last.body.toString('utf8'), exact);
      assert.equal(emu.last.headers['content-length'], String(Buffer.byteLength(exact)));
    });

    test('a body naming another project, or a space, is refused before it leaves', async () => {
      emu.reset();
      for (const body of [{ project_id: OTHER_PROJECT }, { space_id: SPACE }, { project_id: PROJECT, space_id: SPACE }]) {
        const res = await post(`/ml/v1/text/chat?version=${DEFAULT_API_VERSION}`, JSON.stringify({ model_id: MODEL, messages: hi, ...body }));
        assert.equal(res.status, 403, JSON.stringify(body));
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'permission_denied');
      }
      const repeated = await post(`/ml/v1/text/generation?version=${DEFAULT_API_VERSION}`, `{"project_id":"${OTHER_PROJECT}","model_id":"${MODEL}","input":"x","project_id":"${PROJECT}"}`);
      assert.equal(repeated.status, 400);
      assert.equal(emu.requests.length, 0, 'nothing reached watsonx');
    });

    test('streams pass through byte for byte and are accounted; generation and model specs work', async () => {
      emu.reset();
      const res = await post(`/ml/v1/text/chat_stream?version=${DEFAULT_API_VERSION}`, JSON.stringify({ model_id: MODEL, messages: hi }));
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const text = await res.text();
      assert.match(text, /^id: 1\nevent: message\ndata: \{/);
      assert.match(text, /"choices":\[\],.*"usage":\{"completion_tokens":6,"prompt_tokens":12,"total_tokens":18\}/);

      const generated = await post(`/ml/v1/text/generation?version=${DEFAULT_API_VERSION}`, JSON.stringify({ model_id: MODEL, input: 'Say hello' }));
      assert.equal(((await generated.json()) as { results: Array<{ generated_text: string }> }).results[0]?.generated_text, WatsonxEmulator.REPLY.join(''));
      assert.equal(sentBody()['project_id'], PROJECT);

      // `watsonx` names the type's default instance, the first one configured.
      const specs = await fetch(`${gw.url}/transparent/watsonx/ml/v1/foundation_model_specs?version=${DEFAULT_API_VERSION}&limit=10`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(specs.status, 200);
      assert.ok(((await specs.json()) as { resources: unknown[] }).resources.length > 0);

      await gw.settle();
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_requests_total\{instance="wx",provider="watsonx",region="us-south",mode="transparent",status="200"\} [1-9]/);
      assert.match(metrics, /llmproxy_tokens_total\{instance="wx",model="ibm\/granite-3-8b-instruct",direction="input"\} [1-9]/);
    });

    test('only inference routes are open; watsonx\'s own errors pass through', async () => {
      emu.reset();
      const deployments = await post(`/ml/v4/deployments?version=${DEFAULT_API_VERSION}`, JSON.stringify({ name: 'd', project_id: PROJECT }));
      assert.equal(deployments.status, 403);
      assert.equal(((await deployments.json()) as { error: { code: string } }).error.code, 'path_not_allowed');
      assert.equal(emu.requests.length, 0);

      const noVersion = await post('/ml/v1/text/chat', JSON.stringify({ model_id: MODEL, messages: hi }));
      assert.equal(noVersion.status, 400);
      const ibm = (await noVersion.json()) as { errors: Array<{ code: string }>; status_code: number };
      assert.equal(ibm.status_code, 400, 'IBM\'s own error body');
    });

    test('a model-scoped key may not name another model in model_id', async () => {
      const scoped = await gw.key({ name: 'granite-only', scopes: { instances: null, models: [MODEL] } });
      const res = await post(`/ml/v1/text/chat?version=${DEFAULT_API_VERSION}`, JSON.stringify({ model_id: 'meta-llama/llama-3-405b-instruct', messages: hi }), scoped);
      assert.equal(res.status, 403);
    });
  });
});
