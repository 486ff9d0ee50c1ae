import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAnthropic } from '@ai-sdk/anthropic';
import { APICallError, generateText, isStepCount, streamText, tool } from 'ai';
import { z } from 'zod';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import type { RecordedRequest } from '../emulators/base.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { requiresNode } from '../helpers/node-version.js';
import { ANTHROPIC_PROVIDER_KEY, BEDROCK_CLAUDE, VERTEX_CLAUDE, VERTEX_TOKEN, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * The Vercel AI SDK's Anthropic provider, configured as its docs tell a user:
 * `createAnthropic({ baseURL, apiKey })` (`x-api-key`) or `authToken` (`Authorization: Bearer`),
 * the base URL the gateway's Messages API route `/anthropic/{instance}/v1` (or `/anthropic/v1`
 * with an alias). Behind it: Claude on Anthropic, on Bedrock through InvokeModel and on Vertex
 * through rawPredict; also the transparent route of the Anthropic instance.
 */
const MODEL = 'claude-haiku-4-5';

const weather = tool({
  description: 'Get the weather in a location',
  inputSchema: z.object({ location: z.string() }),
  execute: async ({ location }) => ({ location, celsius: 18 }),
});

describe('Vercel AI SDK (@ai-sdk/anthropic) against the Messages API routes', requiresNode(22), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  interface Backend {
    name: string;
    baseURL: () => string;
    model: string;
    reply: string;
    /** The last request the provider behind it saw. */
    last: () => RecordedRequest;
    /** Checks the last upstream request: the provider's credential, not the gateway key; `stream` as asked. */
    assertUpstream(stream: boolean): void;
  }

  const fromAnthropic = (stream: boolean) => {
    const seen = rig.anthropic.last;
    assert.equal(seen.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY);
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!JSON.stringify(seen.headers).includes(rig.key), 'the gateway key never reaches Anthropic');
    assert.equal(seen.path, '/v1/messages');
    assert.equal(JSON.parse(seen.body.toString('utf8')).stream === true, stream);
  };
  const fromBedrock = (stream: boolean) => {
    const seen = rig.bedrock.last;
    assert.equal(seen.modelId, BEDROCK_CLAUDE);
    assert.equal(seen.path.split('/').at(-1), stream ? 'invoke-with-response-stream' : 'invoke');
    assert.equal(seen.caller?.scheme === 'sigv4' ? seen.caller.arn : undefined, rig.awsUser.arn, 'signed with the gateway IAM user');
    assert.ok(!JSON.stringify(seen.headers).includes(rig.key), 'the gateway key never reaches AWS');
  };
  const fromVertex = (stream: boolean) => {
    const seen = rig.vertex.last;
    assert.equal(seen.path, `/v1/projects/proj-clients/locations/us-east5/publishers/anthropic/models/${VERTEX_CLAUDE}:${stream ? 'streamRawPredict' : 'rawPredict'}`);
    assert.equal(seen.headers.authorization, `Bearer ${VERTEX_TOKEN}`);
    assert.ok(!JSON.stringify(seen.headers).includes(rig.key), 'the gateway key never reaches Google');
  };
  const backends = (): Backend[] => [
    { name: 'Anthropic instance', baseURL: () => `${rig.gw.url}/anthropic/anth/v1`, model: MODEL, reply: AnthropicEmulator.REPLY.join(''), last: () => rig.anthropic.last, assertUpstream: fromAnthropic },
    { name: 'Bedrock instance', baseURL: () => `${rig.gw.url}/anthropic/bedrock_us1/v1`, model: BEDROCK_CLAUDE, reply: BedrockEmulator.REPLY.join(''), last: () => rig.bedrock.last, assertUpstream: fromBedrock },
    { name: 'Bedrock by alias on /anthropic/v1', baseURL: () => `${rig.gw.url}/anthropic/v1`, model: 'claude', reply: BedrockEmulator.REPLY.join(''), last: () => rig.bedrock.last, assertUpstream: fromBedrock },
    { name: 'Vertex instance', baseURL: () => `${rig.gw.url}/anthropic/gcp/v1`, model: VERTEX_CLAUDE, reply: VertexEmulator.REPLY.join(''), last: () => rig.vertex.last, assertUpstream: fromVertex },
    { name: 'Anthropic instance, transparent', baseURL: () => `${rig.gw.url}/transparent/anth/v1`, model: MODEL, reply: AnthropicEmulator.REPLY.join(''), last: () => rig.anthropic.last, assertUpstream: fromAnthropic },
  ];
  const anthropic = (backend: Backend, apiKey = rig.key) => createAnthropic({ baseURL: backend.baseURL(), apiKey });

  test('generateText: the answer and its usage, with the key as apiKey and as authToken', async () => {
    for (const backend of backends()) {
      const out = await generateText({ model: anthropic(backend)(backend.model), prompt: 'Say hello', maxRetries: 0 });
      assert.equal(out.text, backend.reply, backend.name);
      assert.equal(out.finishReason, 'stop', backend.name);
      assert.ok((out.usage.inputTokens ?? 0) > 0 && (out.usage.outputTokens ?? 0) > 0, `${backend.name}: usage reported`);
      backend.assertUpstream(false);

      const bearer = createAnthropic({ baseURL: backend.baseURL(), authToken: rig.key });
      assert.equal((await generateText({ model: bearer(backend.model), prompt: 'Say hello', maxRetries: 0 })).text, backend.reply, `${backend.name}, authToken`);
      backend.assertUpstream(false);
    }
  });

  test('streamText: the SSE events read into text deltas', async () => {
    for (const backend of backends()) {
      const result = streamText({ model: anthropic(backend)(backend.model), prompt: 'Say hello', maxRetries: 0 });
      const deltas: string[] = [];
      for await (const delta of result.textStream) deltas.push(delta);
      assert.equal(deltas.join(''), backend.reply, backend.name);
      assert.ok(deltas.filter((d) => d !== '').length > 1, `${backend.name}: more than one delta`);
      assert.equal(await result.finishReason, 'stop', backend.name);
      assert.ok(((await result.usage).outputTokens ?? 0) > 0, `${backend.name}: usage reported`);
      backend.assertUpstream(true);
    }
  });

  test('a tool call: tool_use parsed, executed, the tool_result sent back for the final answer', async () => {
    for (const backend of backends()) {
      const out = await generateText({ model: anthropic(backend)(backend.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.equal(out.steps.length, 2, backend.name);
      assert.equal(out.steps[0]!.finishReason, 'tool-calls', backend.name);
      assert.deepEqual(out.steps[0]!.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]], backend.name);
      assert.equal(out.text, backend.reply, `${backend.name}: the second turn's answer`);
      backend.assertUpstream(false);
      const sent = JSON.parse(backend.last().body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ type: string; id?: string; tool_use_id?: string; content?: unknown }> }> };
      assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user'], backend.name);
      const useId = sent.messages[1]?.content.find((c) => c.type === 'tool_use')?.id;
      const result = sent.messages[2]?.content.find((c) => c.type === 'tool_result');
      assert.ok(useId && result?.tool_use_id === useId, `${backend.name}: the result answers the call`);
      assert.match(JSON.stringify(result?.content), /celsius/, backend.name);

      const streamed = streamText({ model: anthropic(backend)(backend.model), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
      assert.equal(await streamed.text, backend.reply, backend.name);
      const steps = await streamed.steps;
      assert.deepEqual(steps[0]?.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]], `${backend.name}: input reassembled from input_json_delta fragments`);
      backend.assertUpstream(true);
    }
  });

  test("a wrong key: APICallError 401 in Anthropic's error shape, the key not echoed, nothing forwarded", async () => {
    const wrong = unknownGatewayKey();
    const upstream = () => rig.anthropic.requests.length + rig.bedrock.requests.length + rig.vertex.requests.length;
    const before = upstream();
    for (const backend of backends()) {
      await assert.rejects(generateText({ model: anthropic(backend, wrong)(backend.model), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
        assert.ok(APICallError.isInstance(err), `${backend.name}: ${String(err)}`);
        assert.equal(err.statusCode, 401, backend.name);
        assert.equal((JSON.parse(String(err.responseBody)) as { error?: { type?: string } }).error?.type, 'authentication_error', backend.name);
        assert.ok(!err.message.includes(wrong) && !String(err.responseBody).includes(wrong), 'the rejected key is not echoed');
        return true;
      });
      const streamed = streamText({ model: anthropic(backend, wrong)(backend.model), prompt: 'hi', maxRetries: 0, onError: () => {} });
      const errors: unknown[] = [];
      for await (const part of streamed.fullStream) if (part.type === 'error') errors.push(part.error);
      assert.equal(errors.length, 1, backend.name);
      assert.ok(APICallError.isInstance(errors[0]) && errors[0].statusCode === 401, backend.name);
    }
    assert.equal(upstream(), before, 'nothing reached a provider');
  });
});
