import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, OpenAIProvider, run, Runner, setDefaultOpenAIClient, setDefaultOpenAIKey, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requiresNode } from '../helpers/node-version.js';
import { ANTHROPIC_PROVIDER_KEY, OPENAI_PROVIDER_KEY, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * OpenAI's Agents SDK pointed at the gateway through its documented settings, in both of its
 * model APIs:
 *  - its default, the Responses API (`OpenAIResponsesModel`, `POST /v1/responses`), configured
 *    globally as its docs show for another endpoint: `setDefaultOpenAIClient(new OpenAI({ apiKey,
 *    baseURL }))`, then the top-level `run()`; on an OpenAI instance (the gateway passes it to
 *    OpenAI's own Responses API) and on Bedrock and Anthropic instances (through the chat hub);
 *  - Chat Completions (`new OpenAIProvider({ apiKey, baseURL, useResponses: false })` on a
 *    `Runner`), on `/v1/chat/completions`.
 * Tracing is off: left on, the SDK exports traces to api.openai.com with OPENAI_API_KEY, which
 * for a gateway user is the gateway key.
 */

const getWeather = tool({
  name: 'get_weather',
  description: 'Get the weather in a location',
  parameters: z.object({ location: z.string() }),
  execute: async ({ location }) => JSON.stringify({ location, celsius: 18 }),
});

describe('@openai/agents, Chat Completions models (useResponses: false) against /v1', requiresNode(22), () => {
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

/** What the SDK's Responses model sent in one request, as the OpenAI emulator got it from the gateway. */
interface SentResponsesBody {
  input: Array<{ type?: string; role?: string; call_id?: string; output?: unknown }>;
  instructions?: string;
  store?: unknown;
  previous_response_id?: unknown;
}

describe('@openai/agents, default model (Responses API) against /v1', requiresNode(22), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
    setTracingDisabled(true);
    // The documented global setup for an OpenAI-compatible endpoint: one client for every agent.
    // The project's `openai` is 6.x and the SDK's own is 7.x: the same runtime surface, other
    // type declarations, hence the cast (a user installing openai 7 beside it needs none).
    setDefaultOpenAIClient(new OpenAI({ apiKey: rig.key, baseURL: `${rig.gw.url}/v1` }) as unknown as Parameters<typeof setDefaultOpenAIClient>[0]);
  });
  after(async () => {
    await rig?.close();
  });

  const backends = (): Array<{ name: string; model: string; reply: string; requests: () => number }> => [
    { name: 'OpenAI instance (direct)', model: 'fast', reply: OpenAIEmulator.REPLY.join(''), requests: () => rig.openai.responsesReceived.length },
    { name: 'Bedrock instance (hub)', model: 'claude', reply: BedrockEmulator.REPLY.join(''), requests: () => rig.bedrock.requests.length },
    { name: 'Anthropic instance (hub)', model: 'anth/claude-haiku-4-5', reply: AnthropicEmulator.REPLY.join(''), requests: () => rig.anthropic.requests.length },
  ];

  test('run: the final output and its usage, one Responses call per turn', async () => {
    for (const backend of backends()) {
      const before = backend.requests();
      const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model });
      const result = await run(agent, 'Say hello');
      assert.equal(result.finalOutput, backend.reply, backend.name);
      assert.ok(result.state.usage.outputTokens > 0, `${backend.name}: usage reported`);
      assert.ok(result.state.usage.inputTokens > 0, `${backend.name}: input usage reported`);
      assert.match(String(result.lastResponseId), /^resp_/, `${backend.name}: a Responses id`);
      assert.equal(backend.requests(), before + 1, `${backend.name}: one upstream call`);
    }
    assert.equal(rig.openai.last.path, '/v1/responses');
    assert.equal(rig.openai.last.headers.authorization, `Bearer ${OPENAI_PROVIDER_KEY}`);
    const sent = rig.openai.responsesReceived.at(-1) as unknown as SentResponsesBody & { model: string };
    assert.equal(sent.model, 'gpt-4o-mini');
    assert.equal(sent.instructions, 'Greet the user.');
    assert.equal(rig.anthropic.last.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY);
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { system?: unknown };
    assert.match(JSON.stringify(anthropicSent.system), /Greet the user\./, 'instructions became the system prompt');
  });

  test('run with stream: text deltas that add up to the final output', async () => {
    for (const backend of backends()) {
      const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model });
      const result = await run(agent, 'Say hello', { stream: true });
      const deltas: string[] = [];
      for await (const text of result.toTextStream()) deltas.push(text);
      await result.completed;
      assert.equal(result.error, null, backend.name);
      assert.equal(deltas.join(''), backend.reply, backend.name);
      assert.ok(deltas.length > 1, `${backend.name}: more than one delta`);
      assert.equal(result.finalOutput, backend.reply, backend.name);
    }
    assert.equal((rig.openai.responsesReceived.at(-1) as { stream?: unknown }).stream, true);
  });

  test('a tool call: the agent runs the tool and sends its output back for the final answer (run and stream)', async () => {
    for (const backend of backends()) {
      const agent = new Agent({ name: 'weather', instructions: 'Answer with the weather tool.', model: backend.model, tools: [getWeather] });
      const result = await run(agent, 'What is the weather in Paris?');
      assert.equal(result.finalOutput, backend.reply, backend.name);
      const calls = result.newItems.filter((i) => i.type === 'tool_call_item').map((i) => i.rawItem);
      assert.deepEqual(calls.map((c) => (c.type === 'function_call' ? [c.name, JSON.parse(c.arguments)] : c.type)), [['get_weather', { location: 'Paris' }]], backend.name);
      const outputs = result.newItems.filter((i) => i.type === 'tool_call_output_item').map((i) => i.output);
      assert.deepEqual(outputs.map((o) => JSON.parse(String(o))), [{ location: 'Paris', celsius: 18 }], backend.name);

      const streamed = await run(agent, 'What is the weather in Paris?', { stream: true });
      for await (const _ of streamed) void _;
      await streamed.completed;
      assert.equal(streamed.error, null, backend.name);
      assert.equal(streamed.finalOutput, backend.reply, backend.name);
      assert.equal(streamed.newItems.filter((i) => i.type === 'tool_call_output_item').length, 1, `${backend.name}: the streamed call was run once`);
    }
    // The SDK's second turn, as OpenAI got it: the call and its output under one call_id.
    const second = rig.openai.responsesReceived.findLast((b) => (b as unknown as SentResponsesBody).input.some?.((i) => i.type === 'function_call_output')) as unknown as SentResponsesBody;
    assert.ok(second, 'a second turn carried the tool output');
    const call = second.input.find((i) => i.type === 'function_call');
    const output = second.input.find((i) => i.type === 'function_call_output');
    assert.ok(call && output, JSON.stringify(second.input));
    assert.equal(output.call_id, call.call_id);
    assert.match(JSON.stringify(output.output), /celsius/);
    assert.equal(second.store, false, 'nothing kept at OpenAI');
    // Through the hub the tool output reached Claude as a tool_result.
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; content?: unknown }> }> };
    assert.deepEqual(anthropicSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(anthropicSent.messages[2]?.content[0]?.type, 'tool_result');
    assert.match(JSON.stringify(anthropicSent.messages[2]?.content[0]?.content), /celsius/);
  });

  // The AI SDK sends such a preamble back as an item_reference (ai-sdk-openai-responses.test.ts);
  // the Agents SDK sends the message item itself, so its loop completes with the store left on.
  test('text and a tool call in one answer (through the hub): the whole assistant turn goes back, the loop completes', async () => {
    const preamble = 'Let me look that up.';
    rig.anthropic.inject({
      status: 200,
      body: {
        id: 'msg_01preamble',
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        content: [
          { type: 'text', text: preamble },
          { type: 'tool_use', id: 'toolu_01preamble', name: 'get_weather', input: { location: 'Paris' } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 20 },
      },
    });
    const agent = new Agent({ name: 'weather', instructions: 'Answer with the weather tool.', model: 'anth/claude-haiku-4-5', tools: [getWeather] });
    const result = await run(agent, 'What is the weather in Paris?');
    assert.equal(result.finalOutput, AnthropicEmulator.REPLY.join(''));
    assert.equal(result.newItems.filter((i) => i.type === 'tool_call_output_item').length, 1);
    const sent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; text?: string }> }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(sent.messages[1]?.content.map((c) => [c.type, c.text]), [['text', preamble], ['tool_use', undefined]]);
  });

  test('previousResponseId: a second run continues the first from the gateway store', async () => {
    for (const backend of backends()) {
      const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model });
      const first = await run(agent, 'My name is Ada.');
      const second = await run(agent, 'What is my name?', { previousResponseId: first.lastResponseId });
      assert.equal(second.finalOutput, backend.reply, backend.name);
    }
    const sent = rig.openai.responsesReceived.findLast((b) => (b as unknown as SentResponsesBody).input.length > 1) as unknown as SentResponsesBody;
    assert.deepEqual(sent.input.map((i) => i.role), ['user', 'assistant', 'user'], 'the gateway spelled out the earlier turn');
    assert.equal(sent.previous_response_id, undefined);
  });

  test('the other documented setup: setDefaultOpenAIKey and a provider with the base URL (default Responses model)', async () => {
    setDefaultOpenAIKey(rig.key);
    const runner = new Runner({ modelProvider: new OpenAIProvider({ baseURL: `${rig.gw.url}/v1` }) });
    for (const backend of backends()) {
      const before = backend.requests();
      const result = await runner.run(new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model }), 'Say hello');
      assert.equal(result.finalOutput, backend.reply, backend.name);
      assert.equal(backend.requests(), before + 1, backend.name);
    }
    assert.equal(rig.openai.last.path, '/v1/responses');
  });

  test('a wrong key: the OpenAI AuthenticationError (401), the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const upstream = () => rig.openai.requests.length + rig.bedrock.requests.length + rig.anthropic.requests.length;
    const before = upstream();
    // A provider of its own: the default client is shared by the whole process.
    const runner = new Runner({ modelProvider: new OpenAIProvider({ apiKey: wrong, baseURL: `${rig.gw.url}/v1` }) });
    const refused = (err: unknown) => {
      const e = err as Error & { status?: number };
      assert.equal(e.constructor.name, 'AuthenticationError', String(err));
      assert.equal(e.status, 401);
      assert.ok(!e.message.includes(wrong), 'the rejected key is not echoed');
      return true;
    };
    for (const backend of backends()) {
      const agent = new Agent({ name: 'greeter', instructions: 'Greet the user.', model: backend.model });
      await assert.rejects(runner.run(agent, 'hi'), refused);
      await assert.rejects(
        (async () => {
          const streamed = await runner.run(agent, 'hi', { stream: true });
          for await (const _ of streamed) void _;
          await streamed.completed;
          if (streamed.error) throw streamed.error;
        })(),
        refused,
      );
    }
    assert.equal(upstream(), before, 'nothing reached a provider');
  });
});
