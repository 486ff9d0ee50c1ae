import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANTHROPIC_MODEL_LIST } from './models.js';

test('Anthropic model list: pages follow last_id while has_more, with the version header', () => {
  assert.deepEqual(ANTHROPIC_MODEL_LIST.request(undefined), { path: '/v1/models?limit=1000', headers: { 'anthropic-version': '2023-06-01' } });
  assert.equal(ANTHROPIC_MODEL_LIST.request('claude-x y').path, '/v1/models?limit=1000&after_id=claude-x%20y');
  const page = { data: [{ type: 'model', id: 'claude-opus-4-5', display_name: 'Claude Opus 4.5', created_at: '2025-11-24T00:00:00Z' }], has_more: true, first_id: 'claude-opus-4-5', last_id: 'claude-opus-4-5' };
  assert.deepEqual(ANTHROPIC_MODEL_LIST.page(page), { models: [{ id: 'claude-opus-4-5', created: Date.parse('2025-11-24T00:00:00Z') / 1000 }], next: 'claude-opus-4-5' });
  assert.equal(ANTHROPIC_MODEL_LIST.page({ ...page, has_more: false }).next, undefined);
  assert.deepEqual(ANTHROPIC_MODEL_LIST.page({ data: [{ id: 'no-date' }, { nope: 1 }], has_more: false }).models, [{ id: 'no-date', created: 0 }]);
  assert.throws(() => ANTHROPIC_MODEL_LIST.page({ type: 'error', error: { type: 'overloaded_error' } }), /no "data" array/);
});
