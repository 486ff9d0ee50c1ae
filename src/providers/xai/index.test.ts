import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchPathRule } from '../transparent-path.js';
import { XAI_SERVED, xai } from './index.js';

test('xai: every route it names exists in the shared OpenAI list', () => {
  assert.deepEqual(new Set(xai.transparentRules.map((r) => r.source)), XAI_SERVED);
});

const cases: Array<[method: string, path: string, allowed: boolean]> = [
  ['POST', 'v1/chat/completions', true],
  ['POST', 'v1/completions', true],
  ['GET', 'v1/models', true],
  ['GET', 'v1/models/grok-4', true],
  ['POST', 'v1/responses', true],
  ['GET', 'v1/responses/resp_1', true],
  ['POST', 'v1/embeddings', false], // not in xAI's current API reference
  ['GET', 'v1/api-key', false],
  ['POST', 'v1/batches', false],
  ['GET', 'v1/files', false],
];
for (const [method, path, allowed] of cases) {
  test(`xai: ${method} /${path} ${allowed ? 'allowed' : 'refused'}`, () => {
    assert.equal(matchPathRule(xai.transparentRules, method, path.split('/')) !== undefined, allowed);
  });
}
