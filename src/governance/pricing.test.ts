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
    // Current models: a newer version gets its own price, not an older prefix's.
    ['claude-opus-4-5-20251101', 'claude-opus-4-5'],
    ['us.anthropic.claude-opus-4-5-20251101-v1:0', 'claude-opus-4-5'],
    ['claude-haiku-4-5@20251001', 'claude-haiku-4-5'],
    ['claude-opus-5-5', 'claude-opus-5-5'],
    ['gpt-5-2025-08-07', 'gpt-5'],
    ['gpt-5-mini-2025-08-07', 'gpt-5-mini'],
    ['gpt-5.4-mini', 'gpt-5.4-mini'],
    ['gemini-3-flash-preview', 'gemini-3-flash'],
    ['publishers/google/models/gemini-2.5-flash-lite', 'gemini-2.5-flash-lite'],
    // A version the table does not list is unpriced, not priced as the one it starts with.
    ['gpt-5.9', undefined],
    ['gemini-3.9-pro', undefined],
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
    assert.deepEqual(table.cost('gpt-4o-mini', 1000, 500), { micros: 450, priced: true });
    assert.deepEqual(table.cost('gpt-4o', 1_000_000, 0), { micros: 5_000_000, priced: true }); // configured override wins
    assert.deepEqual(table.cost('totally-unknown-model', 1000, 1000), { micros: 0, priced: false });
  });

  test('a model without a price is charged the fallback price, and says so', () => {
    const withFallback = new PriceTable({}, registryModels, { input_per_mtok: 10, output_per_mtok: 20 });
    assert.deepEqual(withFallback.cost('totally-unknown-model', 1000, 500), { micros: 20_000, priced: false });
    assert.deepEqual(withFallback.cost('gpt-4o-mini', 1000, 500), { micros: 450, priced: true });
  });
});
