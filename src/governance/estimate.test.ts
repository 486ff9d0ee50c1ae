import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completionCap, completionCaps, estimateTokens } from './estimate.js';
import { registryCaps } from './test-support.js';

const opts = { bytes_per_token: 4, default_max_tokens: 100 };

describe('token estimate over the completion-cap fields the providers declare', () => {
  const caps: Array<[string, number | undefined]> = [
    ['{"model":"m","max_tokens": 50}', 50],
    ['{"max_completion_tokens":\n 7,"messages":[]}', 7],
    ['{"inferenceConfig":{"maxTokens":300}}', 300],
    ['{"generationConfig":{"maxOutputTokens":64}}', 64],
    ['{"parameters":{"max_new_tokens":20}}', 20],
    ['{"messages":[{"content":"say \\"max_tokens\\" please"}],"max_tokens":9}', 9],
    ['{"max_tokens":null}', undefined],
    ['{"messages":[]}', undefined],
    ['{"textGenerationConfig":{"maxTokenCount":77}}', 77],
    ['{"compartmentId":"c","chatRequest":{"maxTokens":12}}', 12],
    ['{"chatRequest":{"apiFormat":"GENERIC","maxCompletionTokens":13}}', 13],
    // Only where the API reads it: a cap named inside the prompt or a nested object is not the request's.
    ['{"messages":[{"role":"user","content":"x","max_tokens":1}],"max_tokens":900}', 900],
    ['{"messages":[{"role":"user","content":{"max_tokens":1}}]}', undefined],
    ['{"metadata":{"max_tokens":1},"max_completion_tokens":500}', 500],
    ['{"tools":[{"function":{"parameters":{"max_new_tokens":1}}}]}', undefined],
    ['{"inferenceConfig":{"x":{"maxTokens":1}}}', undefined],
    ['{"maxTokens":1}', undefined],
    // As JSON.parse reads it: escaped key names, and the last of duplicate keys.
    ['{"max\\u005ftokens":33}', 33],
    ['{"max_tokens":5,"max_tokens":6}', 6],
    ['{"a":"\\"max_tokens\\":1","b":[{"c":"}"}],"max_tokens":8}', 8],
  ];
  for (const [body, cap] of caps) test(`cap of ${body}`, () => assert.equal(completionCap(Buffer.from(body), registryCaps), cap));

  test('prompt bytes / bytes_per_token plus the cap, else the default cap', () => {
    assert.equal(estimateTokens(Buffer.from('{"max_tokens":10}' + ' '.repeat(23)), opts, registryCaps), 10 + 10);
    assert.equal(estimateTokens(Buffer.from('x'.repeat(40)), opts, registryCaps), 10 + 100);
    assert.equal(estimateTokens(null, opts, registryCaps), 100);
  });

  test('cap fields compile to one level of nesting at most', () => {
    const caps = completionCaps(['max_tokens', 'inferenceConfig.maxTokens', 'inferenceConfig.maxOutput']);
    assert.deepEqual([...caps.topLevel], ['max_tokens']);
    assert.deepEqual([...caps.nested.get('inferenceConfig')!], ['maxTokens', 'maxOutput']);
    assert.throws(() => completionCaps(['a.b.c']), /"a\.b\.c" is nested deeper/);
  });
});
