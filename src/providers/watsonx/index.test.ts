import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, validate } from '../../config/load.js';
import { DEFAULT_API_VERSION, regionEndpoint, watsonx } from './index.js';

const AUTH = { type: 'bearer_token', token: '${env:WX_IAM_TOKEN}' };

function problems(instance: Record<string, unknown>): string[] {
  try {
    validate({ instances: { wx: { type: 'watsonx', authentication: AUTH, ...instance } } }, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}

describe('watsonx instance config', () => {
  test('region plus exactly one of project_id and space_id; version defaults', () => {
    const config = validate({ instances: { wx: { type: 'watsonx', region: 'eu-de', project_id: 'p-1', authentication: AUTH } } }, 'test');
    const wx = config.instances['wx'] as { version?: string; region?: string };
    assert.equal(wx.version, DEFAULT_API_VERSION);
    assert.deepEqual(problems({ region: 'us-south', space_id: 's-1', version: '2024-10-08' }), []);
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['neither project nor space', { region: 'us-south' }, 'instances.wx.project_id: exactly one of project_id and space_id is required'],
    ['both project and space', { region: 'us-south', project_id: 'p', space_id: 's' }, 'instances.wx.space_id: exactly one of project_id and space_id is required'],
    ['no region', { project_id: 'p' }, 'instances.wx.region: required'],
    ['a region that is not one', { region: 'US South', project_id: 'p' }, 'instances.wx.region: must be an IBM Cloud region such as us-south or eu-de'],
    ['a version that is not a date', { region: 'us-south', project_id: 'p', version: 'latest' }, 'instances.wx.version: must be an API version date such as 2025-12-05'],
    ['a literal token', { region: 'us-south', project_id: 'p', authentication: { type: 'bearer_token', token: 'eyJraWQiOi' } }, 'instances.wx.authentication.token: a literal secret is refused'],
    ['an unknown field', { region: 'us-south', project_id: 'p', projectId: 'p' }, 'instances.wx.projectId: unknown field'],
  ];
  for (const [name, instance, problem] of bad) {
    test(`refused: ${name}`, () => {
      const found = problems(instance);
      assert.ok(found.some((p) => p.startsWith(problem)), `${problem} not in ${JSON.stringify(found)}`);
    });
  }

  test('an authentication type not yet supported names the ones that are', () => {
    const found = problems({ region: 'us-south', project_id: 'p', authentication: { type: 'api_key', api_key: '${env:X}' } });
    assert.ok(found.some((p) => p.startsWith('instances.wx.authentication.type') && p.includes('bearer_token')), JSON.stringify(found));
  });

  test('the endpoint follows the region (IBM\'s CloudRegion list)', () => {
    assert.deepEqual(regionEndpoint('us-south'), { origin: 'https://us-south.ml.cloud.ibm.com', basePath: '' });
    assert.deepEqual(regionEndpoint('eu-de'), { origin: 'https://eu-de.ml.cloud.ibm.com', basePath: '' });
    assert.deepEqual(regionEndpoint('ap-south-1'), { origin: 'https://ap-south-1.aws.wxai.ibm.com', basePath: '' });
  });

  test('transparent rules: inference only', () => {
    assert.deepEqual(watsonx.transparentRules.map((r) => r.source), [
      'POST ml/v1/text/chat',
      'POST ml/v1/text/chat_stream',
      'POST ml/v1/text/generation',
      'POST ml/v1/text/generation_stream',
      'POST ml/v1/text/embeddings',
      'GET ml/v1/foundation_model_specs',
    ]);
  });
});
