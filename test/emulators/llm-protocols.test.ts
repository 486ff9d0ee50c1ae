import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import OpenAI from 'openai';
import { bedrockEvent, EventStreamDecoder } from '../../src/protocol/aws-eventstream.js';
import { AnthropicEmulator } from './anthropic.js';
import { THINKING } from './anthropic-features.js';
import { AwsAccounts, type IamUser } from './aws-accounts.js';
import { AzureOpenAIEmulator } from './azure-openai.js';
import { BedrockEmulator } from './bedrock.js';
import { OpenAIEmulator } from './openai.js';

/**
 * The emulators' Responses API, Claude features and Bedrock's OpenAI-compatible hosts, driven by
 * the official SDKs (or raw HTTP where no SDK fits), so the emulators stay what clients expect.
 */

const WEATHER = { type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false };

describe('OpenAI emulator: the Responses API', () => {
  let emu: OpenAIEmulator;
  let client: OpenAI;
  before(async () => {
    emu = await new OpenAIEmulator(['sk-emulator-key-0001']).start();
    client = new OpenAI({ baseURL: `${emu.url}/v1`, apiKey: 'sk-emulator-key-0001', maxRetries: 0 });
  });
  after(() => emu.close());
  beforeEach(() => emu.reset());

  test('non-streaming: a message item, usage with its details, the request recorded', async () => {
    const r = await client.responses.create({ model: 'gpt-4o', input: 'Hello', instructions: 'Be brief', store: false, metadata: { team: 'a' } });
    assert.equal(r.output_text, OpenAIEmulator.REPLY.join(''));
    assert.equal(r.object, 'response');
    assert.equal(r.instructions, 'Be brief');
    assert.deepEqual(r.metadata, { team: 'a' });
    assert.deepEqual(r.usage, { input_tokens: 7, input_tokens_details: { cached_tokens: 0 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 13 });
    assert.equal(emu.responsesReceived.length, 1);
    assert.equal(emu.responsesReceived[0]!['store'], false);
    assert.equal('previous_response_id' in emu.responsesReceived[0]!, false);
  });

  test('streaming: the official sequence, sequence_number 0..n, the text in deltas and in done', async () => {
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of await client.responses.create({ model: 'gpt-4o', input: 'Hello', stream: true })) events.push(e);
    assert.deepEqual(events.map((e) => e.type), [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      ...OpenAIEmulator.REPLY.map(() => 'response.output_text.delta'),
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const done = events.find((e) => e.type === 'response.output_text.done');
    assert.equal(done?.type === 'response.output_text.done' ? done.text : undefined, OpenAIEmulator.REPLY.join(''));
  });

  test('a function tool asked about the weather: a function_call item; its output continues the conversation', async () => {
    const r = await client.responses.create({ model: 'gpt-4o', input: [{ role: 'user', content: 'Weather in Paris?' }], tools: [WEATHER] });
    const call = r.output[0];
    assert.ok(call?.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { location: 'Paris' });
    const next = await client.responses.create({
      model: 'gpt-4o', tools: [WEATHER],
      input: [{ role: 'user', content: 'Weather in Paris?' }, call, { type: 'function_call_output', call_id: call.call_id, output: '{"temp": 21}' }],
    });
    assert.equal(next.output[0]?.type, 'message');
  });

  test('store: a stored response may be continued by id; an unknown id is refused as the API does', async () => {
    const first = await client.responses.create({ model: 'gpt-4o', input: 'Hello' });
    const second = await client.responses.create({ model: 'gpt-4o', input: 'More', previous_response_id: first.id });
    assert.equal(second.previous_response_id, first.id);
    const unstored = await client.responses.create({ model: 'gpt-4o', input: 'Hello', store: false });
    await assert.rejects(client.responses.create({ model: 'gpt-4o', input: 'More', previous_response_id: unstored.id }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'previous_response_not_found');
      assert.equal(err.param, 'previous_response_id');
      return true;
    });
  });

  test('malformed input 400 naming the parameter; a wrong key 401', async () => {
    await assert.rejects(client.responses.create({ model: 'gpt-4o', input: 42 as unknown as string }), (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'input');
    const wrong = new OpenAI({ baseURL: `${emu.url}/v1`, apiKey: 'sk-wrong-key-9999', maxRetries: 0 });
    await assert.rejects(wrong.responses.create({ model: 'gpt-4o', input: 'Hi' }), (err: unknown) => err instanceof OpenAI.AuthenticationError);
  });
});

describe('Azure OpenAI emulator: the v1 Responses route', () => {
  let az: AzureOpenAIEmulator;
  before(async () => {
    az = await new AzureOpenAIEmulator(['azure-key-1'], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
  });
  after(() => az.close());

  const post = (body: unknown, key = 'azure-key-1') =>
    fetch(`${az.url}/openai/v1/responses`, { method: 'POST', headers: { 'api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('the deployment named by model answers; an unknown one is DeploymentNotFound; a wrong key 401', async () => {
    const ok = await post({ model: 'prod-gpt4o', input: 'Hi' });
    assert.equal(ok.status, 200);
    const r = (await ok.json()) as { model: string; output: Array<{ content: Array<{ text: string }> }> };
    assert.equal(r.model, 'gpt-4o-2024-08-06');
    assert.equal(r.output[0]?.content[0]?.text, AzureOpenAIEmulator.REPLY.join(''));
    const missing = await post({ model: 'nope', input: 'Hi' });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'DeploymentNotFound');
    assert.equal((await post({ model: 'prod-gpt4o', input: 'Hi' }, 'wrong')).status, 401);
  });

  test('streaming ends with response.completed', async () => {
    const res = await post({ model: 'prod-gpt4o', input: 'Hi', stream: true });
    const text = await res.text();
    const types = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
  });
});

describe('Anthropic emulator: thinking, prompt caching, models, betas', () => {
  let emu: AnthropicEmulator;
  let client: Anthropic;
  before(async () => {
    emu = await new AnthropicEmulator(['sk-ant-emulator-1']).start();
    client = new Anthropic({ baseURL: emu.url, apiKey: 'sk-ant-emulator-1', maxRetries: 0 });
  });
  after(() => emu.close());
  beforeEach(() => emu.reset());

  const base = { model: 'claude-sonnet-4-5', max_tokens: 4096, messages: [{ role: 'user' as const, content: 'Hello' }] };

  test('extended thinking: a signed thinking block before the text; streamed as thinking_delta then signature_delta', async () => {
    const m = await client.messages.create({ ...base, thinking: { type: 'enabled', budget_tokens: 2048 } });
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text']);
    const thinking = m.content[0];
    assert.ok(thinking?.type === 'thinking' && thinking.thinking === THINKING.join('') && thinking.signature.length > 0);

    const deltas: string[] = [];
    let signature = '';
    const stream = client.messages.stream({ ...base, thinking: { type: 'enabled', budget_tokens: 2048 } });
    for await (const e of stream) {
      if (e.type !== 'content_block_delta') continue;
      deltas.push(e.delta.type);
      if (e.delta.type === 'signature_delta') signature = e.delta.signature;
    }
    assert.deepEqual(deltas, [...THINKING.map(() => 'thinking_delta'), 'signature_delta', ...AnthropicEmulator.REPLY.map(() => 'text_delta')]);
    const final = await stream.finalMessage();
    assert.ok(signature.length > 0);
    assert.deepEqual(final.content[0], { type: 'thinking', thinking: THINKING.join(''), signature });
  });

  test('thinking the API refuses: a budget under 1024, a budget not below max_tokens', async () => {
    for (const [body, message] of [
      [{ ...base, thinking: { type: 'enabled', budget_tokens: 512 } }, /greater than or equal to 1024/],
      [{ ...base, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 2048 } }, /max_tokens` must be greater than `thinking.budget_tokens`/],
    ] as const) {
      await assert.rejects(client.messages.create(body), (err: unknown) => err instanceof Anthropic.BadRequestError && message.test(err.message));
    }
  });

  test('prompt caching: a marked prefix is written, then read; more than 4 markers refused', async () => {
    const system = [{ type: 'text' as const, text: 'You are a long system prompt.', cache_control: { type: 'ephemeral' as const } }];
    const first = await client.messages.create({ ...base, system });
    assert.ok(first.usage.cache_creation_input_tokens! > 0);
    assert.equal(first.usage.cache_read_input_tokens, 0);
    const second = await client.messages.create({ ...base, system });
    assert.equal(second.usage.cache_creation_input_tokens, 0);
    assert.equal(second.usage.cache_read_input_tokens, first.usage.cache_creation_input_tokens);
    const plain = await client.messages.create(base);
    assert.deepEqual([plain.usage.cache_creation_input_tokens, plain.usage.cache_read_input_tokens], [0, 0]);
    const five = Array.from({ length: 5 }, (_, i) => ({ type: 'text' as const, text: `part ${i}`, cache_control: { type: 'ephemeral' as const } }));
    await assert.rejects(client.messages.create({ ...base, system: five }), (err: unknown) => err instanceof Anthropic.BadRequestError && /maximum of 4 blocks/.test(err.message));
  });

  test('models paged forwards and backwards; the anthropic-beta header readable', async () => {
    const page = await client.models.list({ limit: 1 });
    assert.deepEqual(page.data.map((m) => m.id), [AnthropicEmulator.MODELS[0]]);
    const after = await client.models.list({ limit: 1, after_id: AnthropicEmulator.MODELS[0] });
    assert.deepEqual(after.data.map((m) => m.id), [AnthropicEmulator.MODELS[1]]);
    const back = await client.models.list({ limit: 1, before_id: AnthropicEmulator.MODELS[1] });
    assert.deepEqual(back.data.map((m) => m.id), [AnthropicEmulator.MODELS[0]]);
    assert.equal(back.has_more, false);
    await client.messages.create(base, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31, interleaved-thinking-2025-05-14' } });
    assert.deepEqual([...emu.lastBetas].sort(), ['interleaved-thinking-2025-05-14', 'prompt-caching-2024-07-31']);
  });
});

describe('Bedrock emulator: Claude features on InvokeModel; the bedrock-mantle host checks its own SigV4 service', () => {
  const accounts = new AwsAccounts();
  let user: IamUser;
  let mantle: BedrockEmulator;
  let runtime: BedrockEmulator;
  before(async () => {
    user = accounts.addUser('caller');
    mantle = await new BedrockEmulator({ accounts, region: 'us-east-1', host: 'mantle' }).start();
    runtime = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
  });
  after(() => Promise.all([mantle.close(), runtime.close()]));

  async function signed(service: string, path: string, body: string, emulator = mantle): Promise<Response> {
    const u = new URL(emulator.url);
    const signer = new SignatureV4({ service, region: 'us-east-1', credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey }, sha256: Hash.bind(null, 'sha256') });
    const req = await signer.sign({ method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path, query: {}, headers: { host: u.host, 'content-type': 'application/json' }, body });
    return fetch(`${emulator.url}${path}`, { method: 'POST', headers: req.headers, body });
  }

  test('InvokeModel on Claude: thinking, a tool call, cache usage; streamed with invocation metrics counting the cache', async () => {
    const invoke = (body: object, op = 'invoke') => signed('bedrock', `/model/${encodeURIComponent('anthropic.claude-3-haiku-20240307-v1:0')}/${op}`, JSON.stringify(body), runtime);
    const body = {
      anthropic_version: 'bedrock-2023-05-31', max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 },
      system: [{ type: 'text', text: 'Long instructions.', cache_control: { type: 'ephemeral' } }],
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    };
    const res = await invoke(body);
    assert.equal(res.status, 200, await res.clone().text());
    const m = (await res.json()) as { content: Array<{ type: string; name?: string }>; stop_reason: string; usage: Record<string, number> };
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'tool_use']);
    assert.equal(m.content[1]?.name, 'get_weather');
    assert.equal(m.stop_reason, 'tool_use');
    assert.ok(m.usage['cache_creation_input_tokens']! > 0);
    const decoder = new EventStreamDecoder();
    const messages = [...decoder.push(new Uint8Array(await (await invoke(body, 'invoke-with-response-stream')).arrayBuffer()))];
    decoder.end();
    // The second sight of the prefix is a cache read, which the metrics count.
    const chunks = messages.map((msg) => {
      const ev = bedrockEvent(msg);
      assert.equal(ev.kind === 'event' ? ev.type : ev.kind, 'chunk');
      const bytes = (ev.payload as { bytes: string }).bytes;
      return JSON.parse(Buffer.from(bytes, 'base64').toString('utf8')) as Record<string, unknown>;
    });
    assert.deepEqual(chunks.map((c) => c['type']).filter((t) => t !== 'content_block_delta'), ['message_start', 'content_block_start', 'content_block_stop', 'content_block_start', 'content_block_stop', 'message_delta', 'message_stop']);
    const metrics = chunks.at(-1)!['amazon-bedrock-invocationMetrics'] as Record<string, number>;
    assert.equal(metrics['cacheReadInputTokenCount'], m.usage['cache_creation_input_tokens']);
    const refused = await invoke({ ...body, thinking: { type: 'enabled', budget_tokens: 100 } });
    assert.equal(refused.status, 400);
    assert.match(refused.headers.get('x-amzn-errortype') ?? '', /^ValidationException:/);
  });

  test('bedrock-mantle signatures pass on both Responses paths; bedrock ones are InvalidSignatureException; the runtime routes are not there', async () => {
    const body = JSON.stringify({ model: 'openai.gpt-oss-120b', input: 'Hi' });
    for (const path of ['/v1/responses', '/openai/v1/responses']) {
      const ok = await signed('bedrock-mantle', path, body);
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.equal(((await ok.json()) as { status: string }).status, 'completed');
    }
    const wrong = await signed('bedrock', '/openai/v1/responses', body);
    assert.equal(wrong.status, 403);
    assert.match(wrong.headers.get('x-amzn-errortype') ?? '', /^InvalidSignatureException:/);
    const converse = await signed('bedrock-mantle', '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse', '{}');
    assert.equal(converse.status, 404);
    const unknown = await signed('bedrock-mantle', '/v1/responses', JSON.stringify({ model: 'gpt-4o', input: 'Hi' }));
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'model_not_found');
  });
});
