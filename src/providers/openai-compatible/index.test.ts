import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatRequest } from '../../protocol/openai.js';
import { rules } from '../transparent-path.js';
import { openaiCompatibleChat } from './chat.js';
import { openaiCompatibleEmbeddings } from './embeddings.js';
import { bearerApiKeyInstances, defineCompatibleProvider } from './index.js';
import { openaiUsage } from './usage.js';

const OPTIONS = { model: 'm-1', id: 'chatcmpl-test', created: 0, stream: false, includeUsage: false };
const BODY = { model: 'alias', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 64, seed: 7, temperature: 0.5 } as ChatRequest;

/** A provider like the ones a newcomer adds: one call, the rest derived. */
function example(over: Partial<Parameters<typeof defineCompatibleProvider>[0]> = {}) {
  return defineCompatibleProvider({ type: 'example', ...bearerApiKeyInstances('example'), defaultEndpoint: 'https://api.example.com', ...over });
}

describe('defineCompatibleProvider', () => {
  test('without hooks: every OpenAI route, the shared pass-through translators, OpenAI usage and caps', () => {
    const p = example();
    assert.deepEqual(p.transparentRules.map((r) => r.source), ['POST v1/chat/completions', 'POST v1/completions', 'POST v1/embeddings', 'GET v1/models', 'GET v1/models/*', 'POST v1/responses', 'GET v1/responses/*', 'GET v1/responses/*/input_items', 'POST v1/responses/*/cancel']);
    assert.equal(p.chat, openaiCompatibleChat);
    assert.equal(p.embeddings, openaiCompatibleEmbeddings);
    assert.equal(p.usage, openaiUsage);
    assert.deepEqual(p.completionCapFields, ['max_tokens', 'max_completion_tokens', 'max_output_tokens']);
    assert.deepEqual(p.samples?.passThrough, { drops: [] });
  });

  test('served routes pick the rules and the translators; native rules follow', () => {
    const p = example({ served: new Set(['POST v1/chat/completions', 'GET v1/models']), nativeRules: rules('POST api/generate') });
    assert.deepEqual(p.transparentRules.map((r) => r.source), ['POST v1/chat/completions', 'GET v1/models', 'POST api/generate']);
    assert.ok(p.chat);
    assert.equal(p.embeddings, undefined);
    assert.deepEqual(p.samples?.instances[0]?.embeddings, []);
    assert.equal(example({ served: new Set() }).chat, undefined);
  });

  test('renames and drops: the body goes out under the API\'s names, without what it lacks, and the drop is reported', () => {
    const p = example({ renames: { max_completion_tokens: 'max_tokens' }, drops: ['seed', 'logit_bias'] });
    const native = p.chat!(OPTIONS).request(BODY);
    assert.deepEqual(JSON.parse(native.body.toString()), { model: 'm-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 64, temperature: 0.5 });
    assert.deepEqual(native.dropped, ['seed']);
    // The estimate reads the cap under its new name too.
    assert.deepEqual(p.completionCapFields, ['max_tokens', 'max_completion_tokens', 'max_output_tokens']);
    assert.deepEqual(p.samples?.passThrough, { drops: ['seed', 'logit_bias'] });
    assert.deepEqual(example({ renames: { max_tokens: 'max_new_tokens' } }).completionCapFields, ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'max_new_tokens']);
  });

  test('error reading: another error JSON shape gives the gateway its message, in chat and embeddings', () => {
    const p = example({ errorMessage: (body) => (JSON.parse(body.toString()) as { detail?: string }).detail });
    const body = Buffer.from('{"detail":"model not found"}');
    assert.equal(p.chat!(OPTIONS).errorMessage(body), 'model not found');
    assert.equal(p.embeddings!(OPTIONS).errorMessage(body), 'model not found');
    // Without the hook, OpenAI's shape only.
    assert.equal(example().chat!(OPTIONS).errorMessage(body), undefined);
    assert.equal(example().chat!(OPTIONS).errorMessage(Buffer.from('{"error":{"message":"bad key"}}')), 'bad key');
  });

  test('a provider with its own usage reader gets no default transcripts (the contract test asks for them)', () => {
    const p = example({ usage: { json() {}, event() {} } });
    assert.deepEqual(p.samples?.transcripts, []);
  });
});
