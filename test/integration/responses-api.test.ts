import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AnthropicEmulator } from '../emulators/anthropic.js';
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
