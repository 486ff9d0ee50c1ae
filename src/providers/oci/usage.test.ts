import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyUsage } from '../usage.js';
import { ociUsage } from './usage.js';

test('OCI usage: a ChatResult and a streamed usage event; bodies without usage leave the account alone', () => {
  const acc = emptyUsage();
  ociUsage.json({ modelId: 'meta.llama-3.3-70b-instruct', chatResponse: { usage: { promptTokens: 5, completionTokens: 7, totalTokens: 12 } } }, acc);
  assert.deepEqual(acc, { model: 'meta.llama-3.3-70b-instruct', inputTokens: 5, outputTokens: 7 });

  const streamed = emptyUsage();
  ociUsage.event({ event: 'message', data: '{"usage":{"promptTokens":2,"completionTokens":3}}', id: undefined }, streamed);
  assert.deepEqual(streamed, { model: undefined, inputTokens: 2, outputTokens: 3 });

  const none = emptyUsage();
  ociUsage.json({ modelId: 'cohere.embed-english-v3.0', embeddings: [[0.1]] }, none);
  assert.deepEqual(none, emptyUsage());
});
