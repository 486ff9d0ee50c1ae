import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completionCap, estimateTokens } from './estimate.js';

const opts = { bytes_per_token: 4, default_max_tokens: 100 };

describe('token estimate', () => {
  const caps: Array<[string, number | undefined]> = [
    ['{"model":"m","max_tokens": 50}', 50],
    ['{"max_completion_tokens":\n 7,"messages":[]}', 7],
    ['{"inferenceConfig":{"maxTokens":300}}', 300],
    ['{"generationConfig":{"maxOutputTokens":64}}', 64],
    ['{"parameters":{"max_new_tokens":20}}', 20],
    ['{"messages":[{"content":"say \\"max_tokens\\" please"}],"max_tokens":9}', 9],
    ['{"max_tokens":null}', undefined],
    ['{"messages":[]}', undefined],
  ];
  for (const [body, cap] of caps) test(`cap of ${body}`, () => assert.equal(completionCap(Buffer.from(body)), cap));

  test('prompt bytes / bytes_per_token plus the cap, else the default cap', () => {
    assert.equal(estimateTokens(Buffer.from('{"max_tokens":10}' + ' '.repeat(23)), opts), 10 + 10);
    assert.equal(estimateTokens(Buffer.from('x'.repeat(40)), opts), 10 + 100);
    assert.equal(estimateTokens(null, opts), 100);
  });
});
