import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import type { ChatRequest } from './openai.js';
import { applyParameterRules, dropped, MAPPED, mappedBy, PASSTHROUGH, refused, ruleNames, sameRule, type ParameterTable, type RuleTarget } from './parameter-rules.js';

/** A request with `fields` in the order given (the applier walks the body's order). */
function body(fields: Record<string, unknown>): ChatRequest {
  return { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...fields } as ChatRequest;
}

const seen: string[] = [];
const TABLE: ParameterTable<RuleTarget> = {
  rules: {
    ...sameRule(MAPPED, 'model', 'messages'),
    temperature: PASSTHROUGH,
    top_p: mappedBy((value, t, key) => {
      seen.push(key);
      t.native['topP'] = value;
    }),
    seed: dropped(),
    parallel_tool_calls: dropped((v) => v === true),
    n: refused((v) => `n: ${String(v)} choices are not offered`, (v) => v === 1),
    audio: refused('audio: no audio here'),
  },
  unlisted: refused((_v, key) => `${key}: unknown here`),
};

function apply(fields: Record<string, unknown>, table: ParameterTable<RuleTarget> = TABLE): RuleTarget {
  const target: RuleTarget = { native: {}, dropped: [] };
  applyParameterRules(body(fields), table, target);
  return target;
}

function refusedWith(fields: Record<string, unknown>, message: string, param: string): void {
  assert.throws(
    () => apply(fields),
    (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && err.message === message && err.param === param,
  );
}

describe('applyParameterRules', () => {
  test('passthrough copies the value, mapped runs its map, dropped is reported, in the body order', () => {
    seen.length = 0;
    const t = apply({ seed: 7, top_p: 0.5, temperature: 0.2, parallel_tool_calls: false });
    assert.deepEqual(t.native, { topP: 0.5, temperature: 0.2 });
    assert.deepEqual(Object.keys(t.native), ['topP', 'temperature']);
    assert.deepEqual(t.dropped, ['seed', 'parallel_tool_calls']);
    assert.deepEqual(seen, ['top_p']);
  });

  test('null and absent values are never looked at', () => {
    const t = apply({ seed: null, audio: null, n: undefined, frobnicate: null });
    assert.deepEqual(t, { native: {}, dropped: [] });
  });

  test('an inert value is neither reported nor refused', () => {
    assert.deepEqual(apply({ parallel_tool_calls: true, n: 1 }), { native: {}, dropped: [] });
  });

  test('a refusal is a 400 naming the field, its message made from the value', () => {
    refusedWith({ n: 3 }, 'n: 3 choices are not offered', 'n');
    refusedWith({ audio: {} }, 'audio: no audio here', 'audio');
  });

  test('the first refused field in the body is the one named', () => {
    refusedWith({ audio: {}, n: 3 }, 'audio: no audio here', 'audio');
    refusedWith({ n: 3, audio: {} }, 'n: 3 choices are not offered', 'n');
  });

  test('an unlisted field gets the unlisted rule: refused, or dropped', () => {
    assert.throws(() => apply({ frobnicate: 1 }), (err: unknown) => err instanceof GatewayError && err.message === 'frobnicate: unknown here');
    assert.deepEqual(apply({ frobnicate: 1, seed: 2 }, { ...TABLE, unlisted: dropped() }).dropped, ['frobnicate', 'seed']);
  });

  test('an unlisted passthrough sends every other set field as it came, renames and drops aside', () => {
    const compatible: ParameterTable<RuleTarget> = {
      rules: { max_tokens: mappedBy((v, t) => (t.native['max_completion_tokens'] = v)), logit_bias: dropped() },
      unlisted: PASSTHROUGH,
    };
    const t = apply({ max_tokens: 9, logit_bias: { '1': 1 }, user: 'u' }, compatible);
    assert.deepEqual(t.native, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 9, user: 'u' });
    assert.deepEqual(t.dropped, ['logit_bias']);
  });

  test('a key of Object.prototype is an unlisted field, not a rule', () => {
    assert.deepEqual(apply({ constructor: 1 }, { ...TABLE, unlisted: dropped() }).dropped, ['constructor']);
  });

  test('ruleNames lists each parameter with its rule kind', () => {
    assert.deepEqual(ruleNames({ a: MAPPED, b: PASSTHROUGH, c: dropped(), d: refused('d: no') }), { a: 'mapped', b: 'passthrough', c: 'dropped', d: 'refused' });
  });
});
