import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-ant-protocol-0123456789abcdef';
const WEATHER_TOOL: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } },
};

describe('protocol mode: the OpenAI SDK in front of Anthropic', () => {
  let emu: AnthropicEmulator;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    emu = await new AnthropicEmulator([PROVIDER_KEY]).start();
    process.env['PROTOCOL_ANTHROPIC_KEY'] = PROVIDER_KEY;
    gw = await startGateway({
      instances: { claude: { type: 'anthropic', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:PROTOCOL_ANTHROPIC_KEY}' } } },
      model_aliases: { sonnet: 'claude/claude-sonnet-4-5' },
    });
    client = new OpenAI({ apiKey: await gw.key({ name: 'openai-sdk' }), baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('a chat completion becomes a Messages call: system lifted, x-api-key and anthropic-version set, answer in OpenAI shape', async () => {
    emu.reset();
    const out = await client.chat.completions.create({
      model: 'sonnet',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }],
      max_tokens: 50,
    });
    assert.equal(out.choices[0]?.message.content, AnthropicEmulator.REPLY.join(''));
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.equal(out.model, 'claude-sonnet-4-5');
    assert.deepEqual(out.usage && [out.usage.prompt_tokens, out.usage.completion_tokens], [11, AnthropicEmulator.REPLY.length]);
    const sent = JSON.parse(emu.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(emu.last.path, '/v1/messages');
    assert.equal(emu.last.headers['x-api-key'], PROVIDER_KEY);
    assert.equal(typeof emu.last.headers['anthropic-version'], 'string');
    assert.equal(sent['model'], 'claude-sonnet-4-5');
    assert.equal(sent['max_tokens'], 50);
    assert.ok(JSON.stringify(sent['system']).includes('Be brief.'));
  });

  test('streaming with usage: deltas, then finish_reason, then the usage chunk', async () => {
    const stream = await client.chat.completions.create({ model: 'sonnet', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    const finishes: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text.join(''), AnthropicEmulator.REPLY.join(''));
    assert.deepEqual(finishes, ['stop']);
    assert.equal(usage?.completion_tokens, AnthropicEmulator.REPLY.length);
  });

  test('tools: a tool call, streamed argument deltas joined by the SDK, and the tool result sent back', async () => {
    const asked: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const out = await client.chat.completions.create({ model: 'sonnet', messages: asked, tools: [WEATHER_TOOL] });
    const call = out.choices[0]?.message.tool_calls?.[0];
    assert.equal(out.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(call?.type === 'function' ? call.function.name : '', 'get_weather');
    assert.deepEqual(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}'), { location: 'Paris' });

    const streamed = client.chat.completions.stream({ model: 'sonnet', messages: asked, tools: [WEATHER_TOOL] });
    const final = await streamed.finalChatCompletion();
    const streamedCall = final.choices[0]?.message.tool_calls?.[0];
    assert.deepEqual(JSON.parse(streamedCall?.type === 'function' ? streamedCall.function.arguments : '{}'), { location: 'Paris' });

    emu.reset();
    await client.chat.completions.create({
      model: 'sonnet',
      messages: [...asked, out.choices[0]!.message, { role: 'tool', tool_call_id: call!.id, content: '18°C, sunny' }, { role: 'user', content: 'Thanks' }],
    });
    const sent = JSON.parse(emu.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; tool_use_id?: string }> }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.ok(sent.messages[2]!.content.some((c) => c.type === 'tool_result' && c.tool_use_id === call!.id));
  });

  test('a parameter Anthropic cannot honour is refused with 400 before anything is sent', async () => {
    const before = emu.requests.length;
    await assert.rejects(client.chat.completions.create({ model: 'sonnet', n: 2, messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /\bn\b/);
      return true;
    });
    assert.equal(emu.requests.length, before);
  });

  test('an Anthropic error comes back as an OpenAI error with its message', async () => {
    emu.inject({ status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    await assert.rejects(client.chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 502);
      assert.match(err.message, /Overloaded/);
      return true;
    });
  });
});
