import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { anthropicModelList } from './models.js';

const MODELS = ['m1', 'm2', 'm3', 'm4', 'm5'].map((id, i) => ({ id, created: 1_700_000_000 + i }));
const ids = (page: { data: Array<{ id: string }> }) => page.data.map((m) => m.id);

test('model objects in Anthropic shape, created_at in RFC 3339 without fractions', () => {
  const page = anthropicModelList([{ id: 'gemini-2.5-pro', created: 1750000000, displayName: 'Gemini 2.5 Pro' }, { id: 'no-date' }], {});
  assert.deepEqual(page, {
    data: [
      { type: 'model', id: 'gemini-2.5-pro', display_name: 'Gemini 2.5 Pro', created_at: '2025-06-15T15:06:40Z' },
      { type: 'model', id: 'no-date', display_name: 'no-date', created_at: '1970-01-01T00:00:00Z' },
    ],
    has_more: false,
    first_id: 'gemini-2.5-pro',
    last_id: 'no-date',
  });
});

test('paging forward with limit and after_id, and back with before_id', () => {
  const first = anthropicModelList(MODELS, { limit: '2' });
  assert.deepEqual([ids(first), first.has_more, first.first_id, first.last_id], [['m1', 'm2'], true, 'm1', 'm2']);
  const second = anthropicModelList(MODELS, { limit: 2, after_id: first.last_id });
  assert.deepEqual([ids(second), second.has_more], [['m3', 'm4'], true]);
  const last = anthropicModelList(MODELS, { limit: 2, after_id: 'm4' });
  assert.deepEqual([ids(last), last.has_more], [['m5'], false]);
  const back = anthropicModelList(MODELS, { limit: 2, before_id: 'm5' });
  assert.deepEqual([ids(back), back.has_more], [['m3', 'm4'], true]);
  const front = anthropicModelList(MODELS, { limit: 2, before_id: 'm2' });
  assert.deepEqual([ids(front), front.has_more], [['m1'], false]);
});

test('default limit 20; an unknown cursor gives an empty page; an empty list has null ids', () => {
  const many = Array.from({ length: 25 }, (_, i) => ({ id: `x${i}` }));
  assert.equal(anthropicModelList(many, {}).data.length, 20);
  assert.deepEqual(anthropicModelList(MODELS, { after_id: 'nope' }), { data: [], has_more: false, first_id: null, last_id: null });
  assert.deepEqual(anthropicModelList([], {}), { data: [], has_more: false, first_id: null, last_id: null });
});

test('a bad limit, or both cursors, is a 400 naming the parameter', () => {
  for (const limit of ['0', '1001', 'ten', '1.5', -1, 2.5]) {
    assert.throws(() => anthropicModelList(MODELS, { limit }), (e: unknown) => e instanceof GatewayError && e.code === 'invalid_request' && e.param === 'limit', String(limit));
  }
  assert.throws(() => anthropicModelList(MODELS, { before_id: 'm2', after_id: 'm1' }), (e: unknown) => e instanceof GatewayError && e.param === 'before_id');
});
