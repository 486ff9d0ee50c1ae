import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countTokensScopeAliases } from './count-tokens-scope.js';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';

describe('countTokensScopeAliases', () => {
  test('CountTokens on a foundation model may be allowed under any inference profile of it', () => {
    const aliases = countTokensScopeAliases(['model', encodeURIComponent(HAIKU), 'count-tokens'], HAIKU);
    assert.deepEqual(aliases, ['us', 'eu', 'apac', 'global', 'us-gov', 'jp', 'au', 'ca'].map((geo) => `${geo}.${HAIKU}`));
  });

  const none: Array<[string, string[], string]> = [
    ['invoke is not widened', ['model', HAIKU, 'invoke'], HAIKU],
    ['converse is not widened', ['model', HAIKU, 'converse'], HAIKU],
    ['a control-plane path', ['inference-profiles', HAIKU], HAIKU],
    ['a path below count-tokens', ['model', HAIKU, 'count-tokens', 'x'], HAIKU],
    ['an inference profile already', ['model', `us.${HAIKU}`, 'count-tokens'], `us.${HAIKU}`],
    ['a global profile already', ['model', `global.${HAIKU}`, 'count-tokens'], `global.${HAIKU}`],
    ['an ARN', ['model', 'arn%3Aaws', 'count-tokens'], `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`],
    ['no native path (protocol mode)', [], HAIKU],
  ];
  for (const [name, segments, model] of none) {
    test(`no aliases: ${name}`, () => assert.deepEqual(countTokensScopeAliases(segments, model), []));
  }
});
