import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChatBedrockConverse } from '@langchain/aws';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessageChunk, HumanMessage, ToolMessage, type AIMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import { z } from 'zod';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requiresNode } from '../helpers/node-version.js';
import { BEDROCK_CLAUDE, OPENAI_PROVIDER_KEY, startClientRig, unknownGatewayKey, type ClientRig } from './rig.js';

/**
 * LangChain JS chat models pointed at the gateway as their docs tell a user:
 *
 * - `ChatOpenAI({ model, apiKey, configuration: { baseURL } })` on `/v1` (Chat Completions),
 *   against an OpenAI instance and, through protocol mode, a Bedrock one;
 * - `ChatBedrockConverse({ model, region, bedrockBearerToken })` on the root Bedrock routes. Its
 *   `endpointHost` always means `https://<host>` and it overwrites `clientOptions.endpoint`, so
 *   the endpoint comes from the AWS SDK's standard `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (or a
 *   gateway served over TLS as `endpointHost`); the gateway key is its Bedrock API key
 *   (`bedrockBearerToken` / `AWS_BEARER_TOKEN_BEDROCK` → `Authorization: Bearer`).
 */

const weather = tool(async ({ location }) => JSON.stringify({ location, celsius: 18 }), {
  name: 'get_weather',
  description: 'Get the weather in a location',
  schema: z.object({ location: z.string() }),
});

interface Client {
  name: string;
  make(apiKey: string): BaseChatModel;
  reply: string;
  requests(): number;
  /** Checks the error the client raised for a key the gateway refuses. */
  assertAuthError(err: unknown, wrongKey: string): void;
}

// @langchain/openai, @langchain/aws and @langchain/core ask for Node >= 20 (engines), so this suite runs on Node 20 too.
describe('LangChain JS (ChatOpenAI, ChatBedrockConverse) against the gateway', requiresNode(20), () => {
  let rig: ClientRig;
  let savedEndpoint: string | undefined;

  before(async () => {
    rig = await startClientRig();
    savedEndpoint = process.env['AWS_ENDPOINT_URL_BEDROCK_RUNTIME'];
    process.env['AWS_ENDPOINT_URL_BEDROCK_RUNTIME'] = rig.gw.url;
  });
  after(async () => {
    if (savedEndpoint === undefined) delete process.env['AWS_ENDPOINT_URL_BEDROCK_RUNTIME'];
    else process.env['AWS_ENDPOINT_URL_BEDROCK_RUNTIME'] = savedEndpoint;
    await rig?.close();
  });

  const openAIError = (err: unknown, wrongKey: string) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(err.status, 401);
    assert.equal((err as { lc_error_code?: string }).lc_error_code, 'MODEL_AUTHENTICATION', 'LangChain classifies it');
    assert.ok(!err.message.includes(wrongKey), 'the rejected key is not echoed');
  };

  const clients = (): Client[] => [
    {
      name: 'ChatOpenAI → OpenAI instance',
      make: (apiKey) => new ChatOpenAI({ model: 'fast', apiKey, maxRetries: 0, configuration: { baseURL: `${rig.gw.url}/v1` } }),
      reply: OpenAIEmulator.REPLY.join(''),
      requests: () => rig.openai.requests.length,
      assertAuthError: openAIError,
    },
    {
      name: 'ChatOpenAI → Bedrock instance (protocol mode)',
      make: (apiKey) => new ChatOpenAI({ model: 'claude', apiKey, maxRetries: 0, configuration: { baseURL: `${rig.gw.url}/v1` } }),
      reply: BedrockEmulator.REPLY.join(''),
      requests: () => rig.bedrock.requests.length,
      assertAuthError: openAIError,
    },
    {
      name: 'ChatBedrockConverse → root Bedrock routes',
      make: (apiKey) => new ChatBedrockConverse({ model: BEDROCK_CLAUDE, region: 'us-east-1', bedrockBearerToken: apiKey, maxRetries: 0, clientOptions: { maxAttempts: 1 } }),
      reply: BedrockEmulator.REPLY.join(''),
      requests: () => rig.bedrock.requests.length,
      assertAuthError: (err, wrongKey) => {
        const e = err as Error & { $metadata?: { httpStatusCode?: number } };
        assert.equal(e.$metadata?.httpStatusCode, 401, String(err));
        assert.equal(e.name, 'AccessDeniedException', 'the AWS SDK read the gateway error as a typed exception');
        assert.ok(!e.message.includes(wrongKey), 'the rejected key is not echoed');
      },
    },
  ];

  test('invoke: the answer and its usage', async () => {
    for (const client of clients()) {
      const before = client.requests();
      const out = await client.make(rig.key).invoke('Say hello');
      assert.equal(out.content, client.reply, client.name);
      assert.ok((out.usage_metadata?.output_tokens ?? 0) > 0, `${client.name}: usage reported`);
      assert.equal(client.requests(), before + 1, client.name);
    }
    assert.equal(rig.openai.last.headers.authorization, `Bearer ${OPENAI_PROVIDER_KEY}`);
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse`);
    assert.equal(rig.bedrock.last.caller?.scheme === 'sigv4' ? rig.bedrock.last.caller.arn : undefined, rig.awsUser.arn, 'signed by the gateway');
    assert.ok(!JSON.stringify(rig.bedrock.last.headers).includes(rig.key), 'the gateway key never reaches AWS');
  });

  test('stream: chunks that add up to the answer', async () => {
    for (const client of clients()) {
      const chunks: string[] = [];
      let whole: AIMessageChunk | undefined;
      for await (const chunk of await client.make(rig.key).stream('Say hello')) {
        if (typeof chunk.content === 'string' && chunk.content !== '') chunks.push(chunk.content);
        whole = whole ? whole.concat(chunk) : chunk;
      }
      assert.equal(chunks.join(''), client.reply, client.name);
      assert.ok(chunks.length > 1, `${client.name}: more than one chunk`);
      assert.equal(whole?.content, client.reply, client.name);
    }
    assert.equal(rig.bedrock.last.path, `/model/${encodeURIComponent(BEDROCK_CLAUDE)}/converse-stream`);
  });

  test('bindTools: the tool call parsed (invoke and stream), the ToolMessage sent back for the final answer', async () => {
    for (const client of clients()) {
      const model = client.make(rig.key).bindTools!([weather]);
      const question = new HumanMessage('What is the weather in Paris?');
      const asked = (await model.invoke([question])) as AIMessage;
      assert.deepEqual(asked.tool_calls?.map((c) => [c.name, c.args]), [['get_weather', { location: 'Paris' }]], client.name);
      const call = asked.tool_calls![0]!;
      assert.ok(call.id, `${client.name}: the call has an id`);

      let streamed: AIMessageChunk | undefined;
      for await (const chunk of await model.stream([question])) streamed = streamed ? streamed.concat(chunk) : chunk;
      assert.deepEqual(streamed?.tool_calls?.map((c) => [c.name, c.args]), [['get_weather', { location: 'Paris' }]], `${client.name}: arguments reassembled from fragments`);

      const result = (await weather.invoke(call)) as ToolMessage;
      assert.equal(result.tool_call_id, call.id);
      const answer = await model.invoke([question, asked, result]);
      assert.equal(answer.content, client.reply, `${client.name}: the second turn's answer`);
    }
    const oaiSent = JSON.parse(rig.openai.last.body.toString('utf8')) as { messages: Array<{ role: string; content?: unknown }> };
    assert.deepEqual(oaiSent.messages.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.match(String(oaiSent.messages[2]?.content), /"celsius":18/);
    const bedrockSent = JSON.parse(rig.bedrock.last.body.toString('utf8')) as { messages: Array<{ role: string; content: Array<{ toolResult?: unknown }> }> };
    assert.deepEqual(bedrockSent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.match(JSON.stringify(bedrockSent.messages[2]?.content), /celsius/);
  });

  test('a wrong key: the typed auth error, the key not echoed, nothing forwarded', async () => {
    const wrong = unknownGatewayKey();
    const before = rig.openai.requests.length + rig.bedrock.requests.length;
    for (const client of clients()) {
      await assert.rejects(client.make(wrong).invoke('hi'), (err: unknown) => {
        client.assertAuthError(err, wrong);
        return true;
      });
      await assert.rejects(
        (async () => {
          for await (const _ of await client.make(wrong).stream('hi')) void _;
        })(),
        (err: unknown) => {
          client.assertAuthError(err, wrong);
          return true;
        },
      );
    }
    assert.equal(rig.openai.requests.length + rig.bedrock.requests.length, before, 'nothing reached a provider');
  });
});
