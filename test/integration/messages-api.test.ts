import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The Anthropic Messages API as a client protocol (issue 14, item 2), direct paths: the Anthropic
 * SDK pointed at `/anthropic/{instance}` with its gateway key, the model Claude on api.anthropic.com,
 * Bedrock InvokeModel and Vertex rawPredict. The body reaches the host as the client wrote it,
 * with the host's envelope; the answer and the stream come back as Anthropic's.
 */

const PROVIDER_KEY = 'sk-ant-messages-api-provider-key';
const VERTEX_TOKEN = 'ya29.a0-messages-api-token';
const PROJECT = 'proj-msg';
const LOCATION = 'us-east5';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const VERTEX_CLAUDE = 'claude-sonnet-4-5@20250929';

describe('the Anthropic Messages API over Anthropic, Bedrock and Vertex (direct paths and the chat hub)', () => {
  const accounts = new AwsAccounts();
  let anthropic: AnthropicEmulator;
  let bedrock: BedrockEmulator;
  let vertex: VertexEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    const user = accounts.addUser('gateway');
    anthropic = await new AnthropicEmulator([PROVIDER_KEY]).start();
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    vertex = await new VertexEmulator([VERTEX_TOKEN], { project: PROJECT, location: LOCATION }).start();
    process.env['MESSAGES_API_ANTHROPIC_KEY'] = PROVIDER_KEY;
    process.env['MESSAGES_API_BEDROCK_SECRET'] = user.secretAccessKey;
    process.env['MESSAGES_API_VERTEX_TOKEN'] = VERTEX_TOKEN;
    gw = await startGateway({
      instances: {
        claude: { type: 'anthropic', endpoint: anthropic.url, authentication: { type: 'api_key', api_key: '${env:MESSAGES_API_ANTHROPIC_KEY}' } },
        aws: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: bedrock.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:MESSAGES_API_BEDROCK_SECRET}' },
        },
        gcp: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: vertex.url, authentication: { type: 'access_token', token: '${env:MESSAGES_API_VERTEX_TOKEN}' } },
      },
      model_aliases: { haiku: `aws/${HAIKU}` },
    });
    key = await gw.key({ name: 'messages-api' });
  });
  after(async () => {
    await gw.close();
    await Promise.all([anthropic.close(), bedrock.close(), vertex.close()]);
  });

  const client = (instance: string, apiKey = key) => new Anthropic({ apiKey, baseURL: `${gw.url}/anthropic/${instance}`, maxRetries: 0 });

  test('Anthropic: the body and the anthropic-beta header pass on; the provider key replaces the gateway key', async () => {
    anthropic.reset();
    const out = await client('claude').messages.create(
      { model: 'claude-sonnet-4-5', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } },
    );
    assert.equal(out.content[0]?.type === 'text' && out.content[0].text, AnthropicEmulator.REPLY.join(''));
    assert.equal(anthropic.last.headers['x-api-key'], PROVIDER_KEY);
    assert.equal(anthropic.last.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14');
    assert.equal(anthropic.last.headers['authorization'], undefined);
    const sent = JSON.parse(anthropic.last.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(sent, { model: 'claude-sonnet-4-5', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] });
  });

  test('Anthropic: a stream arrives as Anthropic events, the SDK assembles the message and its usage', async () => {
    const stream = client('claude').messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    stream.on('text', (t) => text.push(t));
    const final = await stream.finalMessage();
    assert.equal(text.join(''), AnthropicEmulator.REPLY.join(''));
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, AnthropicEmulator.REPLY.length);
  });

  test('Bedrock: Claude through InvokeModel, SigV4-signed, the Bedrock anthropic_version in the body and the betas as anthropic_beta', async () => {
    bedrock.reset();
    const out = await client('aws').messages.create(
      { model: HAIKU, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'anthropic-beta': 'context-1m-2025-08-07, token-efficient-tools-2025-02-19' } },
    );
    assert.equal(out.content[0]?.type === 'text' && out.content[0].text, BedrockEmulator.REPLY.join(''));
    assert.equal(bedrock.last.path, `/model/${encodeURIComponent(HAIKU)}/invoke`);
    assert.equal(bedrock.last.caller?.scheme, 'sigv4');
    const sent = JSON.parse(bedrock.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(sent['anthropic_version'], 'bedrock-2023-05-31');
    assert.deepEqual(sent['anthropic_beta'], ['context-1m-2025-08-07', 'token-efficient-tools-2025-02-19']);
    assert.equal(sent['model'], undefined);
  });

  test('Bedrock through /anthropic/v1 with an alias: the event stream becomes Anthropic SSE', async () => {
    bedrock.reset();
    const stream = client('').messages.stream({ model: 'haiku', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    const final = await stream.finalMessage();
    assert.equal(final.content[0]?.type === 'text' && final.content[0].text, BedrockEmulator.REPLY.join(''));
    assert.equal(bedrock.last.path, `/model/${encodeURIComponent(HAIKU)}/invoke-with-response-stream`);
  });

  test('Vertex: Claude through rawPredict in the instance project and location, with the Vertex anthropic_version', async () => {
    vertex.reset();
    const out = await client('gcp').messages.create({ model: VERTEX_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(out.type, 'message');
    assert.equal(vertex.last.path, `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/anthropic/models/${VERTEX_CLAUDE}:rawPredict`);
    assert.equal(vertex.last.headers.authorization, `Bearer ${VERTEX_TOKEN}`);
    const sent = JSON.parse(vertex.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(sent['anthropic_version'], 'vertex-2023-10-16');
    assert.equal(sent['model'], undefined);
  });

  test('extended thinking and prompt caching reach Claude on Bedrock and Vertex as written: thinking blocks and cache usage come back', async () => {
    const system: Anthropic.TextBlockParam[] = [{ type: 'text', text: 'You are a careful assistant. '.repeat(20), cache_control: { type: 'ephemeral' } }];
    for (const [instance, model] of [['aws', HAIKU], ['gcp', VERTEX_CLAUDE]] as const) {
      const ask = () => client(instance).messages.create({ model, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, system, messages: [{ role: 'user', content: 'hi' }] });
      const first = await ask();
      assert.equal(first.content[0]?.type, 'thinking', `${instance}: a thinking block first`);
      assert.ok(first.content[0]?.type === 'thinking' && first.content[0].signature !== '', `${instance}: signed`);
      assert.ok((first.usage.cache_creation_input_tokens ?? 0) > 0, `${instance}: the cached prefix was written`);
      const second = await ask();
      assert.ok((second.usage.cache_read_input_tokens ?? 0) > 0, `${instance}: and read the second time`);
      const stream = client(instance).messages.stream({ model, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'hi' }] });
      const thinking: string[] = [];
      stream.on('thinking', (t) => thinking.push(t));
      await stream.finalMessage();
      assert.ok(thinking.length > 0, `${instance}: thinking_delta events streamed`);
    }
  });

  test('count_tokens: answered by each backend with a count endpoint', async () => {
    const params = { messages: [{ role: 'user' as const, content: 'how many tokens is this?' }] };
    const fromAnthropic = await client('claude').messages.countTokens({ model: 'claude-sonnet-4-5', ...params });
    assert.ok(fromAnthropic.input_tokens > 0);
    assert.equal(anthropic.last.path, '/v1/messages/count_tokens');
    const fromBedrock = await client('aws').messages.countTokens({ model: HAIKU, ...params });
    assert.ok(fromBedrock.input_tokens > 0);
    assert.equal(bedrock.last.path, `/model/${encodeURIComponent(HAIKU)}/count-tokens`);
    const fromVertex = await client('gcp').messages.countTokens({ model: VERTEX_CLAUDE, ...params });
    assert.ok(fromVertex.input_tokens > 0);
    assert.equal(vertex.last.path, `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/anthropic/models/count-tokens:rawPredict`);
  });

  test('errors are Anthropic-shaped: a wrong key is an AuthenticationError, an unknown instance a NotFoundError', async () => {
    await assert.rejects(client('claude', 'llmp_wrong').messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, String(err));
      assert.ok(!String(err.message).includes('llmp_wrong'));
      return true;
    });
    await assert.rejects(client('nowhere').messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError && err.status >= 400 && err.status < 500, String(err));
      return true;
    });
  });

  test('a key scoped to another model is refused before the provider is called, as a PermissionDeniedError', async () => {
    const scoped = await gw.key({ name: 'sonnet-only', scopes: { instances: null, models: ['claude-sonnet-*'] } });
    bedrock.reset();
    await assert.rejects(client('aws', scoped).messages.create({ model: HAIKU, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.PermissionDeniedError, String(err));
      return true;
    });
    assert.equal(bedrock.requests.length, 0);
  });

  test('Gemini on Vertex through the chat hub: a Messages answer, a Messages stream, and a tool round trip', async () => {
    vertex.reset();
    const out = await client('gcp').messages.create({ model: 'gemini-2.0-flash', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(out.content[0]?.type === 'text' && out.content[0].text, VertexEmulator.REPLY.join(''));
    assert.equal(out.stop_reason, 'end_turn');
    assert.match(out.id, /^msg_/);
    assert.ok(vertex.last.path.endsWith('/publishers/google/models/gemini-2.0-flash:generateContent'));

    const stream = client('gcp').messages.stream({ model: 'gemini-2.0-flash', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    const final = await stream.finalMessage();
    assert.equal(final.content[0]?.type === 'text' && final.content[0].text, VertexEmulator.REPLY.join(''));
    assert.ok(final.usage.output_tokens > 0);

    const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
    const ask: Anthropic.MessageParam = { role: 'user', content: 'What is the weather in Paris?' };
    const first = await client('gcp').messages.create({ model: 'gemini-2.0-flash', max_tokens: 64, tools, messages: [ask] });
    assert.equal(first.stop_reason, 'tool_use');
    const call = first.content.find((b) => b.type === 'tool_use');
    assert.ok(call && call.type === 'tool_use' && call.name === 'get_weather');
    const second = await client('gcp').messages.create({
      model: 'gemini-2.0-flash',
      max_tokens: 64,
      tools,
      messages: [ask, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny, 21°C' }] }],
    });
    const sent = JSON.parse(vertex.last.body.toString('utf8')) as { contents: Array<{ role: string; parts: Array<Record<string, unknown>> }> };
    assert.ok(sent.contents.some((c) => c.parts.some((p) => p['functionResponse'] !== undefined)), 'the tool result reached Gemini as a functionResponse');
    assert.equal(second.content[0]?.type, 'text');
  });

  test('count_tokens on a backend without a counter: the estimate, marked as such', async () => {
    const res = await fetch(`${gw.url}/anthropic/gcp/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'a'.repeat(400) }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-llmproxy-token-count'), 'estimate');
    const { input_tokens } = (await res.json()) as { input_tokens: number };
    assert.ok(input_tokens >= 100 && input_tokens < 200, String(input_tokens));
  });

  test('a malformed body is an invalid_request_error naming the field, before any provider call', async () => {
    vertex.reset();
    await assert.rejects(
      client('gcp').messages.create({ model: 'gemini-2.0-flash', max_tokens: 64, messages: [{ role: 'robot' as 'user', content: 'hi' }] }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.BadRequestError, String(err));
        assert.match(err.message, /messages\.0\.role/);
        return true;
      },
    );
    assert.equal(vertex.requests.length, 0);
  });

  test('GET /v1/models lists the instance models in Anthropic shape', async () => {
    const page = await client('claude').models.list();
    const ids = page.data.map((m) => m.id);
    assert.deepEqual(ids.sort(), [...AnthropicEmulator.MODELS].sort());
    assert.equal(page.data[0]?.type, 'model');
  });
});
