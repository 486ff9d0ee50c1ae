import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchPathRule } from '../transparent-path.js';
import { azure } from './index.js';

describe('azure: transparent rules', () => {
  const cases: Array<[method: string, path: string, allowed: boolean]> = [
    ['POST', 'openai/deployments/prod-gpt4o/chat/completions', true],
    ['POST', 'openai/deployments/prod-gpt4o/completions', true],
    ['POST', 'openai/deployments/embed-3/embeddings', true],
    ['GET', 'openai/models', true],
    ['GET', 'openai/models/gpt-4o-2024-08-06', true],
    // The v1 API: OpenAI's inference routes under /openai/.
    ['POST', 'openai/v1/chat/completions', true],
    ['POST', 'openai/v1/embeddings', true],
    ['POST', 'openai/v1/responses', true],
    ['GET', 'openai/v1/responses/resp_1', true],
    ['GET', 'openai/v1/models', true],
    // Management and data routes stay closed.
    ['GET', 'openai/deployments', false],
    ['GET', 'openai/deployments/prod-gpt4o', false],
    ['POST', 'openai/deployments/prod-gpt4o/images/generations', false],
    ['GET', 'openai/files', false],
    ['POST', 'openai/fine_tuning/jobs', false],
    ['GET', 'openai/v1/files', false],
    ['POST', 'openai/v1/fine_tuning/jobs', false],
    ['POST', 'v1/chat/completions', false],
  ];
  for (const [method, path, allowed] of cases) {
    test(`${method} /${path}: ${allowed ? 'allowed' : 'refused'}`, () => {
      assert.equal(matchPathRule(azure.transparentRules, method, path.split('/')) !== undefined, allowed);
    });
  }
});

test('azure: on deployment routes the deployment is the model (key scopes apply to it, not to the ignored body model)', () => {
  assert.equal(azure.modelFromPath!('openai/deployments/prod-gpt4o/chat/completions'.split('/')), 'prod-gpt4o');
  assert.equal(azure.modelFromPath!('openai/v1/chat/completions'.split('/')), undefined);
  assert.equal(azure.modelFromPath!('openai/models'.split('/')), undefined);
});
