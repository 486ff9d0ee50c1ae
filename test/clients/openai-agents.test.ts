import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, OpenAIProvider, Runner, tool } from '@openai/agents';
import { z } from 'zod';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requiresNode } from '../helpers/node-version.js';
import { OPENAI_PROVIDER_KEY, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * OpenAI's Agents SDK pointed at the gateway through its documented provider settings:
 * `new OpenAIProvider({ apiKey, baseURL, useResponses: false })` on a `Runner`, so its models
 * speak Chat Completions on `/v1` (the SDK's default is the Responses API; that suite belongs
 * with `/v1/responses`). Tracing is off: left on, the SDK exports traces to api.openai.com with
 * OPENAI_API_KEY, which for a gateway user is the gateway key.
 */

const getWeather = tool({
  name: 'get_weather',
  description: 'Get the weather in a location',
  parameters: z.object({ location: z.string() }),
  execute: async ({ location }) => JSON.stringify({ location, celsius: 18 }),
});

describe('@openai/agents (Chat Completions models) against /v1', requiresNode(22), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  const runner = (apiKey = rig.key) => new Runner({ modelProvider: new OpenAIProvider({ apiKey, baseURL: `${rig.gw.url}/v1`, useResponses: false }), tracingDisabled: true });
  const backends = (): Array<{ name: string; model: string; reply: string }> => [
    { name: 'OpenAI instance', model: 'fast', reply: OpenAIEmulator.REPLY.join('') },
    { name: 'Bedrock instance', model: 'claude', reply: BedrockEmulator.REPLY.join('') },
  ];

  test('run: the final output and its usage', async () => {
    for (const backend of backends()) {
      const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model });
      const result = await runner().run(agent, 'Say hello');
      assert.equal(result.finalOutput, backend.reply, backend.name);
      assert.ok(result.state.usage.outputTokens > 0, `${backend.name}: usage reported`);
    }
    assert.equal(rig.openai.last.headers.authorization, `Bearer ${OPENAI_PROVIDER_KEY}`);
    assert.equal(rig.openai.last.path, '/v1/chat/completions');
  });

  test('run with stream: text deltas that add up to the final output', async () => {
    for (const backend of backends()) {
      const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model });
      const result = await runner().run(agent, 'Say hello', { stream: true });
      const deltas: string[] = [];
      for await (const text of result.toTextStream()) deltas.push(text);
      await result.completed;
      assert.equal(deltas.join(''), backend.reply, backend.name);
      assert.ok(deltas.length > 1, `${backend.name}: more than one delta`);
      assert.equal(result.finalOutput, backend.reply, backend.name);
    }
  });

  test('a tool call: the agent runs the tool and sends its output back for the final answer (run and stream)', async () => {
    for (const backend of backends()) {
      const agent = new Agent({ name: 'weather', instructions: 'Answer with the weather tool.', model: backend.model, tools: [getWeather] });
      const result = await runner().run(agent, 'What is the weather in Paris?');
      assert.equal(result.finalOutput, backend.reply, backend.name);
      const calls = result.newItems.filter((i) => i.type === 'tool_call_item').map((i) => i.rawItem);
      assert.deepEqual(calls.map((c) => (c.type === 'function_call' ? [c.name, JSON.parse(c.arguments)] : c.type)), [['get_weather', { location: 'Paris' }]], backend.name);
      const outputs = result.newItems.filter((i) => i.type === 'tool_call_output_item').map((i) => i.output);
      assert.deepEqual(outputs.map((o) => JSON.parse(String(o))), [{ location: 'Paris', celsius: 18 }], backend.name);

      const streamed = await runner().run(agent, 'What is the weather in Paris?', { stream: true });
      for await (const _ of streamed) void _;
      await streamed.completed;
      assert.equal(streamed.finalOutput, backend.reply, backend.name);
      assert.equal(streamed.newItems.filter((i) => i.type === 'tool_call_output_item').length, 1, `${backend.name}: the streamed call was run once`);
    }
    const sent = JSON.parse(rig.openai.last.body.toString('utf8')) as { messages: Array<{ role: string; content?: unknown }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool']);
    assert.match(String(sent.messages[3]?.content), /celsius/);
  });

  test('a wrong key: the OpenAI AuthenticationError (401), the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const before = rig.openai.requests.length + rig.bedrock.requests.length;
    const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: 'fast' });
    const refused = (err: unknown) => {
      const e = err as Error & { status?: number };
      assert.equal(e.constructor.name, 'AuthenticationError', String(err));
      assert.equal(e.status, 401);
      assert.ok(!e.message.includes(wrong), 'the rejected key is not echoed');
      return true;
    };
    await assert.rejects(runner(wrong).run(agent, 'hi'), refused);
    await assert.rejects(
      (async () => {
        const streamed = await runner(wrong).run(agent, 'hi', { stream: true });
        for await (const _ of streamed) void _;
        await streamed.completed;
        if (streamed.error) throw streamed.error;
      })(),
      refused,
    );
    assert.equal(rig.openai.requests.length + rig.bedrock.requests.length, before, 'nothing reached a provider');
  });
});
