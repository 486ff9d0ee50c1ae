import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PriceTable } from './pricing.js';
import { registryModels } from './test-support.js';

describe('PriceTable over the prices and id normalisations the providers declare', () => {
  const table = new PriceTable({ 'my-finetune': { input_per_mtok: 1, output_per_mtok: 2 }, 'gpt-4o': { input_per_mtok: 5, output_per_mtok: 15 } }, registryModels);
  const cases: Array<[string, string | undefined]> = [
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['anthropic.claude-3-5-sonnet-20241022-v2:0', 'claude-3-5-sonnet'],
    ['us.anthropic.claude-3-7-sonnet-20250219-v1:0', 'claude-3-7-sonnet'],
    ['claude-3-5-haiku@20241022', 'claude-3-5-haiku'],
    ['publishers/google/models/gemini-2.0-flash-001', 'gemini-2.0-flash'],
    ['amazon.nova-pro-v1:0', 'amazon.nova-pro'],
    ['my-finetune', 'my-finetune'],
    ['totally-unknown-model', undefined],
  ];
  for (const [model, key] of cases) {
    test(`${model} → ${key ?? 'no price'}`, () => {
      const expected = key === 'gpt-4o' ? { input_per_mtok: 5, output_per_mtok: 15 } : key === 'my-finetune' ? { input_per_mtok: 1, output_per_mtok: 2 } : key === undefined ? undefined : registryModels.prices[key];
      assert.ok(key === undefined || expected !== undefined, `a price keyed ${key}`);
      assert.deepEqual(table.price(model), expected);
    });
  }

  test('cost in micro-dollars: tokens × USD per million', () => {
    // gpt-4o-mini: 0.15 in, 0.60 out per million → 1000 × 0.15 + 500 × 0.6 = 450 micro-dollars
    assert.equal(table.costMicros('gpt-4o-mini', 1000, 500), 450);
    assert.equal(table.costMicros('gpt-4o', 1_000_000, 0), 5_000_000); // configured override wins
    assert.equal(table.costMicros('totally-unknown-model', 1000, 1000), 0);
    assert.equal(table.costMicros(undefined, 1000, 1000), 0);
  });
});
