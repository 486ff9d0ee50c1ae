import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type ChatTranslator, type TranslatorOptions } from '../../protocol/translator.js';
import { azureChat } from './deployment.js';

const OPTIONS: TranslatorOptions = { model: 'gpt-4o', id: 'chatcmpl-test', created: 1_700_000_000, stream: true, includeUsage: true };
const BODY: ChatRequest = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } };
const chat = azureChat('2024-10-21', { 'gpt-4o': 'prod-gpt4o', alias: 'shared.v2' });

describe('Azure OpenAI protocol mode: the deployment path', () => {
  const cases: Array<{ model: string; path: string }> = [
    { model: 'gpt-4o', path: '/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21' },
    { model: 'alias', path: '/openai/deployments/shared.v2/chat/completions?api-version=2024-10-21' },
    // Unmapped: the model name is the deployment name.
    { model: 'gpt-4o-mini', path: '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21' },
    { model: 'my_deploy-1.5', path: '/openai/deployments/my_deploy-1.5/chat/completions?api-version=2024-10-21' },
    // A name of an Object.prototype member is an ordinary deployment name, not a map entry.
    { model: 'toString', path: '/openai/deployments/toString/chat/completions?api-version=2024-10-21' },
  ];
  for (const c of cases) {
    test(`${c.model} → ${c.path}`, () => {
      const native = chat({ ...OPTIONS, model: c.model }).request({ ...BODY, model: c.model });
      assert.equal(native.path, c.path);
      // The body keeps the client's model: Azure ignores it on deployment routes.
      assert.equal(JSON.parse(native.body.toString('utf8')).model, c.model);
      assert.equal(native.headers['accept'], 'text/event-stream');
    });
  }

  for (const model of ['..', '.hidden', 'a/b', 'a?b', 'a%2Fb', 'x'.repeat(65), '']) {
    test(`refuses ${JSON.stringify(model.slice(0, 20))} as a deployment name (400, before anything is sent)`, () => {
      assert.throws(
        () => chat({ ...OPTIONS, model }).request({ ...BODY, model }),
        (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request',
      );
    });
  }
});

// Shaped like a live Azure stream with include_usage: the prompt-filter event first (empty
// choices, id, model and object), content-filter annotations on each choice, the usage chunk.
const SAFE = { hate: { filtered: false, severity: 'safe' }, self_harm: { filtered: false, severity: 'safe' }, sexual: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } };
const AZURE_STREAM = [
  { choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: { ...SAFE, jailbreak: { detected: false, filtered: false } } }] },
  { choices: [{ content_filter_results: {}, delta: { content: '', refusal: null, role: 'assistant' }, finish_reason: null, index: 0, logprobs: null }], created: 1_736_906_666, id: 'chatcmpl-az1', model: 'gpt-4o-2024-08-06', object: 'chat.completion.chunk', system_fingerprint: 'fp_x', usage: null },
  { choices: [{ content_filter_results: SAFE, delta: { content: 'Hel' }, finish_reason: null, index: 0, logprobs: null }], created: 1_736_906_666, id: 'chatcmpl-az1', model: 'gpt-4o-2024-08-06', object: 'chat.completion.chunk', system_fingerprint: 'fp_x', usage: null },
  { choices: [{ content_filter_results: SAFE, delta: { content: 'lo ✓' }, finish_reason: null, index: 0, logprobs: null }], created: 1_736_906_666, id: 'chatcmpl-az1', model: 'gpt-4o-2024-08-06', object: 'chat.completion.chunk', system_fingerprint: 'fp_x', usage: null },
  { choices: [{ content_filter_results: {}, delta: {}, finish_reason: 'stop', index: 0, logprobs: null }], created: 1_736_906_666, id: 'chatcmpl-az1', model: 'gpt-4o-2024-08-06', object: 'chat.completion.chunk', system_fingerprint: 'fp_x', usage: null },
  { choices: [], created: 1_736_906_666, id: 'chatcmpl-az1', model: 'gpt-4o-2024-08-06', object: 'chat.completion.chunk', system_fingerprint: 'fp_x', usage: { completion_tokens: 3, prompt_tokens: 12, total_tokens: 15 } },
];
const AZURE_SSE = Buffer.from(AZURE_STREAM.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('') + 'data: [DONE]\n\n');

function run(t: ChatTranslator, chunks: Iterable<Uint8Array>): ChatCompletionChunk[] {
  const out: ChatCompletionChunk[] = [];
  for (const c of chunks) out.push(...t.push(Buffer.from(c)));
  out.push(...t.end());
  return out;
}

describe('Azure OpenAI protocol mode: answers', () => {
  const splits: Array<[string, Uint8Array[]]> = [
    ['whole', [AZURE_SSE]],
    ['byte by byte', byteByByte(AZURE_SSE)],
    ...[1, 2, 3].map((seed): [string, Uint8Array[]] => [`random split ${seed}`, randomChunks(AZURE_SSE, seed)]),
  ];
  for (const [name, chunks] of splits) {
    test(`stream (${name}): the prompt-filter event is dropped, everything else passes unchanged, usage read`, () => {
      const t = chat(OPTIONS);
      const out = run(t, chunks);
      assert.deepEqual(out, AZURE_STREAM.slice(1));
      assert.ok(out.every((c) => c.id === 'chatcmpl-az1'));
      assert.equal(out.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hello ✓');
      assert.deepEqual(t.usage(), { inputTokens: 12, outputTokens: 3 });
    });
  }

  test('a stream cut before [DONE] is incomplete', () => {
    const t = chat(OPTIONS);
    t.push(AZURE_SSE.subarray(0, AZURE_SSE.indexOf('data: [DONE]')));
    assert.throws(() => t.end(), StreamIncomplete);
  });

  test('JSON answer: prompt_filter_results and content_filter_results pass through, usage read', () => {
    const answer = {
      choices: [{ content_filter_results: SAFE, finish_reason: 'stop', index: 0, logprobs: null, message: { content: 'Hello', refusal: null, role: 'assistant' } }],
      created: 1_736_906_666, id: 'chatcmpl-az2', model: 'gpt-4o-2024-08-06', object: 'chat.completion',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: SAFE }], system_fingerprint: 'fp_x',
      usage: { completion_tokens: 1, prompt_tokens: 8, total_tokens: 9 },
    };
    const t = chat({ ...OPTIONS, stream: false });
    assert.deepEqual(t.response(Buffer.from(JSON.stringify(answer))), answer);
    assert.deepEqual(t.usage(), { inputTokens: 8, outputTokens: 1 });
  });

  test("Azure's error bodies give their message", () => {
    const t = chat(OPTIONS);
    const body = { error: { code: 'DeploymentNotFound', message: 'The API deployment for this resource does not exist.' } };
    assert.equal(t.errorMessage(Buffer.from(JSON.stringify(body))), 'The API deployment for this resource does not exist.');
    assert.equal(t.errorMessage(Buffer.from('<html>')), undefined);
  });
});
