import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAnthropic } from '@ai-sdk/anthropic';
import { APICallError, generateText, isStepCount, streamText, tool } from 'ai';
import { z } from 'zod';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { requiresNode } from '../helpers/node-version.js';
import { ANTHROPIC_PROVIDER_KEY, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * The Vercel AI SDK's Anthropic provider, configured as its docs tell a user:
 * `createAnthropic({ baseURL, apiKey })` (`x-api-key`) or `authToken` (`Authorization: Bearer`).
 * It runs against the transparent route of an Anthropic instance today; when the Messages API
 * route `/anthropic/{instance}/v1` exists, only {@link anthropicBaseURL} changes.
 */
const anthropicBaseURL = (gatewayURL: string) => `${gatewayURL}/transparent/anth/v1`;
const MODEL = 'claude-haiku-4-5';

const weather = tool({
  description: 'Get the weather in a location',
  inputSchema: z.object({ location: z.string() }),
  execute: async ({ location }) => ({ location, celsius: 18 }),
});

describe('Vercel AI SDK (@ai-sdk/anthropic) against an Anthropic instance', requiresNode(22), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  const anthropic = (apiKey = rig.key) => createAnthropic({ baseURL: anthropicBaseURL(rig.gw.url), apiKey });
  const reply = AnthropicEmulator.REPLY.join('');

  /** The last request Anthropic saw carried the gateway's provider key, not the client's. */
  function assertProviderKey(): void {
    assert.equal(rig.anthropic.last.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY);
    assert.equal(rig.anthropic.last.headers.authorization, undefined);
    assert.ok(!JSON.stringify(rig.anthropic.last.headers).includes(rig.key), 'the gateway key never reaches Anthropic');
    assert.equal(rig.anthropic.last.path, '/v1/messages');
  }

  test('generateText: the answer and its usage, with the key as apiKey and as authToken', async () => {
    const out = await generateText({ model: anthropic()(MODEL), prompt: 'Say hello', maxRetries: 0 });
    assert.equal(out.text, reply);
    assert.equal(out.finishReason, 'stop');
    assert.ok((out.usage.inputTokens ?? 0) > 0 && (out.usage.outputTokens ?? 0) > 0);
    assertProviderKey();

    const bearer = createAnthropic({ baseURL: anthropicBaseURL(rig.gw.url), authToken: rig.key });
    assert.equal((await generateText({ model: bearer(MODEL), prompt: 'Say hello', maxRetries: 0 })).text, reply);
    assertProviderKey();
  });

  test('streamText: the SSE events read into text deltas', async () => {
    const result = streamText({ model: anthropic()(MODEL), prompt: 'Say hello', maxRetries: 0 });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    assert.deepEqual(deltas.filter((d) => d !== ''), AnthropicEmulator.REPLY);
    assert.equal(await result.finishReason, 'stop');
    assert.ok(((await result.usage).outputTokens ?? 0) > 0);
    assert.equal(JSON.parse(rig.anthropic.last.body.toString('utf8')).stream, true);
    assertProviderKey();
  });

  test('a tool call: tool_use parsed, executed, the tool_result sent back for the final answer', async () => {
    const out = await generateText({ model: anthropic()(MODEL), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
    assert.equal(out.steps.length, 2);
    assert.equal(out.steps[0]!.finishReason, 'tool-calls');
    assert.deepEqual(out.steps[0]!.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]]);
    assert.equal(out.text, reply);
    const sent = JSON.parse(rig.anthropic.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; id?: string; tool_use_id?: string; content?: unknown }> }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    const useId = sent.messages[1]?.content.find((c) => c.type === 'tool_use')?.id;
    const result = sent.messages[2]?.content.find((c) => c.type === 'tool_result');
    assert.ok(useId && result?.tool_use_id === useId, 'the result answers the call');
    assert.match(JSON.stringify(result?.content), /celsius/);

    const streamed = streamText({ model: anthropic()(MODEL), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
    assert.equal(await streamed.text, reply);
    const steps = await streamed.steps;
    assert.deepEqual(steps[0]?.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]], 'input reassembled from input_json_delta fragments');
    assertProviderKey();
  });

  test('a wrong key: APICallError 401 in Anthropic\'s error shape, the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const before = rig.anthropic.requests.length;
    await assert.rejects(generateText({ model: anthropic(wrong)(MODEL), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), String(err));
      assert.equal(err.statusCode, 401);
      assert.equal((JSON.parse(String(err.responseBody)) as { type?: string; error?: { type?: string } }).error?.type, 'authentication_error');
      assert.ok(!err.message.includes(wrong) && !String(err.responseBody).includes(wrong), 'the rejected key is not echoed');
      return true;
    });
    const streamed = streamText({ model: anthropic(wrong)(MODEL), prompt: 'hi', maxRetries: 0, onError: () => {} });
    const errors: unknown[] = [];
    for await (const part of streamed.fullStream) if (part.type === 'error') errors.push(part.error);
    assert.equal(errors.length, 1);
    assert.ok(APICallError.isInstance(errors[0]) && errors[0].statusCode === 401);
    assert.equal(rig.anthropic.requests.length, before, 'nothing reached Anthropic');
  });
});
