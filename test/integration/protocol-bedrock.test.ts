import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

describe('protocol mode: the OpenAI SDK in front of Bedrock Converse and InvokeModel', () => {
  const accounts = new AwsAccounts();
  let bedrock: BedrockEmulator;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    const user = accounts.addUser('gateway');
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    process.env['PROTOCOL_BEDROCK_SECRET'] = user.secretAccessKey;
    gw = await startGateway({
      instances: {
        bedrock_us1: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: bedrock.url,
          control_endpoint: bedrock.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:PROTOCOL_BEDROCK_SECRET}' },
        },
        bedrock_invoke: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: bedrock.url,
          chat_api: 'invoke',
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:PROTOCOL_BEDROCK_SECRET}' },
        },
      },
      model_aliases: { haiku: `bedrock_us1/${HAIKU}`, 'haiku-invoke': `bedrock_invoke/${HAIKU}` },
    });
    client = new OpenAI({ apiKey: await gw.key({ name: 'openai-sdk' }), baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await bedrock.close();
  });

  test('a chat completion becomes a SigV4-signed Converse call; the answer comes back in OpenAI shape', async () => {
    bedrock.reset();
    const out = await client.chat.completions.create({ model: 'haiku', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 64 });
    assert.equal(out.choices[0]?.message.content, BedrockEmulator.REPLY.join(''));
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.ok(out.usage && out.usage.completion_tokens > 0);
    assert.equal(bedrock.last.path, `/model/${encodeURIComponent(HAIKU)}/converse`);
    assert.equal(bedrock.last.caller?.scheme, 'sigv4');
    const sent = JSON.parse(bedrock.last.body.toString('utf8')) as { system: Array<{ text: string }>; inferenceConfig: { maxTokens: number } };
    assert.deepEqual(sent.system, [{ text: 'Be brief.' }]);
    assert.equal(sent.inferenceConfig.maxTokens, 64);
  });

  test('tools: toolUse as tool_calls (JSON and streamed input deltas), then the tool result as a toolResult block', async () => {
    const weather: OpenAI.ChatCompletionTool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } };
    const asked: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const out = await client.chat.completions.create({ model: 'haiku', messages: asked, tools: [weather] });
    const call = out.choices[0]?.message.tool_calls?.[0];
    assert.equal(out.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}'), { location: 'Paris' });
    const streamed = await client.chat.completions.stream({ model: 'haiku', messages: asked, tools: [weather] }).finalChatCompletion();
    const streamedCall = streamed.choices[0]?.message.tool_calls?.[0];
    assert.deepEqual(JSON.parse(streamedCall?.type === 'function' ? streamedCall.function.arguments : '{}'), { location: 'Paris' });
    bedrock.reset();
    await client.chat.completions.create({ model: 'haiku', tools: [weather], messages: [...asked, out.choices[0]!.message, { role: 'tool', tool_call_id: call!.id, content: '18°C' }] });
    const sent = JSON.parse(bedrock.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ toolUse?: { toolUseId: string }; toolResult?: { toolUseId: string } }> }> };
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(sent.messages[1]?.content[0]?.toolUse?.toolUseId, call!.id);
    assert.equal(sent.messages[2]?.content[0]?.toolResult?.toolUseId, call!.id);
  });

  test('ConverseStream becomes SSE chunks with usage at the end', async () => {
    const stream = await client.chat.completions.create({ model: 'haiku', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text.join(''), BedrockEmulator.REPLY.join(''));
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test('a stream exception from Bedrock reaches the SDK as an error, not a clean end', async () => {
    bedrock.streamException = { afterEvents: 3, type: 'throttlingException', message: 'Too many tokens, please wait before trying again.' };
    const stream = await client.chat.completions.create({ model: 'haiku', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) void chunk;
      })(),
      /Too many tokens/,
    );
    bedrock.reset();
  });

  test('chat_api: invoke sends Claude through InvokeModel with the Anthropic Messages body', async () => {
    bedrock.reset();
    const out = await client.chat.completions.create({ model: 'haiku-invoke', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 64 });
    assert.equal(out.choices[0]?.message.content, BedrockEmulator.REPLY.join(''));
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.ok(out.usage && out.usage.completion_tokens > 0);
    assert.equal(bedrock.last.path, `/model/${encodeURIComponent(HAIKU)}/invoke`);
    assert.equal(bedrock.last.caller?.scheme, 'sigv4');
    const sent = JSON.parse(bedrock.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(sent['anthropic_version'], 'bedrock-2023-05-31');
    assert.equal(sent['system'], 'Be brief.');
    assert.equal(sent['max_tokens'], 64);
    assert.equal(sent['model'], undefined);
  });

  test('chat_api: invoke streams through InvokeModelWithResponseStream: chunk events become SSE chunks with usage', async () => {
    bedrock.reset();
    const stream = await client.chat.completions.create({ model: 'haiku-invoke', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const text: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text.join(''), BedrockEmulator.REPLY.join(''));
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0);
    assert.equal(bedrock.last.path, `/model/${encodeURIComponent(HAIKU)}/invoke-with-response-stream`);
    const sent = JSON.parse(bedrock.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(sent['anthropic_version'], 'bedrock-2023-05-31');
    assert.equal(sent['stream'], undefined);
  });

  test('chat_api: invoke: a stream exception reaches the SDK as an error', async () => {
    bedrock.streamException = { afterEvents: 3, type: 'throttlingException', message: 'Too many tokens, please wait before trying again.' };
    const stream = await client.chat.completions.create({ model: 'haiku-invoke', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) void chunk;
      })(),
      /Too many tokens/,
    );
    bedrock.reset();
  });

  test('Bedrock errors map to OpenAI errors: throttling is 429, an unknown model 400', async () => {
    bedrock.injectError('ThrottlingException');
    await assert.rejects(client.chat.completions.create({ model: 'haiku', messages: [{ role: 'user', content: 'hi' }] }), { status: 429 });
    await assert.rejects(client.chat.completions.create({ model: 'bedrock_us1/no.such-model-v1:0', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /model identifier is invalid/);
      return true;
    });
  });
});
