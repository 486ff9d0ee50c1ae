import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileScopes, endpointAllowed, endpointListProblem, instanceAllowed, modelAllowed } from './scopes.js';

describe('key scopes', () => {
  test('null scopes allow every instance and model', () => {
    const s = compileScopes({ instances: null, models: null });
    assert.equal(instanceAllowed(s, 'anything'), true);
    assert.equal(modelAllowed(s, 'gpt-4o'), true);
    assert.equal(modelAllowed(s, ''), true);
  });

  test('empty lists allow nothing', () => {
    const s = compileScopes({ instances: [], models: [] });
    assert.equal(instanceAllowed(s, 'openai'), false);
    assert.equal(modelAllowed(s, 'gpt-4o'), false);
  });

  test('instances match by exact name only', () => {
    const s = compileScopes({ instances: ['openai', 'claude'], models: null });
    assert.equal(instanceAllowed(s, 'openai'), true);
    assert.equal(instanceAllowed(s, 'claude'), true);
    assert.equal(instanceAllowed(s, 'openai2'), false);
    assert.equal(instanceAllowed(s, 'OpenAI'), false);
    assert.equal(instanceAllowed(s, 'open'), false);
  });

  test('models without * match exactly', () => {
    const s = compileScopes({ instances: null, models: ['gpt-4o', 'claude-sonnet-4'] });
    assert.equal(modelAllowed(s, 'gpt-4o'), true);
    assert.equal(modelAllowed(s, 'gpt-4o-mini'), false);
    assert.equal(modelAllowed(s, 'gpt-4'), false);
    assert.equal(modelAllowed(s, 'GPT-4o'), false);
  });

  const wildcard: Array<[string, string[], string[]]> = [
    ['gpt-4o*', ['gpt-4o', 'gpt-4o-mini', 'gpt-4o-2024-08-06'], ['gpt-4', 'xgpt-4o', 'gpt-4-o']],
    ['*-mini', ['gpt-4o-mini', 'o4-mini', '-mini'], ['gpt-4o-mini-x', 'mini']],
    ['claude-*-4*', ['claude-sonnet-4', 'claude-opus-4-1-20250805', 'claude--4'], ['claude-3-5-sonnet', 'claude-sonnet-3']],
    ['*', ['', 'anything at all'], []],
    ['anthropic.claude-*:0', ['anthropic.claude-v2:0'], ['anthropicXclaude-v2:0', 'anthropic.claude-v2:01']],
  ];
  for (const [pattern, yes, no] of wildcard) {
    test(`"${pattern}": * matches any run of characters, everything else is literal`, () => {
      const s = compileScopes({ instances: null, models: [pattern] });
      for (const m of yes) assert.equal(modelAllowed(s, m), true, `${pattern} should match ${m}`);
      for (const m of no) assert.equal(modelAllowed(s, m), false, `${pattern} should not match ${m}`);
    });
  }

  test('regular-expression characters in a pattern are literal', () => {
    const s = compileScopes({ instances: null, models: ['a.b+(c)*', 'x|y'] });
    assert.equal(modelAllowed(s, 'a.b+(c)-1'), true);
    assert.equal(modelAllowed(s, 'aXbb(c)-1'), false);
    assert.equal(modelAllowed(s, 'x|y'), true);
    assert.equal(modelAllowed(s, 'x'), false);
    assert.equal(modelAllowed(s, 'y'), false);
  });

  test('exact entries and patterns combine', () => {
    const s = compileScopes({ instances: null, models: ['text-embedding-3-small', 'gpt-4o*'] });
    assert.equal(modelAllowed(s, 'text-embedding-3-small'), true);
    assert.equal(modelAllowed(s, 'gpt-4o-mini'), true);
    assert.equal(modelAllowed(s, 'text-embedding-3-large'), false);
  });
});

describe('endpoint scopes', () => {
  test('null allows every endpoint and unmapped requests; a list allows only its names', () => {
    const open = compileScopes({ instances: null, models: null });
    assert.equal(endpointAllowed(open, 'embeddings'), true);
    assert.equal(endpointAllowed(open, undefined), true);
    const chat = compileScopes({ instances: null, models: null, endpoints: ['chat', 'models'] });
    assert.equal(endpointAllowed(chat, 'chat'), true);
    assert.equal(endpointAllowed(chat, 'embeddings'), false);
    assert.equal(endpointAllowed(chat, undefined), false, 'an unmapped native path is refused to a key with endpoint scopes');
    // A name written by a newer version allows nothing here.
    assert.equal(endpointAllowed(compileScopes({ instances: null, models: null, endpoints: ['images'] }), 'chat'), false);
    assert.equal(endpointListProblem(['chat', 'embeddings']), undefined);
    assert.match(endpointListProblem(['chat', 'completion'])!, /"completion" is not an endpoint/);
  });
});
