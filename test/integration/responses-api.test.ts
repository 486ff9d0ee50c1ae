import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The OpenAI Responses API over providers without one (issue 14, item 1): the openai SDK's
 * `responses` resource against `/openai/{instance}` and `/v1`, the request through the chat hub
 * to Anthropic Messages and Gemini, stored responses continued by `previous_response_id` on
 * another provider.
 */

const PROVIDER_KEY = 'sk-ant-responses-api-provider-key';
const VERTEX_TOKEN = 'ya29.a0-responses-api-token';
const PROJECT = 'proj-resp';
const LOCATION = 'us-central1';
const WEATHER: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather',
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  strict: false,
};

describe('the Responses API over Anthropic and Gemini (chat hub), with the gateway as the store', () => {
  let anthropic: AnthropicEmulator;
  let vertex: VertexEmulator;
  let gw: TestGateway;
  let key: string;
  let client: OpenAI;

  before(async () => {
    anthropic = await new AnthropicEmulator([PROVIDER_KEY]).start();
    vertex = await new VertexEmulator([VERTEX_TOKEN], { project: PROJECT, location: LOCATION }).start();
    process.env['RESPONSES_API_ANTHROPIC_KEY'] = PROVIDER_KEY;
    process.env['RESPONSES_API_VERTEX_TOKEN'] = VERTEX_TOKEN;
    gw = await startGateway({
      instances: {
        claude: { type: 'anthropic', endpoint: anthropic.url, authentication: { type: 'api_key', api_key: '${env:RESPONSES_API_ANTHROPIC_KEY}' } },
        gcp: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: vertex.url, authentication: { type: 'access_token', token: '${env:RESPONSES_API_VERTEX_TOKEN}' } },
      },
      model_aliases: { sonnet: 'claude/claude-sonnet-4-5', flash: 'gcp/gemini-2.0-flash' },
    });
    key = await gw.key({ name: 'responses-api' });
    client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([anthropic.close(), vertex.close()]);
  });

  test('a response from Claude: instructions become the system prompt, the output is a message item, usage is reported; it is stored for its owner', async () => {
    anthropic.reset();
    const direct = new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/claude`, maxRetries: 0 });
    const out = await direct.responses.create({ model: 'claude-sonnet-4-5', instructions: 'Be brief.', input: 'hi', max_output_tokens: 64 });
    assert.equal(out.object, 'response');
    assert.equal(out.status, 'completed');
    assert.equal(out.output_text, AnthropicEmulator.REPLY.join(''));
    assert.equal(out.output[0]?.type, 'message');
    assert.equal(out.usage?.output_tokens, AnthropicEmulator.REPLY.length);
    assert.equal(out.usage?.total_tokens, (out.usage?.input_tokens ?? 0) + (out.usage?.output_tokens ?? 0));
    assert.equal((out as { store?: unknown }).store, true);
    const sent = JSON.parse(anthropic.last.body.toString('utf8')) as { system?: unknown; max_tokens: number; messages: unknown[] };
    assert.equal(sent.system, 'Be brief.');
    assert.equal(sent.max_tokens, 64);
    assert.deepEqual(sent.messages, [{ role: 'user', content: 'hi' }]);

    const again = await client.responses.retrieve(out.id);
    assert.equal(again.id, out.id);
    assert.equal(again.output_text, out.output_text);
    const items = await client.responses.inputItems.list(out.id);
    assert.equal(items.data.length, 1);
    assert.equal(items.data[0]?.type, 'message');

    const other = new OpenAI({ apiKey: await gw.key({ name: 'someone-else' }), baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await assert.rejects(other.responses.retrieve(out.id), (err: unknown) => err instanceof OpenAI.NotFoundError);
    await assert.rejects(other.responses.create({ model: 'sonnet', input: 'go on', previous_response_id: out.id }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.param, 'previous_response_id');
      return true;
    });
  });

  test('streaming: the official event sequence with increasing sequence numbers, ending in response.completed', async () => {
    const stream = await client.responses.create({ model: 'sonnet', input: 'hi', stream: true });
    const types: string[] = [];
    const sequence: number[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const ev of stream) {
      types.push(ev.type);
      sequence.push(ev.sequence_number);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    assert.deepEqual(sequence, sequence.map((_, i) => i));
    assert.equal(text, AnthropicEmulator.REPLY.join(''));
    assert.ok(completed && completed.usage && completed.usage.output_tokens > 0);
    const stored = await client.responses.retrieve(completed.id);
    assert.equal(stored.output_text, text);
  });

  test('a function call from Claude, its output sent with previous_response_id to Gemini: the whole conversation reaches the second provider', async () => {
    const first = await client.responses.create({ model: 'sonnet', input: 'What is the weather in Paris?', tools: [WEATHER] });
    const call = first.output.find((i): i is OpenAI.Responses.ResponseFunctionToolCall => i.type === 'function_call');
    assert.ok(call, 'a function_call item');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { location: 'Paris' });

    vertex.reset();
    const second = await client.responses.create({
      model: 'flash',
      previous_response_id: first.id,
      tools: [WEATHER],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21°C' }],
    });
    assert.equal(second.status, 'completed');
    assert.equal(second.previous_response_id, first.id);
    const sent = JSON.parse(vertex.last.body.toString('utf8')) as { contents: Array<{ role: string; parts: Array<Record<string, unknown>> }> };
    assert.equal(sent.contents[0]?.parts[0]?.['text'], 'What is the weather in Paris?');
    assert.ok(sent.contents.some((c) => c.role === 'model' && c.parts.some((p) => p['functionCall'] !== undefined)), 'the earlier function call');
    assert.ok(sent.contents.some((c) => c.parts.some((p) => p['functionResponse'] !== undefined)), 'its output');
    const items = await client.responses.inputItems.list(second.id, { order: 'asc' });
    assert.deepEqual(
      items.data.map((i) => i.type),
      ['message', 'function_call', 'function_call_output'],
    );
  });

  test('an item_reference to an earlier answer is resolved from the store: Claude receives the assistant text, input_items lists the real item; another key gets a 400 naming input[i]', async () => {
    const first = await client.responses.create({ model: 'sonnet', input: 'hi' });
    const answer = first.output.find((i): i is OpenAI.Responses.ResponseOutputMessage => i.type === 'message');
    assert.ok(answer, 'a message item');
    anthropic.reset();
    const second = await client.responses.create({ model: 'sonnet', input: [{ role: 'user', content: 'hi' }, { type: 'item_reference', id: answer.id }, { role: 'user', content: 'and then?' }] });
    assert.equal(second.status, 'completed');
    const sent = JSON.parse(anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: unknown }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    const assistantText = typeof sent.messages[1]!.content === 'string' ? sent.messages[1]!.content : (sent.messages[1]!.content as Array<{ text?: string }>).map((p) => p.text ?? '').join('');
    assert.equal(assistantText, AnthropicEmulator.REPLY.join(''));
    const items = await client.responses.inputItems.list(second.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => [i.type, i.id]), [['message', items.data[0]!.id], ['message', answer.id], ['message', items.data[2]!.id]]);
    assert.equal((items.data[1] as OpenAI.Responses.ResponseOutputMessage).role, 'assistant');
    // The resolved item was stored with this turn: a later reference resolves through it even once the first response is deleted.
    await client.responses.delete(first.id);
    const third = await client.responses.create({ model: 'sonnet', input: [{ role: 'user', content: 'hi' }, { id: answer.id }, { role: 'user', content: 'once more' }] });
    assert.equal(third.status, 'completed');
    assert.equal(JSON.parse(anthropic.last.body.toString('utf8')).messages[1].role, 'assistant', 'the {id} shorthand resolved too');

    anthropic.reset();
    const other = new OpenAI({ apiKey: await gw.key({ name: 'not-the-owner' }), baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (const [c, id] of [[other, answer.id], [client, 'msg_never_stored']] as const) {
      await assert.rejects(c.responses.create({ model: 'sonnet', input: [{ role: 'user', content: 'hi' }, { type: 'item_reference', id }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.param, 'input[1]');
        assert.equal(err.code, 'invalid_request');
        assert.match(err.message, new RegExp(`Item with id '${id}' not found\\.`));
        return true;
      });
    }
    // Bounded: at most 1,000 references in one request.
    const many = Array.from({ length: 1001 }, () => ({ type: 'item_reference' as const, id: answer.id }));
    await assert.rejects(client.responses.create({ model: 'sonnet', input: [{ role: 'user', content: 'hi' }, ...many] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.param, 'input');
      return true;
    });
    assert.equal(anthropic.requests.length, 0, 'nothing forwarded');
  });

  test('store: false answers but keeps nothing; DELETE removes a stored response', async () => {
    const unstored = await client.responses.create({ model: 'sonnet', input: 'hi', store: false });
    assert.equal((unstored as { store?: unknown }).store, false);
    await assert.rejects(client.responses.retrieve(unstored.id), (err: unknown) => err instanceof OpenAI.NotFoundError);
    const stored = await client.responses.create({ model: 'sonnet', input: 'hi' });
    await client.responses.delete(stored.id);
    await assert.rejects(client.responses.retrieve(stored.id), (err: unknown) => err instanceof OpenAI.NotFoundError);
  });

  test('a built-in tool is refused with a 400 naming it, before any provider call', async () => {
    anthropic.reset();
    await assert.rejects(client.responses.create({ model: 'sonnet', input: 'search', tools: [{ type: 'web_search' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.param, 'tools[0].type');
      return true;
    });
    assert.equal(anthropic.requests.length, 0);
  });

  test('a provider stream cut short ends with response.failed, never response.completed', async () => {
    vertex.failStreamAfter = 2;
    try {
      const stream = await client.responses.create({ model: 'flash', input: 'hi', stream: true });
      const types: string[] = [];
      for await (const ev of stream) types.push(ev.type);
      assert.equal(types.at(-1), 'response.failed');
      assert.ok(!types.includes('response.completed'));
    } finally {
      vertex.failStreamAfter = undefined;
    }
  });

  test('a wrong key is an AuthenticationError whose message does not echo the key', async () => {
    const wrong = new OpenAI({ apiKey: 'llmp_not_a_key', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await assert.rejects(wrong.responses.create({ model: 'sonnet', input: 'hi' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.ok(!err.message.includes('llmp_not_a_key'));
      return true;
    });
  });
});

describe('the Responses API passed to the provider\'s own (OpenAI, Azure, Bedrock mantle), the gateway still the store', () => {
  const accounts = new AwsAccounts();
  let openai: OpenAIEmulator;
  let azure: AzureOpenAIEmulator;
  let runtime: BedrockEmulator;
  let mantle: BedrockEmulator;
  let gw: TestGateway;
  let key: string;
  let client: OpenAI;

  before(async () => {
    const user = accounts.addUser('gateway');
    openai = await new OpenAIEmulator(['sk-openai-responses-direct']).start();
    azure = await new AzureOpenAIEmulator(['azure-responses-key'], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
    runtime = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    mantle = await new BedrockEmulator({ accounts, region: 'us-east-1', host: 'mantle' }).start();
    process.env['RESPONSES_DIRECT_OPENAI_KEY'] = 'sk-openai-responses-direct';
    process.env['RESPONSES_DIRECT_AZURE_KEY'] = 'azure-responses-key';
    process.env['RESPONSES_DIRECT_AWS_SECRET'] = user.secretAccessKey;
    gw = await startGateway({
      instances: {
        oai: { type: 'openai', endpoint: openai.url, timeouts: { idle: '1s' }, authentication: { type: 'api_key', api_key: '${env:RESPONSES_DIRECT_OPENAI_KEY}' } },
        az: { type: 'azure', endpoint: azure.url, deployments: { 'gpt-4o': 'prod-gpt4o' }, authentication: { type: 'api_key', api_key: '${env:RESPONSES_DIRECT_AZURE_KEY}' } },
        aws: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: runtime.url,
          mantle_endpoint: mantle.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:RESPONSES_DIRECT_AWS_SECRET}' },
        },
      },
    });
    key = await gw.key({ name: 'responses-direct' });
    client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([openai.close(), azure.close(), runtime.close(), mantle.close()]);
  });

  test('OpenAI: the body goes to /v1/responses with store: false and the earlier turn spelled out instead of previous_response_id', async () => {
    openai.reset();
    const first = await client.responses.create({ model: 'oai/gpt-4o-mini', input: 'hi', metadata: { team: 'a' } });
    assert.equal(first.output_text, OpenAIEmulator.REPLY.join(''));
    assert.equal(openai.last.path, '/v1/responses');
    assert.equal(openai.last.headers.authorization, 'Bearer sk-openai-responses-direct');
    assert.equal(openai.responsesReceived[0]?.['store'], false);
    assert.deepEqual(openai.responsesReceived[0]?.['metadata'], { team: 'a' });

    const second = await client.responses.create({ model: 'oai/gpt-4o-mini', input: 'and again', previous_response_id: first.id });
    assert.equal(second.previous_response_id, first.id);
    const sent = openai.responsesReceived[1]!;
    assert.equal(sent['previous_response_id'], undefined);
    assert.equal(sent['model'], 'gpt-4o-mini');
    const input = sent['input'] as Array<Record<string, unknown>>;
    assert.deepEqual(input.map((i) => i['role'] ?? i['type']), ['user', 'assistant', 'user']);
    assert.ok(input.every((i) => i['id'] === undefined), 'stored item ids are not sent to a provider that stored nothing');
    assert.equal((await client.responses.retrieve(second.id)).output_text, second.output_text);
  });

  test('OpenAI: an item_reference is resolved from the gateway store and sent as the item itself, without id and status; another key gets a 400', async () => {
    const first = await client.responses.create({ model: 'oai/gpt-4o-mini', input: 'hi' });
    const answer = first.output.find((i): i is OpenAI.Responses.ResponseOutputMessage => i.type === 'message');
    assert.ok(answer, 'a message item');
    openai.reset();
    await client.responses.create({ model: 'oai/gpt-4o-mini', input: [{ role: 'user', content: 'hi' }, { type: 'item_reference', id: answer.id }, { role: 'user', content: 'and then?' }] });
    const input = openai.responsesReceived[0]!['input'] as Array<Record<string, unknown>>;
    assert.equal(input.length, 3);
    const { id: _id, status: _status, ...expected } = answer as unknown as Record<string, unknown>;
    assert.deepEqual(input[1], expected);
    assert.equal(input[1]!['id'], undefined);
    assert.deepEqual(input[2], { role: 'user', content: 'and then?' });

    openai.reset();
    const other = new OpenAI({ apiKey: await gw.key({ name: 'responses-direct-other' }), baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await assert.rejects(other.responses.create({ model: 'oai/gpt-4o-mini', input: [{ type: 'item_reference', id: answer.id }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.param, 'input[0]');
      return true;
    });
    assert.equal(openai.responsesReceived.length, 0, 'nothing forwarded');
  });

  test('OpenAI: a stream passes through event by event and the finished response is stored', async () => {
    const stream = await client.responses.create({ model: 'oai/gpt-4o-mini', input: 'hi', stream: true });
    let completed: OpenAI.Responses.Response | undefined;
    const sequence: number[] = [];
    for await (const ev of stream) {
      sequence.push(ev.sequence_number);
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.ok(completed);
    assert.deepEqual(sequence, sequence.map((_, i) => i));
    assert.equal((await client.responses.retrieve(completed.id)).output_text, OpenAIEmulator.REPLY.join(''));
  });

  test('OpenAI: a provider stream that stalls ends with an error event numbered after the last event, never response.completed, and nothing is stored', async () => {
    openai.behaviour.stallAfterChunks = 3;
    try {
      const res = await fetch(`${gw.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'oai/gpt-4o-mini', input: 'hi', stream: true }),
      });
      assert.equal(res.status, 200);
      const events = (await res.text()).split('\n\n').filter((f) => f.includes('data: ')).map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { type: string; sequence_number: number; response?: { id: string } });
      const last = events.at(-1)!;
      assert.equal(last.type, 'error');
      assert.equal(last.sequence_number, events.at(-2)!.sequence_number + 1);
      assert.ok(!events.some((e) => e.type === 'response.completed'));
      const created = events.find((e) => e.type === 'response.created');
      assert.ok(created?.response);
      await assert.rejects(client.responses.retrieve(created.response.id), (err: unknown) => err instanceof OpenAI.NotFoundError);
    } finally {
      openai.behaviour.stallAfterChunks = undefined;
    }
  });

  test('Azure: the v1 Responses route, the deployment named in model', async () => {
    azure.reset();
    const out = await client.responses.create({ model: 'az/gpt-4o', input: 'hi' });
    assert.equal(out.output_text, AzureOpenAIEmulator.REPLY.join(''));
    assert.equal(azure.last.path, '/openai/v1/responses');
    assert.equal((JSON.parse(azure.last.body.toString('utf8')) as { model: string }).model, 'prod-gpt4o');
  });

  test('Bedrock: OpenAI open-weight models on bedrock-mantle, signed for its own SigV4 service; Claude goes through the hub', async () => {
    mantle.reset();
    const out = await client.responses.create({ model: 'aws/openai.gpt-oss-120b', input: 'hi' });
    assert.equal(out.status, 'completed');
    assert.equal(mantle.last.path, '/openai/v1/responses');
    assert.equal(mantle.last.caller?.scheme, 'sigv4');
    runtime.reset();
    const claude = await client.responses.create({ model: 'aws/anthropic.claude-3-haiku-20240307-v1:0', input: 'hi' });
    assert.equal(claude.output_text, BedrockEmulator.REPLY.join(''));
    assert.equal(runtime.last.path, `/model/${encodeURIComponent('anthropic.claude-3-haiku-20240307-v1:0')}/converse`);
  });
});
