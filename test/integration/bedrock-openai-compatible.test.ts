import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { BEDROCK_OPENAI_REPLY } from '../emulators/bedrock-openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Bedrock's OpenAI-compatible endpoints through `/transparent/{bedrock}` (issue 14, item 1):
 * Chat Completions on bedrock-runtime (`/openai/v1/chat/completions`, SigV4 service `bedrock`)
 * and the Responses API on bedrock-mantle (`/openai/v1/responses`, SigV4 service
 * `bedrock-mantle`), reached with the `openai` SDK pointed at the gateway as a user would, the
 * gateway applying its own AWS credential or Bedrock API key. The emulators verify the
 * signature for their own service, so a request signed for the wrong one fails.
 */

const RUNTIME_MODEL = 'openai.gpt-oss-20b-1:0';
const MANTLE_MODEL = 'openai.gpt-oss-20b';
const WEATHER_TOOL = { type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false };

describe('Bedrock OpenAI-compatible endpoints through the gateway', () => {
  const accounts = new AwsAccounts();
  let user: IamUser;
  let runtime: BedrockEmulator;
  let mantle: BedrockEmulator;
  let gw: TestGateway;
  let key: string;
  const bedrockApiKey = 'ABSKQmVkcm9ja0FQSUtleS1lbXVsYXRvcg==';

  before(async () => {
    user = accounts.addUser('gateway');
    runtime = await new BedrockEmulator({ accounts, region: 'us-east-1', bearerKeys: [bedrockApiKey] }).start();
    mantle = await new BedrockEmulator({ accounts, region: 'us-east-1', host: 'mantle', bearerKeys: [bedrockApiKey] }).start();
    process.env['BEDROCK_OAI_SECRET'] = user.secretAccessKey;
    process.env['BEDROCK_OAI_API_KEY'] = bedrockApiKey;
    gw = await startGateway({
      rbac: { roles: { writer: { permissions: ['llm:write'] } } },
      instances: {
        bedrock: {
          type: 'bedrock', region: 'us-east-1', default: true, endpoint: runtime.url, mantle_endpoint: mantle.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:BEDROCK_OAI_SECRET}' },
        },
        bedrock_apikey: {
          type: 'bedrock', region: 'us-east-1', endpoint: runtime.url, mantle_endpoint: mantle.url,
          authentication: { type: 'bearer_token', token: '${env:BEDROCK_OAI_API_KEY}' },
        },
      },
    });
    key = await gw.key({ name: 'openai-sdk' });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([runtime?.close(), mantle?.close()]);
  });

  const client = (apiKey: string, instance = 'bedrock') => new OpenAI({ baseURL: `${gw.url}/transparent/${instance}/openai/v1`, apiKey, maxRetries: 0 });

  /** The client's gateway key never reaches AWS; the gateway's own credential does. */
  function assertGatewayCredential(emulator: BedrockEmulator): void {
    const sent = JSON.stringify(emulator.last.headers);
    assert.ok(!sent.includes(key), 'the gateway key must not reach Bedrock');
    assert.equal(emulator.last.caller?.scheme, 'sigv4');
    assert.equal(emulator.last.caller?.scheme === 'sigv4' ? emulator.last.caller.arn : undefined, user.arn);
  }

  test('chat completions, non-streaming: on bedrock-runtime, signed for service bedrock', async () => {
    runtime.reset();
    mantle.reset();
    const completion = await client(key).chat.completions.create({ model: RUNTIME_MODEL, messages: [{ role: 'user', content: 'Hello!' }] });
    assert.equal(completion.choices[0]?.message.content, BEDROCK_OPENAI_REPLY.join(''));
    assert.equal(completion.model, RUNTIME_MODEL);
    assert.equal(runtime.last.path, '/openai/v1/chat/completions');
    assert.equal(runtime.last.modelId, RUNTIME_MODEL);
    assertGatewayCredential(runtime);
    assert.equal(mantle.requests.length, 0);
    assert.equal(runtime.signatureFailures, 0);
  });

  test('chat completions, streaming with usage, and a tool call', async () => {
    runtime.reset();
    const stream = await client(key).chat.completions.create({ model: RUNTIME_MODEL, messages: [{ role: 'user', content: 'Hello!' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, BEDROCK_OPENAI_REPLY.join(''));
    assert.equal(usage?.completion_tokens, BEDROCK_OPENAI_REPLY.length);
    assertGatewayCredential(runtime);

    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
    const called = await client(key).chat.completions.create({ model: RUNTIME_MODEL, messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools });
    const call = called.choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.type === 'function' ? call.function.name : undefined, 'get_weather');
    assert.equal(called.choices[0]?.finish_reason, 'tool_calls');
  });

  test('responses, non-streaming: on bedrock-mantle, signed for service bedrock-mantle', async () => {
    runtime.reset();
    mantle.reset();
    const response = await client(key).responses.create({ model: MANTLE_MODEL, input: 'Hello!', store: false });
    assert.equal(response.output_text, BEDROCK_OPENAI_REPLY.join(''));
    assert.equal(response.status, 'completed');
    assert.equal(response.usage?.output_tokens_details.reasoning_tokens, 4);
    assert.equal(mantle.last.path, '/openai/v1/responses');
    assert.equal(JSON.parse(mantle.last.body.toString('utf8')).store, false);
    assertGatewayCredential(mantle);
    assert.equal(runtime.requests.length, 0, 'the Responses API is not on bedrock-runtime');
    assert.equal(mantle.signatureFailures, 0);
  });

  test('responses, streaming: the official event sequence, numbered, ending in response.completed', async () => {
    mantle.reset();
    const stream = await client(key).responses.create({ model: MANTLE_MODEL, input: 'Hello!', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    assert.deepEqual([...new Set(events.map((e) => e.type))], [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.output_text.delta', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    assert.equal(text, BEDROCK_OPENAI_REPLY.join(''));
    const completed = events.at(-1);
    assert.equal(completed?.type === 'response.completed' ? completed.response.usage?.input_tokens : undefined, 12);
    assertGatewayCredential(mantle);
  });

  test('responses with a function tool: a function_call output item, streamed as argument deltas', async () => {
    const response = await client(key).responses.create({ model: MANTLE_MODEL, input: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: [WEATHER_TOOL] });
    const item = response.output[0];
    assert.equal(item?.type, 'function_call');
    assert.deepEqual(item?.type === 'function_call' ? [item.name, JSON.parse(item.arguments)] : undefined, ['get_weather', { location: 'Paris' }]);

    const stream = await client(key).responses.create({ model: MANTLE_MODEL, input: 'Weather in Paris?', tools: [WEATHER_TOOL], stream: true });
    let args = '';
    let done: string | undefined;
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.delta') args += event.delta;
      if (event.type === 'response.function_call_arguments.done') done = event.arguments;
    }
    assert.equal(args, done);
    assert.deepEqual(JSON.parse(args), { location: 'Paris' });
  });

  test('a Bedrock API key instance: the key goes as Bearer to both hosts', async () => {
    runtime.reset();
    mantle.reset();
    await client(key, 'bedrock_apikey').chat.completions.create({ model: RUNTIME_MODEL, messages: [{ role: 'user', content: 'Hi' }] });
    await client(key, 'bedrock_apikey').responses.create({ model: MANTLE_MODEL, input: 'Hi' });
    assert.deepEqual(runtime.last.caller, { scheme: 'bearer', apiKey: bedrockApiKey });
    assert.deepEqual(mantle.last.caller, { scheme: 'bearer', apiKey: bedrockApiKey });
    assert.ok(!JSON.stringify(mantle.last.headers).includes(key));
  });

  test('a key scoped to another model is refused 403 before Bedrock sees anything; a wrong key 401', async () => {
    const scoped = await gw.key({ name: 'gpt-oss-120b-only', scopes: { instances: null, models: ['openai.gpt-oss-120b*'] } });
    runtime.reset();
    mantle.reset();
    await assert.rejects(client(scoped).chat.completions.create({ model: RUNTIME_MODEL, messages: [{ role: 'user', content: 'Hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError, String(err));
      assert.match(err.message, /may not use model "openai\.gpt-oss-20b-1:0"/);
      return true;
    });
    await assert.rejects(client(scoped).responses.create({ model: MANTLE_MODEL, input: 'Hi' }), (err: unknown) => err instanceof OpenAI.PermissionDeniedError);
    assert.equal(runtime.requests.length + mantle.requests.length, 0);
    // The model the scope names is served.
    const allowed = await client(scoped).responses.create({ model: 'openai.gpt-oss-120b', input: 'Hi' });
    assert.equal(allowed.status, 'completed');

    await assert.rejects(client('not-a-gateway-key').responses.create({ model: MANTLE_MODEL, input: 'Hi' }), (err: unknown) => err instanceof OpenAI.AuthenticationError);
    assert.equal(mantle.requests.length, 1);
  });

  test("a model Bedrock's chat completions do not serve: Bedrock's validation_error passes through", async () => {
    runtime.reset();
    await assert.rejects(
      client(key).chat.completions.create({ model: 'anthropic.claude-3-haiku-20240307-v1:0', messages: [{ role: 'user', content: 'Hi' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.code, 'validation_error');
        assert.match(err.message, /The model 'anthropic\.claude-3-haiku-20240307-v1:0' does not support the '\/openai\/v1\/chat\/completions' API/);
        return true;
      },
    );
    assert.match(String(runtime.last.headers['authorization']), /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/us-east-1\/bedrock\/aws4_request/);
  });
});
