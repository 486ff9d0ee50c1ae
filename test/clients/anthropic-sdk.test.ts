import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import type { RecordedRequest } from '../emulators/base.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { requiresNode } from '../helpers/node-version.js';
import { ANTHROPIC_PROVIDER_KEY, BEDROCK_CLAUDE, VERTEX_CLAUDE, VERTEX_TOKEN, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * The Anthropic SDK (`@anthropic-ai/sdk`) against the gateway's Messages API route, configured
 * as its docs tell a user: `new Anthropic({ baseURL: '<gateway>/anthropic/<instance>', apiKey })`
 * (`x-api-key`; `authToken` sends `Authorization: Bearer`). The same client code reaches Claude
 * on Anthropic, on Bedrock (InvokeModel, SigV4 by the gateway) and on Vertex (rawPredict, the
 * gateway's Google token).
 */

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Get the weather in a location',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

interface Backend {
  name: string;
  instance: string;
  model: string;
  reply: string;
  last(): RecordedRequest;
  requests(): number;
  /** Checks the last upstream request: the provider credential the gateway applied; streaming as asked. */
  assertUpstream(stream: boolean): void;
}

// @anthropic-ai/sdk sets no engines floor, so this suite runs on Node 20 too.
describe('@anthropic-ai/sdk against /anthropic/{instance} over Anthropic, Bedrock and Vertex', requiresNode(20), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  const backends = (): Backend[] => [
    {
      name: 'Anthropic', instance: 'anth', model: 'claude-haiku-4-5', reply: AnthropicEmulator.REPLY.join(''),
      last: () => rig.anthropic.last, requests: () => rig.anthropic.requests.length,
      assertUpstream: (stream) => {
        const seen = rig.anthropic.last;
        assert.equal(seen.path, '/v1/messages');
        assert.equal(seen.headers['x-api-key'], ANTHROPIC_PROVIDER_KEY);
        assert.equal(seen.headers.authorization, undefined);
        assert.equal(JSON.parse(seen.body.toString('utf8')).stream === true, stream);
      },
    },
    {
      name: 'Bedrock', instance: 'bedrock_us1', model: BEDROCK_CLAUDE, reply: BedrockEmulator.REPLY.join(''),
      last: () => rig.bedrock.last, requests: () => rig.bedrock.requests.length,
      assertUpstream: (stream) => {
        const seen = rig.bedrock.last;
        assert.equal(seen.modelId, BEDROCK_CLAUDE);
        assert.equal(seen.path.split('/').at(-1), stream ? 'invoke-with-response-stream' : 'invoke');
        assert.equal(seen.caller?.scheme === 'sigv4' ? seen.caller.arn : undefined, rig.awsUser.arn, 'signed with the gateway IAM user');
      },
    },
    {
      name: 'Vertex', instance: 'gcp', model: VERTEX_CLAUDE, reply: VertexEmulator.REPLY.join(''),
      last: () => rig.vertex.last, requests: () => rig.vertex.requests.length,
      assertUpstream: (stream) => {
        const seen = rig.vertex.last;
        assert.equal(seen.path, `/v1/projects/proj-clients/locations/us-east5/publishers/anthropic/models/${VERTEX_CLAUDE}:${stream ? 'streamRawPredict' : 'rawPredict'}`);
        assert.equal(seen.headers.authorization, `Bearer ${VERTEX_TOKEN}`);
      },
    },
  ];

  const client = (backend: Backend, apiKey = rig.key) => new Anthropic({ baseURL: `${rig.gw.url}/anthropic/${backend.instance}`, apiKey, maxRetries: 0 });
  const texts = (m: Anthropic.Message) => m.content.map((b) => (b.type === 'text' ? b.text : b.type));
  const neverForwarded = (backend: Backend) => assert.ok(!JSON.stringify(backend.last().headers).includes(rig.key), `${backend.name}: the gateway key never reaches the provider`);

  test('messages.create: the Message and its usage, with the key as apiKey and as authToken', async () => {
    for (const backend of backends()) {
      const message = await client(backend).messages.create({ model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
      assert.deepEqual(texts(message), [backend.reply], backend.name);
      assert.equal(message.stop_reason, 'end_turn', backend.name);
      assert.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0, `${backend.name}: usage reported`);
      backend.assertUpstream(false);
      neverForwarded(backend);

      const bearer = new Anthropic({ baseURL: `${rig.gw.url}/anthropic/${backend.instance}`, authToken: rig.key, apiKey: null, maxRetries: 0 });
      assert.deepEqual(texts(await bearer.messages.create({ model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] })), [backend.reply], `${backend.name}, authToken`);
      neverForwarded(backend);
    }
  });

  test('messages.stream: text deltas and the final message from Anthropic SSE events', async () => {
    for (const backend of backends()) {
      const stream = client(backend).messages.stream({ model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
      const deltas: string[] = [];
      stream.on('text', (t) => deltas.push(t));
      const final = await stream.finalMessage();
      assert.equal(deltas.join(''), backend.reply, backend.name);
      assert.ok(deltas.length > 1, `${backend.name}: more than one delta`);
      assert.deepEqual(texts(final), [backend.reply], backend.name);
      assert.equal(final.stop_reason, 'end_turn', backend.name);
      assert.ok(final.usage.output_tokens > 0, `${backend.name}: usage reported`);
      backend.assertUpstream(true);
    }
  });

  test('tool use: the tool_use block parsed (create and stream), the tool_result sent back for the final answer', async () => {
    const question: Anthropic.MessageParam = { role: 'user', content: 'What is the weather in Paris?' };
    for (const backend of backends()) {
      const asked: Anthropic.Message = await client(backend).messages.create({ model: backend.model, max_tokens: 256, tools: [weatherTool], messages: [question] });
      assert.equal(asked.stop_reason, 'tool_use', backend.name);
      const call = asked.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
      assert.deepEqual([call?.name, call?.input], ['get_weather', { location: 'Paris' }], backend.name);

      const streamed = await client(backend).messages.stream({ model: backend.model, max_tokens: 256, tools: [weatherTool], messages: [question] }).finalMessage();
      const streamedCall = streamed.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
      assert.deepEqual(streamedCall?.input, { location: 'Paris' }, `${backend.name}: input reassembled from input_json_delta fragments`);

      const answer: Anthropic.Message = await client(backend).messages.create({
        model: backend.model,
        max_tokens: 256,
        tools: [weatherTool],
        messages: [question, { role: 'assistant', content: asked.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.id, content: '18°C' }] }],
      });
      assert.deepEqual(texts(answer), [backend.reply], `${backend.name}: the second turn's answer`);
      const sent = JSON.parse(backend.last().body.toString('utf8')) as { messages: Array<{ role: string; content: unknown }> };
      assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user'], backend.name);
      assert.deepEqual(sent.messages[2]?.content, [{ type: 'tool_result', tool_use_id: call!.id, content: '18°C' }], backend.name);
      backend.assertUpstream(false);
    }
  });

  test('a wrong key: AuthenticationError (401), the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    for (const backend of backends()) {
      const before = backend.requests();
      const refused = (err: unknown) => {
        assert.ok(err instanceof Anthropic.AuthenticationError, `${backend.name}: ${String(err)}`);
        assert.equal(err.status, 401);
        assert.equal((err.error as { error?: { type?: string } } | undefined)?.error?.type, 'authentication_error', `${backend.name}: Anthropic's error shape`);
        assert.ok(!err.message.includes(wrong), 'the rejected key is not echoed');
        return true;
      };
      await assert.rejects(client(backend, wrong).messages.create({ model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }), refused);
      await assert.rejects(client(backend, wrong).messages.stream({ model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(), refused);
      assert.equal(backend.requests(), before, `${backend.name}: nothing reached the provider`);
    }
  });
});
