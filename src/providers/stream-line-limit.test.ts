import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { CachedCredential } from '../credentials/types.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ChatTranslatorFactory } from '../protocol/translator.js';
import { anthropicChat } from '../protocol/anthropic-messages/index.js';
import { Instance } from './instance.js';
import { ociChat } from './oci/openai_to_oci.js';
import { openai } from './openai/index.js';
import { openaiCompatibleChat, openaiCompatibleChatWith } from './openai-compatible/chat.js';
import type { ProviderDefinition } from './types.js';
import { geminiChat } from './vertex/openai_to_gemini.js';
import { vertexClaudeChat } from './vertex/openai_to_anthropic_rawpredict.js';
import { watsonxChat } from './watsonx/openai_to_watsonx.js';

/**
 * `server.stream_line_limit` reaches every SSE decoder the gateway makes: each chat translator
 * built with `streamLineLimit`, and an Instance's translators and usage observers.
 */

const TARGET = { project: 'p', location: 'us-central1' };
const FACTORIES: Array<[string, ChatTranslatorFactory]> = [
  ['OpenAI-compatible', openaiCompatibleChat],
  ['OpenAI-compatible with a path', openaiCompatibleChatWith({ path: (m) => `/openai/deployments/${m}/chat/completions` })],
  ['Anthropic', anthropicChat],
  ['Vertex Gemini', geminiChat(TARGET)],
  ['Vertex Claude', vertexClaudeChat(TARGET)],
  ['OCI', ociChat({ compartmentId: 'ocid1.compartment.oc1..x' })],
  ['watsonx', watsonxChat({ scope: { project_id: 'p-1' }, version: '2024-05-01' })],
];

const options = { model: 'claude-3-5-sonnet', id: 'chatcmpl-x', created: 0, stream: true, includeUsage: false };
const longLine = Buffer.from(`data: ${'x'.repeat(200)}`);
const tooLong = (limit: number) => (err: unknown) =>
  err instanceof GatewayError && err.code === 'upstream_error' && err.message === `the provider sent a stream line longer than ${limit} bytes, the gateway's limit; the stream was cut`;

describe('stream line limit plumbing', () => {
  for (const [name, factory] of FACTORIES) {
    test(`${name}: the translator's decoder uses streamLineLimit, and 1 MiB without it`, () => {
      assert.throws(() => factory({ ...options, streamLineLimit: 100 }).push(longLine), tooLong(100));
      assert.deepEqual(factory(options).push(longLine), []);
    });
  }

  const instances: Instance[] = [];
  after(async () => {
    for (const i of instances) await i.close();
  });

  function instance(streamLineLimit: number | undefined): Instance {
    const i = new Instance(
      {
        name: 'o',
        provider: openai as unknown as ProviderDefinition,
        endpoint: { origin: 'http://127.0.0.1:9', basePath: '' },
        isDefault: false,
        extraRules: [],
        timeouts: { connectMs: 1000, firstByteMs: 1000, idleMs: 1000 },
        bodyLimit: 1 << 20,
        streamLineLimit,
      },
      { credential: {} as CachedCredential, sign: (req) => req },
    );
    instances.push(i);
    return i;
  }

  test("an Instance hands its streamLineLimit to its chat translators and its usage observers", () => {
    const i = instance(100);
    assert.equal(i.streamLineLimit, 100);
    assert.throws(() => i.chat!(options).push(longLine), tooLong(100));
    const observer = i.usageObserver('text/event-stream')!;
    assert.throws(() => observer.push(longLine), tooLong(100));
  });

  test('an Instance without a limit keeps the default', () => {
    const i = instance(undefined);
    assert.deepEqual(i.chat!(options).push(longLine), []);
    i.usageObserver('text/event-stream')!.push(longLine);
  });
});
