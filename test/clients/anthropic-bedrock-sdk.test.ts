import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk';
import Anthropic from '@anthropic-ai/sdk';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { requiresNode } from '../helpers/node-version.js';
import { BEDROCK_CLAUDE, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * Anthropic's Bedrock SDK against the gateway's native Bedrock routes (`/model/{id}/invoke`,
 * `/invoke-with-response-stream`), configured as its docs tell a user of a Bedrock API key:
 * `new AnthropicBedrock({ baseURL, awsRegion, apiKey })`. `apiKey` (or `AWS_BEARER_TOKEN_BEDROCK`)
 * replaces SigV4 with `Authorization: Bearer <key>`, which is where the gateway takes its key; the
 * gateway then signs for AWS with its own credentials.
 */

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Get the weather in a location',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

interface SentBody {
  anthropic_version?: string;
  model?: unknown;
  stream?: unknown;
  messages: Array<{ role: string; content: unknown }>;
}

// @anthropic-ai/bedrock-sdk and @anthropic-ai/sdk set no engines floor, so this suite runs on Node 20 too.
describe('@anthropic-ai/bedrock-sdk against the native Bedrock routes', requiresNode(20), () => {
  let rig: ClientRig;

  before(async () => {
    rig = await startClientRig();
  });
  after(async () => {
    await rig?.close();
  });

  const client = (apiKey = rig.key) => new AnthropicBedrock({ baseURL: rig.gw.url, awsRegion: 'us-east-1', apiKey, maxRetries: 0 });
  const reply = BedrockEmulator.REPLY.join('');
  const sent = () => JSON.parse(rig.bedrock.last.body.toString('utf8')) as SentBody;

  function assertSignedByGateway(path: 'invoke' | 'invoke-with-response-stream'): void {
    const seen = rig.bedrock.last;
    // The SDK leaves `:` unencoded in the path (it is a valid path character); the gateway forwards the path as sent.
    assert.equal(seen.modelId, BEDROCK_CLAUDE);
    assert.equal(seen.path.split('/').at(-1), path);
    assert.equal(seen.caller?.scheme === 'sigv4' ? seen.caller.arn : undefined, rig.awsUser.arn, 'signed with the gateway IAM user');
    assert.ok(!JSON.stringify(seen.headers).includes(rig.key), 'the gateway key never reaches AWS');
    assert.equal(rig.bedrock.signatureFailures, 0);
  }

  test('messages.create → InvokeModel: the Message, its usage; model and stream moved into the path', async () => {
    const message = await client().messages.create({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
    assert.deepEqual(message.content.map((b) => (b.type === 'text' ? b.text : b.type)), [reply]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0);
    assertSignedByGateway('invoke');
    const body = sent();
    assert.equal(body.model, undefined);
    assert.equal(body.stream, undefined);
    assert.ok(body.anthropic_version, 'the API version travels in the body');
  });

  test('messages.stream → InvokeModelWithResponseStream: event-stream chunks read as Messages events', async () => {
    const stream = client().messages.stream({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    assert.deepEqual(deltas, BedrockEmulator.REPLY);
    assert.deepEqual(final.content.map((b) => (b.type === 'text' ? b.text : b.type)), [reply]);
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0);
    assertSignedByGateway('invoke-with-response-stream');

    const raw = await client().messages.create({ model: BEDROCK_CLAUDE, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Say hello' }] });
    const types: string[] = [];
    for await (const event of raw) types.push(event.type);
    assert.deepEqual([types[0], types.at(-2), types.at(-1)], ['message_start', 'message_delta', 'message_stop']);
  });

  test('tool use: the tool_use block parsed (create and stream), the tool_result sent back for the final answer', async () => {
    const question: Anthropic.MessageParam = { role: 'user', content: 'What is the weather in Paris?' };
    const asked = await client().messages.create({ model: BEDROCK_CLAUDE, max_tokens: 256, tools: [weatherTool], messages: [question] });
    assert.equal(asked.stop_reason, 'tool_use');
    const call = asked.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    assert.equal(call?.name, 'get_weather');
    assert.deepEqual(call?.input, { location: 'Paris' });

    const streamed = await client().messages.stream({ model: BEDROCK_CLAUDE, max_tokens: 256, tools: [weatherTool], messages: [question] }).finalMessage();
    const streamedCall = streamed.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    assert.deepEqual(streamedCall?.input, { location: 'Paris' }, 'input reassembled from input_json_delta fragments');
    assert.equal(streamed.stop_reason, 'tool_use');

    const answer = await client().messages.create({
      model: BEDROCK_CLAUDE,
      max_tokens: 256,
      tools: [weatherTool],
      messages: [question, { role: 'assistant', content: asked.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.id, content: '18°C' }] }],
    });
    assert.deepEqual(answer.content.map((b) => (b.type === 'text' ? b.text : b.type)), [reply]);
    const body = sent();
    assert.deepEqual(body.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(body.messages[2]?.content, [{ type: 'tool_result', tool_use_id: call!.id, content: '18°C' }]);
    assertSignedByGateway('invoke');
  });

  test('the same under /transparent/{instance}, and configured from the environment alone (ANTHROPIC_BEDROCK_BASE_URL, AWS_BEARER_TOKEN_BEDROCK)', async () => {
    const transparent = new AnthropicBedrock({ baseURL: `${rig.gw.url}/transparent/bedrock_us1`, awsRegion: 'us-east-1', apiKey: rig.key, maxRetries: 0 });
    const message = await transparent.messages.create({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
    assert.deepEqual(message.content.map((b) => (b.type === 'text' ? b.text : b.type)), [reply]);
    assertSignedByGateway('invoke');
    const streamed = await transparent.messages.stream({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] }).finalMessage();
    assert.deepEqual(streamed.content.map((b) => (b.type === 'text' ? b.text : b.type)), [reply]);
    assertSignedByGateway('invoke-with-response-stream');

    const names = ['ANTHROPIC_BEDROCK_BASE_URL', 'AWS_BEARER_TOKEN_BEDROCK', 'AWS_REGION'] as const;
    const saved = names.map((n) => process.env[n]);
    Object.assign(process.env, { ANTHROPIC_BEDROCK_BASE_URL: rig.gw.url, AWS_BEARER_TOKEN_BEDROCK: rig.key, AWS_REGION: 'us-east-1' });
    try {
      rig.bedrock.reset();
      const fromEnv = await new AnthropicBedrock({ maxRetries: 0 }).messages.create({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
      assert.deepEqual(fromEnv.content.map((b) => (b.type === 'text' ? b.text : b.type)), [reply]);
      assert.equal(rig.bedrock.requests.length, 1);
      assertSignedByGateway('invoke');
    } finally {
      names.forEach((n, i) => (saved[i] === undefined ? delete process.env[n] : (process.env[n] = saved[i])));
    }
  });

  test('a key scoped to other models: PermissionDeniedError (403) naming the model', async () => {
    const scoped = await rig.gw.key({ name: 'haiku-only', scopes: { instances: null, models: ['anthropic.claude-3-haiku*'] } });
    await assert.rejects(client(scoped).messages.create({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.PermissionDeniedError, String(err));
      assert.equal(err.status, 403);
      assert.match(err.message, /may not use model/);
      return true;
    });
  });

  test('a wrong key: AuthenticationError (401), the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const before = rig.bedrock.requests.length;
    const refused = (err: unknown) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, String(err));
      assert.equal(err.status, 401);
      assert.match(err.message, /Authentication failed/);
      assert.ok(!err.message.includes(wrong), 'the rejected key is not echoed');
      return true;
    };
    await assert.rejects(client(wrong).messages.create({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }), refused);
    await assert.rejects(client(wrong).messages.stream({ model: BEDROCK_CLAUDE, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(), refused);
    assert.equal(rig.bedrock.requests.length, before, 'nothing reached AWS');
  });
});
