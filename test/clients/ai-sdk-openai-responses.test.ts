import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateText, isStepCount, streamText, tool } from 'ai';
import { z } from 'zod';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requiresNode } from '../helpers/node-version.js';
import { ANTHROPIC_PROVIDER_KEY, BEDROCK_CLAUDE, OPENAI_PROVIDER_KEY, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * The Vercel AI SDK's OpenAI provider in its default mode: `openai(model)` speaks the Responses
 * API (`POST /v1/responses`). Configured as its docs tell a user, `createOpenAI({ baseURL,
 * apiKey })` with the gateway's `/v1` and a gateway key. Against an OpenAI instance (the gateway
 * passes the request to OpenAI's own Responses API) and against Bedrock and Anthropic instances
 * (the gateway converts to chat and back through its hub).
 */

const weather = tool({
  description: 'Get the weather in a location',
  inputSchema: z.object({ location: z.string() }),
  execute: async ({ location }) => ({ location, celsius: 18 }),
});

interface SentInput {
  type?: string;
  role?: string;
  call_id?: string;
  output?: unknown;
}

describe('Vercel AI SDK (@ai-sdk/openai, Responses API) against /v1', requiresNode(22), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  const provider = (apiKey = rig.key) => createOpenAI({ baseURL: `${rig.gw.url}/v1`, apiKey });

  /** Each backend: the model id the client names, the reply its emulator writes, the emulator's request count. */
  const backends = (): Array<{ name: string; model: string; reply: string; requests: () => number }> => [
    { name: 'OpenAI instance by alias (direct)', model: 'fast', reply: OpenAIEmulator.REPLY.join(''), requests: () => rig.openai.requests.length },
    { name: 'OpenAI instance as instance/model (direct)', model: 'oai/gpt-4o', reply: OpenAIEmulator.REPLY.join(''), requests: () => rig.openai.requests.length },
    { name: 'Bedrock instance by alias (hub)', model: 'claude', reply: BedrockEmulator.REPLY.join(''), requests: () => rig.bedrock.requests.length },
    { name: 'Anthropic instance as instance/model (hub)', model: 'anth/claude-haiku-4-5', reply: AnthropicEmulator.REPLY.join(''), requests: () => rig.anthropic.requests.length },
  ];

  test('generateText: the answer and its usage, the provider credential applied by the gateway', async () => {
    for (const backend of backends()) {
      const before = backend.requests();
      const out = await generateText({ model: provider()(backend.model), prompt: 'Say hello', maxRetries: 0 });
      assert.equal(out.text, backend.reply, backend.name);
      assert.equal(out.finishReason, 'stop', backend.name);
      assert.ok((out.usage.outputTokens ?? 0) > 0, `${backend.name}: usage reported`);
      assert.ok((out.usage.inputTokens ?? 0) > 0, `${backend.name}: input usage reported`);
      assert.match(String(out.response.id), /^resp_/, `${backend.name}: a Responses id`);
      assert.equal(backend.requests(), before + 1, `${backend.name}: one upstream call`);
    }
    // Direct: OpenAI's own Responses API with the provider key and the provider's model id.
    assert.equal(rig.openai.last.path, '/v1/responses');
    assert.equal(rig.openai.last.headers.authorization, `Bearer ${OPENAI_PROVIDER_KEY}`);
    assert.equal(JSON.parse(rig.openai.last.body.toString('utf8')).model, 'gpt-4o');
    // Hub: Converse and the Messages API, each signed or keyed by the gateway.
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse`);
    assert.equal(rig.bedrock.last.caller?.scheme === 'sigv4' ? rig.bedrock.last.caller.arn : undefined, rig.awsUser.arn);
    assert.ok(!JSON.stringify(rig.bedrock.last.headers).includes(rig.key), 'the gateway key never reaches AWS');
    assert.equal(rig.anthropic.last.path, '/v1/messages');
    assert.equal(rig.anthropic.last.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY);
    assert.equal(JSON.parse(rig.anthropic.last.body.toString('utf8')).model, 'claude-haiku-4-5');
  });

  test('streamText: the text arrives in deltas, usage at the end', async () => {
    for (const backend of backends()) {
      const result = streamText({ model: provider()(backend.model), prompt: 'Say hello', maxRetries: 0 });
      const deltas: string[] = [];
      for await (const delta of result.textStream) deltas.push(delta);
      assert.equal(deltas.join(''), backend.reply, backend.name);
      assert.ok(deltas.length > 1, `${backend.name}: streamed in more than one delta`);
      assert.equal(await result.finishReason, 'stop', backend.name);
      assert.ok(((await result.usage).outputTokens ?? 0) > 0, `${backend.name}: usage reported`);
    }
    assert.equal(rig.openai.last.path, '/v1/responses');
    assert.equal(JSON.parse(rig.openai.last.body.toString('utf8')).stream, true);
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse-stream`);
  });

  test('a tool call: parsed by the SDK, executed, its result sent back for the final answer (generateText and streamText)', async () => {
    for (const backend of backends()) {
      const out = await generateText({ model: provider()(backend.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.equal(out.steps.length, 2, backend.name);
      const call = out.steps[0]!.toolCalls[0];
      assert.equal(call?.toolName, 'weather', backend.name);
      assert.deepEqual(call?.input, { location: 'Paris' }, backend.name);
      assert.equal(out.steps[0]!.finishReason, 'tool-calls', backend.name);
      assert.deepEqual(out.steps[0]!.toolResults[0]?.output, { location: 'Paris', celsius: 18 }, backend.name);
      assert.equal(out.text, backend.reply, `${backend.name}: the second turn's answer`);

      const streamed = streamText({ model: provider()(backend.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.equal(await streamed.text, backend.reply, backend.name);
      const steps = await streamed.steps;
      assert.deepEqual(steps[0]?.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]], `${backend.name}: arguments reassembled from fragments`);
    }
    // The SDK's second turn, as OpenAI got it from the gateway: the call and its output, with
    // the same call_id, and nothing stored at OpenAI.
    const second = rig.openai.responsesReceived.at(-1)! as { input: SentInput[]; store?: unknown; previous_response_id?: unknown };
    const call = second.input.find((i) => i.type === 'function_call');
    const output = second.input.find((i) => i.type === 'function_call_output');
    assert.ok(call && output, JSON.stringify(second.input));
    assert.equal(output.call_id, call.call_id);
    assert.match(String(output.output), /"celsius":18/);
    assert.equal(second.store, false);
    assert.equal(second.previous_response_id, undefined);
    // Through the hub the tool result reached each provider in its own shape.
    const bedrockSent = JSON.parse(rig.bedrock.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ toolResult?: { content: unknown } }> }> };
    assert.deepEqual(bedrockSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.match(JSON.stringify(bedrockSent.messages[2]?.content[0]?.toolResult), /celsius/);
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; content?: unknown }> }> };
    assert.deepEqual(anthropicSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(anthropicSent.messages[2]?.content[0]?.type, 'tool_result');
    assert.match(JSON.stringify(anthropicSent.messages[2]?.content[0]?.content), /celsius/);
  });

  test('previousResponseId: the second turn names the first, the gateway supplies the history', async () => {
    for (const backend of backends()) {
      const first = await generateText({ model: provider()(backend.model), prompt: 'My name is Ada.', maxRetries: 0 });
      const second = await generateText({
        model: provider()(backend.model),
        prompt: 'What is my name?',
        providerOptions: { openai: { previousResponseId: first.response.id } },
        maxRetries: 0,
      });
      assert.equal(second.text, backend.reply, backend.name);
    }
    // OpenAI got the earlier turn spelled out, not a previous_response_id it never stored.
    const sent = rig.openai.responsesReceived.at(-1)! as { input: Array<{ role?: string }>; previous_response_id?: unknown };
    assert.equal(sent.previous_response_id, undefined);
    assert.deepEqual(sent.input.map((i) => i.role), ['user', 'assistant', 'user']);
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string }> };
    assert.deepEqual(anthropicSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
  });

  test('a conversation the client keeps itself (response.messages sent back): with store: false the earlier answer goes in full', async () => {
    for (const backend of backends()) {
      const first = await generateText({ model: provider()(backend.model), prompt: 'My name is Ada.', maxRetries: 0 });
      const messages = [{ role: 'user' as const, content: 'My name is Ada.' }, ...first.response.messages, { role: 'user' as const, content: 'What is my name?' }];
      const second = await generateText({ model: provider()(backend.model), messages, providerOptions: { openai: { store: false } }, maxRetries: 0 });
      assert.equal(second.text, backend.reply, backend.name);
    }
    const sent = rig.openai.responsesReceived.at(-1)! as { input: Array<{ type?: string; role?: string }> };
    assert.deepEqual(sent.input.map((i) => i.role), ['user', 'assistant', 'user']);
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: unknown }> };
    assert.deepEqual(anthropicSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.match(JSON.stringify(anthropicSent.messages[1]?.content), new RegExp(AnthropicEmulator.REPLY.join('').replace(/[.]/g, '\\.')));
  });

  // The SDK's default (store left on) sends an earlier answer it got back as an `item_reference`
  // to the stored item, as OpenAI resolves from its store; the gateway is the store here and
  // resolves it from its own, on the direct path and through the hub alike.
  test('the same conversation with the default store: the item_reference resolved from the gateway store, the earlier answer reaches the provider', async () => {
    for (const backend of backends()) {
      // The SDK keeps request and response bodies in its results only when asked to.
      const first = await generateText({ model: provider()(backend.model), prompt: 'My name is Ada.', include: { responseBody: true }, maxRetries: 0 });
      const messages = [{ role: 'user' as const, content: 'My name is Ada.' }, ...first.response.messages, { role: 'user' as const, content: 'What is my name?' }];
      const before = backend.requests();
      const second = await generateText({ model: provider()(backend.model), messages, include: { requestBody: true }, maxRetries: 0 });
      assert.equal(second.text, backend.reply, backend.name);
      assert.equal(backend.requests(), before + 1, `${backend.name}: one upstream call`);
      const input = (second.request.body as { input: Array<{ type?: string; id?: string }> }).input;
      assert.equal(input[1]?.type, 'item_reference', `${backend.name}: the SDK referred to the stored answer`);
      assert.equal(input[1]?.id, (first.response.body as { output: Array<{ id: string }> }).output[0]?.id, `${backend.name}: by the id the gateway answered with`);
    }
    // OpenAI got the answer itself (no reference to an item it never stored, no id).
    const sent = rig.openai.responsesReceived.at(-1)! as { input: Array<{ type?: string; role?: string; id?: unknown; content?: unknown }> };
    assert.deepEqual(sent.input.map((i) => i.role), ['user', 'assistant', 'user']);
    assert.equal(sent.input[1]?.id, undefined);
    assert.match(JSON.stringify(sent.input[1]?.content), new RegExp(OpenAIEmulator.REPLY.join('').replace(/[.]/g, '\\.')));
    const bedrockSent = JSON.parse(rig.bedrock.last.body.toString('utf8')) as { messages: Array<{ role: string; content: unknown }> };
    assert.deepEqual(bedrockSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.match(JSON.stringify(bedrockSent.messages[1]?.content), new RegExp(BedrockEmulator.REPLY.join('').replace(/[.]/g, '\\.')));
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: unknown }> };
    assert.deepEqual(anthropicSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.match(JSON.stringify(anthropicSent.messages[1]?.content), new RegExp(AnthropicEmulator.REPLY.join('').replace(/[.]/g, '\\.')));
  });

  test("another key's stored answer cannot be referenced: a 400 naming the item, nothing forwarded", async () => {
    const first = await generateText({ model: provider()('claude'), prompt: 'My name is Ada.', maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'My name is Ada.' }, ...first.response.messages, { role: 'user' as const, content: 'What is my name?' }];
    const upstream = rig.bedrock.requests.length;
    const otherKey = await rig.gw.key({ name: 'ai-sdk-other-owner' });
    await assert.rejects(generateText({ model: provider(otherKey)('claude'), messages, maxRetries: 0 }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), String(err));
      assert.equal(err.statusCode, 400);
      const input = (err.requestBodyValues as { input: Array<{ type?: string }> }).input;
      assert.equal(input[1]?.type, 'item_reference', 'the SDK referred to the stored answer');
      assert.equal((JSON.parse(String(err.responseBody)) as { error: { param: string } }).error.param, 'input[1]');
      return true;
    });
    assert.equal(rig.bedrock.requests.length, upstream, 'nothing reached the provider');
  });

  // Claude often says something before it calls a tool. The SDK sends that text back in the next
  // step of its tool loop: in full with store: false, as an item_reference with the default store
  // (resolved from the gateway's store). Either way the loop completes.
  test('text and a tool call in one answer: the tool loop completes with store: false and with the default store', async () => {
    const preamble = 'Let me look that up.';
    const textThenTool = {
      id: 'msg_01preamble',
      type: 'message',
      role: 'assistant',
      model: 'claude-haiku-4-5',
      content: [
        { type: 'text', text: preamble },
        { type: 'tool_use', id: 'toolu_01preamble', name: 'weather', input: { location: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 20 },
    };
    rig.anthropic.inject({ status: 200, body: textThenTool });
    const out = await generateText({
      model: provider()('anth/claude-haiku-4-5'),
      prompt: 'What is the weather in Paris?',
      tools: { weather },
      stopWhen: isStepCount(2),
      providerOptions: { openai: { store: false } },
      maxRetries: 0,
    });
    assert.equal(out.steps[0]?.text, preamble);
    assert.deepEqual(out.steps[0]?.toolCalls.map((t) => [t.toolName, t.input]), [['weather', { location: 'Paris' }]]);
    assert.equal(out.text, AnthropicEmulator.REPLY.join(''));
    const sent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; text?: string }> }> };
    assert.deepEqual(sent.messages[1]?.content.map((c) => [c.type, c.text]), [['text', preamble], ['tool_use', undefined]], 'the preamble and the call went back as one assistant turn');

    rig.anthropic.inject({ status: 200, body: textThenTool });
    const upstream = rig.anthropic.requests.length;
    const stored = await generateText({ model: provider()('anth/claude-haiku-4-5'), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), include: { requestBody: true }, maxRetries: 0 });
    assert.equal(stored.steps[0]?.text, preamble);
    assert.equal(stored.text, AnthropicEmulator.REPLY.join(''));
    assert.equal(rig.anthropic.requests.length, upstream + 2, 'both steps reached the provider');
    const input = (stored.steps[1]!.request.body as { input: Array<{ type?: string }> }).input;
    assert.deepEqual(input.map((i) => i.type), [undefined, 'item_reference', 'function_call', 'function_call_output'], 'the SDK referred to the preamble');
    const resolved = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; text?: string }> }> };
    assert.deepEqual(resolved.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(resolved.messages[1]?.content.map((c) => [c.type, c.text]), [['text', preamble], ['tool_use', undefined]], 'the resolved preamble and the call went back as one assistant turn');
  });

  test('the per-instance route (base URL /openai/<instance>): an answer and a tool round trip, on OpenAI and through the hub', async () => {
    const cases = [
      { instance: 'oai', model: 'gpt-4o', reply: OpenAIEmulator.REPLY.join('') },
      { instance: 'anth', model: 'claude-haiku-4-5', reply: AnthropicEmulator.REPLY.join('') },
    ];
    for (const c of cases) {
      const perInstance = createOpenAI({ baseURL: `${rig.gw.url}/openai/${c.instance}`, apiKey: rig.key });
      assert.equal((await generateText({ model: perInstance(c.model), prompt: 'Say hello', maxRetries: 0 })).text, c.reply, c.instance);
      const out = await generateText({ model: perInstance(c.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.deepEqual(out.steps[0]?.toolCalls.map((t) => [t.toolName, t.input]), [['weather', { location: 'Paris' }]], c.instance);
      assert.equal(out.text, c.reply, c.instance);
    }
    assert.equal(rig.openai.last.path, '/v1/responses');
    assert.equal((rig.openai.responsesReceived.at(-1) as { model?: unknown }).model, 'gpt-4o');
    assert.equal(JSON.parse(rig.anthropic.last.body.toString('utf8')).model, 'claude-haiku-4-5');
  });

  test('a wrong key: APICallError with status 401, the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const upstream = () => rig.openai.requests.length + rig.anthropic.requests.length + rig.bedrock.requests.length;
    const before = upstream();
    for (const backend of backends()) {
      await assert.rejects(generateText({ model: provider(wrong)(backend.model), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
        assert.ok(APICallError.isInstance(err), `${backend.name}: ${String(err)}`);
        assert.equal(err.statusCode, 401);
        assert.equal(err.isRetryable, false);
        assert.ok(!err.message.includes(wrong) && !String(err.responseBody).includes(wrong), 'the rejected key is not echoed');
        return true;
      });
      const streamed = streamText({ model: provider(wrong)(backend.model), prompt: 'hi', maxRetries: 0, onError: () => {} });
      const errors: unknown[] = [];
      for await (const part of streamed.fullStream) if (part.type === 'error') errors.push(part.error);
      assert.equal(errors.length, 1, backend.name);
      assert.ok(APICallError.isInstance(errors[0]) && errors[0].statusCode === 401, backend.name);
    }
    assert.equal(upstream(), before, 'nothing reached a provider');
  });
});
