import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BEDROCK_MODEL_LIST } from './models.js';

test('Bedrock model list: foundation models invocable by their own id, on the control plane path', () => {
  assert.deepEqual(BEDROCK_MODEL_LIST.request(undefined), { path: '/foundation-models' });
  const summaries = [
    { modelId: 'amazon.nova-pro-v1:0', inferenceTypesSupported: ['ON_DEMAND'], modelLifecycle: { status: 'ACTIVE' } },
    { modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0', inferenceTypesSupported: ['INFERENCE_PROFILE'], modelLifecycle: { status: 'ACTIVE' } },
    { modelId: 'anthropic.claude-v2:1', inferenceTypesSupported: ['ON_DEMAND'], modelLifecycle: { status: 'LEGACY' } },
    { modelId: 'meta.llama3-8b-instruct-v1:0' },
  ];
  assert.deepEqual(BEDROCK_MODEL_LIST.page({ modelSummaries: summaries }), {
    models: [{ id: 'amazon.nova-pro-v1:0', created: 0 }, { id: 'meta.llama3-8b-instruct-v1:0', created: 0 }],
    next: undefined,
  });
  assert.throws(() => BEDROCK_MODEL_LIST.page({ message: 'denied' }), /modelSummaries/);
});
