import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'ya29.a0-vertex-protocol-test-token';
const PROJECT = 'proj-test-1';
const LOCATION = 'us-central1';
const MODEL_PATH = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.0-flash`;
const WEATHER_TOOL: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

type NativeBody = { contents: Array<{ role: string; parts: Array<Record<string, unknown>> }>; systemInstruction?: unknown; generationConfig?: Record<string, unknown>; tools?: unknown; toolConfig?: unknown };

describe('Vertex AI (Gemini): the OpenAI SDK in protocol mode, and transparent mode', () => {
  let emu: VertexEmulator;
  let gw: TestGateway;
  let key: string;
  let client: OpenAI;

  before(async () => {
    emu = await new VertexEmulator([TOKEN], { project: PROJECT, location: LOCATION }).start();
    process.env['VERTEX_PROTOCOL_TOKEN'] = TOKEN;
    process.env['VERTEX_PROTOCOL_STALE_TOKEN'] = 'ya29.a0-expired-token';
    gw = await startGateway({
      instances: {
        vtx: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: emu.url, timeouts: { idle: '1s' }, authentication: { type: 'access_token', token: '${env:VERTEX_PROTOCOL_TOKEN}' } },
        vtx_stale: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: emu.url, authentication: { type: 'access_token', token: '${env:VERTEX_PROTOCOL_STALE_TOKEN}' } },
      },
      model_aliases: { flash: 'vtx/gemini-2.0-flash' },
    });
    key = await gw.key({ name: 'vertex' });
    client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  const native = () => JSON.parse(emu.last.body.toString('utf8')) as NativeBody;

  test('a chat completion through /openai/{instance} becomes generateContent in the instance project and location, with the access token', async () => {
    emu.reset();
    const direct = new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/vtx`, maxRetries: 0 });
    const out = await direct.chat.completions.create({
      model: 'gemini-2.0-flash',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi there' }],
      max_tokens: 50,
      temperature: 0.2,
    });
    assert.equal(out.choices[0]?.message.content, VertexEmulator.REPLY.join(''));
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.equal(out.model, 'gemini-2.0-flash');
    assert.deepEqual(out.usage, { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });
    assert.equal(emu.last.path, `${MODEL_PATH}:generateContent`);
    assert.equal(emu.last.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(native(), {
      contents: [{ role: 'user', parts: [{ text: 'hi there' }] }],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { maxOutputTokens: 50, temperature: 0.2 },
    });
  });

  test('streaming through /v1 with an alias and include_usage: SSE from Vertex, OpenAI chunks out, usage last; tokens accounted', async () => {
    emu.reset();
    const stream = await client.chat.completions.create({ model: 'flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text.join(''), VertexEmulator.REPLY.join(''));
    assert.equal(finish, 'stop');
    assert.deepEqual(usage, { prompt_tokens: 1, completion_tokens: 6, total_tokens: 7 });
    assert.equal(emu.last.path, `${MODEL_PATH}:streamGenerateContent`);
    assert.equal(emu.last.query, 'alt=sse');
    await gw.settle();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /llmproxy_requests_total\{instance="vtx",provider="vertex",region="us-central1",mode="protocol",status="200"\} [1-9]/);
    assert.match(metrics, /llmproxy_tokens_total\{instance="vtx",model="gemini-2.0-flash",direction="output"\} [1-9]/);
  });

  test('a claude-* model goes to the Anthropic publisher through :rawPredict and :streamRawPredict', async () => {
    emu.reset();
    const claude = new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/vtx`, maxRetries: 0 });
    const CLAUDE_PATH = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/anthropic/models/claude-3-5-haiku@20241022`;
    const out = await claude.chat.completions.create({ model: 'claude-3-5-haiku@20241022', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 64 });
    assert.equal(out.choices[0]?.message.content, VertexEmulator.REPLY.join(''));
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.ok(out.usage && out.usage.completion_tokens === VertexEmulator.REPLY.length);
    assert.equal(emu.last.path, `${CLAUDE_PATH}:rawPredict`);
    assert.equal(emu.last.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(JSON.parse(emu.last.body.toString('utf8')), { anthropic_version: 'vertex-2023-10-16', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] });

    const stream = await claude.chat.completions.create({ model: 'claude-3-5-haiku@20241022', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text.join(''), VertexEmulator.REPLY.join(''));
    assert.equal(finish, 'stop');
    assert.equal(usage?.completion_tokens, VertexEmulator.REPLY.length);
    assert.equal(emu.last.path, `${CLAUDE_PATH}:streamRawPredict`);
    const sent = JSON.parse(emu.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(sent['anthropic_version'], 'vertex-2023-10-16');
    assert.equal(sent['stream'], true);
    assert.equal(sent['model'], undefined);
  });

  test('a tool call round trip: functionCall out, the result back as a functionResponse named after the call', async () => {
    emu.reset();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await client.chat.completions.create({ model: 'flash', messages, tools: [WEATHER_TOOL] });
    const choice = first.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.match(call.id, /^call_/);
    assert.deepEqual(native().tools, [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER_TOOL.function.parameters }] }]);

    messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '{"temp_c":21}' });
    const second = await client.chat.completions.create({ model: 'flash', messages, tools: [WEATHER_TOOL] });
    assert.equal(second.choices[0]?.message.content, 'The tool said: {"output":"{\\"temp_c\\":21}"}');
    assert.deepEqual(native().contents, [
      { role: 'user', parts: [{ text: 'What is the weather in Paris?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: '{"temp_c":21}' } } }] },
    ]);
  });

  test('a streamed tool call, forced with tool_choice', async () => {
    emu.reset();
    const stream = await client.chat.completions.create({
      model: 'flash',
      stream: true,
      messages: [{ role: 'user', content: 'hello' }],
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const calls: Array<{ name?: string | undefined; arguments?: string | undefined }> = [];
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      for (const c of chunk.choices[0]?.delta.tool_calls ?? []) calls.push({ name: c.function?.name, arguments: c.function?.arguments });
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.deepEqual(calls, [{ name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(native().toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
  });

  test('n candidates and MAX_TOKENS come back as choices with finish_reason length', async () => {
    emu.reset();
    const out = await client.chat.completions.create({ model: 'flash', n: 2, max_completion_tokens: 3, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(out.choices.map((c) => [c.index, c.message.content, c.finish_reason]), [[0, 'Hello from the', 'length'], [1, 'Hello from the', 'length']]);
  });

  test('provider errors reach the SDK as OpenAI errors: 429 with Retry-After, 400 with Google\'s message, 404 for an unknown model', async () => {
    emu.reset();
    emu.inject({ status: 429, body: { error: { code: 429, message: 'Resource exhausted. Please try again later.', status: 'RESOURCE_EXHAUSTED' } }, headers: { 'retry-after': '3' } });
    await assert.rejects(client.chat.completions.create({ model: 'flash', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.RateLimitError>) => {
      assert.equal(err.status, 429);
      assert.equal(err.headers.get('retry-after'), '3');
      assert.match(err.message, /vtx: RESOURCE_EXHAUSTED: Resource exhausted/);
      return true;
    });
    emu.inject({ status: 400, body: { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } } });
    await assert.rejects(client.chat.completions.create({ model: 'flash', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /INVALID_ARGUMENT: Request contains an invalid argument/);
      return true;
    });
    await assert.rejects(client.chat.completions.create({ model: 'vtx/palm-2', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.NotFoundError>) => {
      assert.equal(err.status, 404);
      assert.match(err.message, /Publisher Model `projects\/proj-test-1\/locations\/us-central1\/publishers\/google\/models\/palm-2` not found/);
      return true;
    });
  });

  test('a token Vertex rejects (401 UNAUTHENTICATED) is the gateway\'s problem: 502 upstream_credential_rejected in both modes', async () => {
    emu.reset();
    const stale = new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/vtx_stale`, maxRetries: 0 });
    await assert.rejects(stale.chat.completions.create({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 502);
      assert.equal(err.code, 'upstream_credential_rejected');
      return true;
    });
    const res = await fetch(`${gw.url}/transparent/vtx_stale${MODEL_PATH}:generateContent`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });
    assert.equal(res.status, 502);
    assert.ok(!(await res.text()).includes('expired-token'));
    assert.equal(emu.requests.length, 2);
  });

  test('a refused parameter is a 400 naming it, and nothing reaches Vertex; dropped ones are listed in a header', async () => {
    emu.reset();
    await assert.rejects(client.chat.completions.create({ model: 'flash', logprobs: true, messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /logprobs/);
      return true;
    });
    assert.equal(emu.requests.length, 0);
    const raw = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'flash', user: 'u-1', parallel_tool_calls: false, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('x-llmproxy-dropped-params'), 'user, parallel_tool_calls');
  });

  test('Google\'s error after the stream started ends the SDK\'s stream with an error, after the text so far', async () => {
    emu.reset();
    emu.failStreamAfter = 2;
    const stream = await client.chat.completions.create({ model: 'flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      (err: Error) => {
        assert.match(err.message, /CANCELLED: The operation was cancelled/);
        return true;
      },
    );
    assert.equal(seen.join(''), 'Hello from');
  });

  test('a Vertex stream that stalls before its finishReason ends with an SSE error, not a clean end', async () => {
    emu.reset();
    emu.behaviour.stallAfterChunks = 2;
    const stream = await client.chat.completions.create({ model: 'flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) void chunk;
      })(),
      (err: Error) => {
        assert.match(err.message, /stopped sending|stream/);
        return true;
      },
    );
    emu.reset();
  });

  // ---------------------------------------------------------------------------------------------
  // Transparent mode

  const transparent = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/transparent/vtx${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const CONTENTS = { contents: [{ role: 'user', parts: [{ text: 'hello vertex' }] }] };
  const tokens = async () => {
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const value = (direction: string) => Number(new RegExp(`llmproxy_tokens_total\\{instance="vtx",model="gemini-2.0-flash",direction="${direction}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    return { input: value('input'), output: value('output') };
  };

  test('transparent: the native API in the instance\'s project and location, token swapped, answer and stream passed through; usage accounted', async () => {
    emu.reset();
    await gw.settle();
    const before = await tokens();
    const res = await transparent(`${MODEL_PATH}:generateContent`, CONTENTS, { 'x-goog-user-project': 'someone-else' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { candidates: Array<{ content: { parts: Array<{ text: string }> }; finishReason: string }>; usageMetadata: unknown };
    assert.equal(body.candidates[0]!.content.parts[0]!.text, VertexEmulator.REPLY.join(''));
    assert.equal(emu.last.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(emu.last.headers['x-goog-user-project'], undefined, 'the client cannot pick the billed project');

    const stream = await transparent(`${MODEL_PATH}:streamGenerateContent?alt=sse`, CONTENTS);
    assert.equal(stream.status, 200);
    const text = await stream.text();
    assert.equal(text.split('data: ').length - 1, VertexEmulator.REPLY.length);
    assert.ok(text.endsWith('\r\n\r\n'), 'bytes as Vertex sent them');

    const count = await transparent(`${MODEL_PATH}:countTokens`, CONTENTS);
    assert.deepEqual(await count.json(), { totalTokens: 2, totalBillableCharacters: 8 });

    await gw.settle();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /llmproxy_requests_total\{instance="vtx",provider="vertex",region="us-central1",mode="transparent",status="200"\} 3/);
    // The JSON answer and the stream (usage read from its last event) each report 2 prompt and 6
    // output tokens; countTokens reports none.
    const after = await tokens();
    assert.deepEqual({ input: after.input - before.input, output: after.output - before.output }, { input: 4, output: 12 });
  });

  test('transparent: another project, another location, other resources and ?userProject are refused before Vertex sees them', async () => {
    emu.reset();
    const refused: Array<[string, number]> = [
      [`/v1/projects/other-project/locations/${LOCATION}/publishers/google/models/gemini-2.0-flash:generateContent`, 403],
      [`/v1/projects/${PROJECT}/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent`, 403],
      [`/v1/projects/${PROJECT}/locations/${LOCATION}/endpoints/1234:predict`, 403],
      [`/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.0-flash:generateContent?userProject=other-project`, 400],
      [`/v1/projects/other-project%2Flocations/${LOCATION}/publishers/google/models/gemini-2.0-flash:generateContent`, 400],
    ];
    for (const [path, status] of refused) {
      const res = await transparent(path, CONTENTS);
      assert.equal(res.status, status, path);
      // Google's shape on a Vertex route: the HTTP status and its google.rpc.Code, the gateway's code as the ErrorInfo reason.
      const error = ((await res.json()) as { error: { code: number; status: string; details: Array<{ reason: string }> } }).error;
      assert.equal(error.code, status, path);
      assert.equal(error.status, status === 403 ? 'PERMISSION_DENIED' : 'INVALID_ARGUMENT', path);
      assert.equal(error.details[0]!.reason, status === 403 ? 'PATH_NOT_ALLOWED' : status === 400 && path.includes('%2F') ? 'INVALID_PATH' : 'INVALID_REQUEST', path);
    }
    const get = await fetch(`${gw.url}/transparent/vtx${MODEL_PATH}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(get.status, 403);
    assert.equal(emu.requests.length, 0, 'nothing was forwarded');
  });

  test('transparent: a native body Vertex refuses comes back as Google\'s own error', async () => {
    emu.reset();
    const res = await transparent(`${MODEL_PATH}:generateContent`, { contents: [{ role: 'user', parts: [{ text: 'a' }] }, { role: 'user', parts: [{ text: 'b' }] }] });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { code: 400, message: 'Please ensure that multiturn requests alternate between user and model.', status: 'INVALID_ARGUMENT' } });
  });

  test('a key scoped to other models cannot call this one in either mode', async () => {
    const scoped = await gw.key({ name: 'pro-only', scopes: { instances: null, models: ['gemini-2.5-pro'] } });
    const res = await fetch(`${gw.url}/transparent/vtx${MODEL_PATH}:generateContent`, { method: 'POST', headers: { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' }, body: JSON.stringify(CONTENTS) });
    assert.equal(res.status, 403);
    await assert.rejects(new OpenAI({ apiKey: scoped, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'flash', messages: [{ role: 'user', content: 'hi' }] }), { status: 403 });
  });
});
