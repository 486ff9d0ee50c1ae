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
 * The Vercel AI SDK's OpenAI provider in chat mode (`openai.chat(model)` → Chat Completions),
 * configured as its docs tell a user: `createOpenAI({ baseURL, apiKey })`, the gateway's `/v1`
 * and a gateway key. Against an OpenAI instance, and through protocol mode against a Bedrock
 * instance (Converse behind the gateway) and an Anthropic one, by alias and by `instance/model`.
 */

const weather = tool({
  description: 'Get the weather in a location',
  inputSchema: z.object({ location: z.string() }),
  execute: async ({ location }) => ({ location, celsius: 18 }),
});

describe('Vercel AI SDK (@ai-sdk/openai, chat mode) against /v1', requiresNode(22), () => {
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
    { name: 'OpenAI instance by alias', model: 'fast', reply: OpenAIEmulator.REPLY.join(''), requests: () => rig.openai.requests.length },
    { name: 'Bedrock instance as instance/model', model: `bedrock_us1/${BEDROCK_CLAUDE}`, reply: BedrockEmulator.REPLY.join(''), requests: () => rig.bedrock.requests.length },
    { name: 'Bedrock instance by alias', model: 'claude', reply: BedrockEmulator.REPLY.join(''), requests: () => rig.bedrock.requests.length },
    { name: 'Anthropic instance as instance/model', model: 'anth/claude-haiku-4-5', reply: AnthropicEmulator.REPLY.join(''), requests: () => rig.anthropic.requests.length },
  ];

  test('generateText: the answer and its usage, the provider credential applied by the gateway', async () => {
    for (const backend of backends()) {
      const before = backend.requests();
      const out = await generateText({ model: provider().chat(backend.model), prompt: 'Say hello', maxRetries: 0 });
      assert.equal(out.text, backend.reply, backend.name);
      assert.equal(out.finishReason, 'stop', backend.name);
      assert.ok((out.usage.outputTokens ?? 0) > 0, `${backend.name}: usage reported`);
      assert.equal(backend.requests(), before + 1, `${backend.name}: one upstream call`);
    }
    assert.equal(rig.openai.last.headers.authorization, `Bearer ${OPENAI_PROVIDER_KEY}`);
    assert.equal(rig.openai.last.path, '/v1/chat/completions');
    assert.equal(JSON.parse(rig.openai.last.body.toString('utf8')).model, 'gpt-4o-mini');
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse`);
    assert.equal(rig.bedrock.last.caller?.scheme === 'sigv4' ? rig.bedrock.last.caller.arn : undefined, rig.awsUser.arn);
    assert.ok(!JSON.stringify(rig.bedrock.last.headers).includes(rig.key), 'the gateway key never reaches AWS');
    assert.equal(rig.anthropic.last.path, '/v1/messages');
    assert.equal(rig.anthropic.last.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY);
    assert.equal(JSON.parse(rig.anthropic.last.body.toString('utf8')).model, 'claude-haiku-4-5');
  });

  test('streamText: the text arrives in deltas, usage at the end', async () => {
    for (const backend of backends()) {
      const result = streamText({ model: provider().chat(backend.model), prompt: 'Say hello', maxRetries: 0 });
      const deltas: string[] = [];
      for await (const delta of result.textStream) deltas.push(delta);
      assert.equal(deltas.join(''), backend.reply, backend.name);
      assert.ok(deltas.length > 1, `${backend.name}: streamed in more than one delta`);
      assert.equal(await result.finishReason, 'stop', backend.name);
      assert.ok(((await result.usage).outputTokens ?? 0) > 0, `${backend.name}: usage reported`);
    }
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse-stream`);
  });

  test('a tool call: parsed by the SDK, executed, its result sent back for the final answer (generateText and streamText)', async () => {
    for (const backend of backends()) {
      const out = await generateText({ model: provider().chat(backend.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.equal(out.steps.length, 2, backend.name);
      const call = out.steps[0]!.toolCalls[0];
      assert.equal(call?.toolName, 'weather', backend.name);
      assert.deepEqual(call?.input, { location: 'Paris' }, backend.name);
      assert.equal(out.steps[0]!.finishReason, 'tool-calls', backend.name);
      assert.deepEqual(out.steps[0]!.toolResults[0]?.output, { location: 'Paris', celsius: 18 }, backend.name);
      assert.equal(out.text, backend.reply, `${backend.name}: the second turn's answer`);

      const streamed = streamText({ model: provider().chat(backend.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.equal(await streamed.text, backend.reply, backend.name);
      const steps = await streamed.steps;
      assert.deepEqual(steps[0]?.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]], `${backend.name}: arguments reassembled from fragments`);
    }
    // The second turn carried the tool result to each provider in its own shape.
    const oaiSent = rig.openai.requests.map((r) => JSON.parse(r.body.toString('utf8')) as { messages: Array<{ role: string; tool_call_id?: string; content?: unknown }> }).at(-1)!;
    assert.deepEqual(oaiSent.messages.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.match(String(oaiSent.messages[2]?.content), /"celsius":18/);
    const bedrockSent = JSON.parse(rig.bedrock.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ toolResult?: { content: unknown } }> }> };
    assert.deepEqual(bedrockSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.match(JSON.stringify(bedrockSent.messages[2]?.content[0]?.toolResult), /celsius/);
    const anthropicSent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; content?: unknown }> }> };
    assert.deepEqual(anthropicSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(anthropicSent.messages[2]?.content[0]?.type, 'tool_result');
    assert.match(JSON.stringify(anthropicSent.messages[2]?.content[0]?.content), /celsius/);
  });

  test('a key scoped to one model: APICallError 403 for another, the alias resolving to the allowed one passes', async () => {
    const scoped = await rig.gw.key({ name: 'mini-only', scopes: { instances: null, models: ['gpt-4o-mini'] } });
    assert.equal((await generateText({ model: provider(scoped).chat('fast'), prompt: 'hi', maxRetries: 0 })).text, OpenAIEmulator.REPLY.join(''));
    await assert.rejects(generateText({ model: provider(scoped).chat('claude'), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), String(err));
      assert.equal(err.statusCode, 403);
      return true;
    });
  });

  test('a wrong key: APICallError with status 401, the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const upstream = () => rig.openai.requests.length + rig.anthropic.requests.length + rig.bedrock.requests.length;
    const before = upstream();
    for (const backend of backends()) {
      await assert.rejects(generateText({ model: provider(wrong).chat(backend.model), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
        assert.ok(APICallError.isInstance(err), `${backend.name}: ${String(err)}`);
        assert.equal(err.statusCode, 401);
        assert.equal(err.isRetryable, false);
        assert.ok(!err.message.includes(wrong) && !String(err.responseBody).includes(wrong), 'the rejected key is not echoed');
        return true;
      });
      const streamed = streamText({ model: provider(wrong).chat(backend.model), prompt: 'hi', maxRetries: 0, onError: () => {} });
      const errors: unknown[] = [];
      for await (const part of streamed.fullStream) if (part.type === 'error') errors.push(part.error);
      assert.equal(errors.length, 1, backend.name);
      assert.ok(APICallError.isInstance(errors[0]) && errors[0].statusCode === 401, backend.name);
    }
    assert.equal(upstream(), before, 'nothing reached a provider');
  });
});
