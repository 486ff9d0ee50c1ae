import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAmazonBedrock } from '@ai-sdk/amazon-bedrock';
import { APICallError, generateText, isStepCount, streamText, tool } from 'ai';
import { z } from 'zod';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { requiresNode } from '../helpers/node-version.js';
import { BEDROCK_CLAUDE, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * The Vercel AI SDK's Amazon Bedrock provider against the gateway's root Bedrock routes
 * (`/model/{id}/converse`, `/converse-stream`), configured as its docs tell a user of a Bedrock
 * API key: `createAmazonBedrock({ baseURL, region, apiKey })`. `apiKey` (or
 * `AWS_BEARER_TOKEN_BEDROCK`) makes the provider send `Authorization: Bearer <key>` instead of
 * signing, and the gateway takes its own key there; it then signs for AWS with its own credentials.
 */

const weather = tool({
  description: 'Get the weather in a location',
  inputSchema: z.object({ location: z.string() }),
  execute: async ({ location }) => ({ location, celsius: 18 }),
});

describe('Vercel AI SDK (@ai-sdk/amazon-bedrock) against the root Bedrock routes', requiresNode(22), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  const bedrock = (apiKey = rig.key) => createAmazonBedrock({ baseURL: rig.gw.url, region: 'us-east-1', apiKey });
  const reply = BedrockEmulator.REPLY.join('');

  /** The last request AWS saw was signed by the gateway's IAM user, without the client's key. */
  function assertSignedByGateway(): void {
    const seen = rig.bedrock.last;
    assert.equal(seen.caller?.scheme === 'sigv4' ? seen.caller.arn : undefined, rig.awsUser.arn);
    assert.ok(!JSON.stringify(seen.headers).includes(rig.key), 'the gateway key never reaches AWS');
    assert.equal(rig.bedrock.signatureFailures, 0);
  }

  test('generateText → Converse: the answer and its usage', async () => {
    const out = await generateText({ model: bedrock()(BEDROCK_CLAUDE), prompt: 'Say hello', maxRetries: 0 });
    assert.equal(out.text, reply);
    assert.equal(out.finishReason, 'stop');
    assert.ok((out.usage.inputTokens ?? 0) > 0 && (out.usage.outputTokens ?? 0) > 0);
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse`);
    assertSignedByGateway();
  });

  test('streamText → ConverseStream: event-stream frames decoded by the SDK into text deltas', async () => {
    const result = streamText({ model: bedrock()(BEDROCK_CLAUDE), prompt: 'Say hello', maxRetries: 0 });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    assert.deepEqual(deltas.filter((d) => d !== ''), BedrockEmulator.REPLY);
    assert.equal(await result.finishReason, 'stop');
    assert.ok(((await result.usage).outputTokens ?? 0) > 0);
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse-stream`);
    assertSignedByGateway();
  });

  test('a tool call: toolUse parsed, executed, the toolResult sent back for the final answer', async () => {
    const out = await generateText({ model: bedrock()(BEDROCK_CLAUDE), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
    assert.equal(out.steps.length, 2);
    assert.equal(out.steps[0]!.finishReason, 'tool-calls');
    assert.deepEqual(out.steps[0]!.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]]);
    assert.equal(out.text, reply);
    const sent = JSON.parse(rig.bedrock.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ toolUse?: { toolUseId: string }; toolResult?: { toolUseId: string; content: unknown } }> }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    const toolUseId = sent.messages[1]?.content.find((c) => c.toolUse)?.toolUse?.toolUseId;
    const result = sent.messages[2]?.content.find((c) => c.toolResult)?.toolResult;
    assert.ok(toolUseId && result?.toolUseId === toolUseId, 'the result answers the call');
    assert.match(JSON.stringify(result?.content), /celsius/);

    const streamed = streamText({ model: bedrock()(BEDROCK_CLAUDE), prompt: 'What is the weather in Paris?', tools: { weather }, stopWhen: isStepCount(2), maxRetries: 0 });
    assert.equal(await streamed.text, reply);
    const steps = await streamed.steps;
    assert.deepEqual(steps[0]?.toolCalls.map((c) => [c.toolName, c.input]), [['weather', { location: 'Paris' }]], 'input reassembled from the streamed fragments');
    assertSignedByGateway();
  });

  test('the same under /transparent/{instance}, and configured from the environment alone (AWS_BEARER_TOKEN_BEDROCK, AWS_ENDPOINT_URL_BEDROCK_RUNTIME)', async () => {
    const transparent = createAmazonBedrock({ baseURL: `${rig.gw.url}/transparent/bedrock_us1`, region: 'us-east-1', apiKey: rig.key });
    assert.equal((await generateText({ model: transparent(BEDROCK_CLAUDE), prompt: 'Say hello', maxRetries: 0 })).text, reply);
    const streamed = streamText({ model: transparent(BEDROCK_CLAUDE), prompt: 'Say hello', maxRetries: 0 });
    assert.equal(await streamed.text, reply);
    assertSignedByGateway();

    const names = ['AWS_BEARER_TOKEN_BEDROCK', 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME', 'AWS_REGION'] as const;
    const saved = names.map((n) => process.env[n]);
    Object.assign(process.env, { AWS_BEARER_TOKEN_BEDROCK: rig.key, AWS_ENDPOINT_URL_BEDROCK_RUNTIME: rig.gw.url, AWS_REGION: 'us-east-1' });
    try {
      rig.bedrock.reset();
      const fromEnv = createAmazonBedrock();
      assert.equal((await generateText({ model: fromEnv(BEDROCK_CLAUDE), prompt: 'Say hello', maxRetries: 0 })).text, reply);
      assert.equal(rig.bedrock.requests.length, 1);
      assertSignedByGateway();
    } finally {
      names.forEach((n, i) => (saved[i] === undefined ? delete process.env[n] : (process.env[n] = saved[i])));
    }
  });

  test('signing with AWS credentials of its own (dummy ones do) and the gateway key in x-api-key: the gateway drops that signature and signs itself', async () => {
    const signing = createAmazonBedrock({ baseURL: rig.gw.url, region: 'us-east-1', accessKeyId: 'AKIDCLIENTDUMMY00000', secretAccessKey: 'client-dummy-secret', headers: { 'x-api-key': rig.key } });
    assert.equal((await generateText({ model: signing(BEDROCK_CLAUDE), prompt: 'Say hello', maxRetries: 0 })).text, reply);
    assertSignedByGateway();
    assert.ok(!String(rig.bedrock.last.headers.authorization).includes('AKIDCLIENTDUMMY'), 'the client signature does not reach AWS');
  });

  test('a key scoped to other models: APICallError 403 naming the model', async () => {
    const scoped = await rig.gw.key({ name: 'haiku-only', scopes: { instances: null, models: ['anthropic.claude-3-haiku*'] } });
    await assert.rejects(generateText({ model: bedrock(scoped)(BEDROCK_CLAUDE), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), String(err));
      assert.equal(err.statusCode, 403);
      assert.match(err.message, /may not use model/);
      return true;
    });
  });

  test('a wrong key: APICallError 401 with the gateway message, the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const before = rig.bedrock.requests.length;
    await assert.rejects(generateText({ model: bedrock(wrong)(BEDROCK_CLAUDE), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), String(err));
      assert.equal(err.statusCode, 401);
      assert.ok(err.message.length > 0);
      assert.ok(!err.message.includes(wrong) && !String(err.responseBody).includes(wrong), 'the rejected key is not echoed');
      return true;
    });
    const streamed = streamText({ model: bedrock(wrong)(BEDROCK_CLAUDE), prompt: 'hi', maxRetries: 0, onError: () => {} });
    const errors: unknown[] = [];
    for await (const part of streamed.fullStream) if (part.type === 'error') errors.push(part.error);
    assert.equal(errors.length, 1);
    assert.ok(APICallError.isInstance(errors[0]) && errors[0].statusCode === 401);
    assert.equal(rig.bedrock.requests.length, before, 'nothing reached AWS');
  });
});
