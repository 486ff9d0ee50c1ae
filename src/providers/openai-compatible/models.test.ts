import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPENAI_MODEL_LIST } from './models.js';

test('OpenAI model list: one page of data[].id with created', () => {
  assert.deepEqual(OPENAI_MODEL_LIST.request(undefined), { path: '/v1/models' });
  const body = { object: 'list', data: [{ id: 'gpt-5', object: 'model', created: 1_754_000_000, owned_by: 'system' }, { id: 'llama3.2:latest', object: 'model' }, 'junk'] };
  assert.deepEqual(OPENAI_MODEL_LIST.page(body), { models: [{ id: 'gpt-5', created: 1_754_000_000 }, { id: 'llama3.2:latest', created: 0 }], next: undefined });
  assert.throws(() => OPENAI_MODEL_LIST.page({ error: { message: 'nope' } }), /no "data" array/);
});
