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

  test('api_key and trusted_profile authentication', () => {
    const base = { region: 'us-south', project_id: 'p' };
    assert.deepEqual(problems({ ...base, authentication: { type: 'api_key', api_key: '${env:IBM_KEY}', iam_url: 'https://private.iam.cloud.ibm.com' } }), []);
    assert.deepEqual(problems({ ...base, credential_refresh_window: '2m', authentication: { type: 'trusted_profile', profile_id: 'Profile-1', cr_token_file: 'token' } }), []);
    assert.deepEqual(problems({ ...base, authentication: { type: 'trusted_profile', profile_name: 'gateway', account_id: 'acc' } }), []);
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ type: 'api_key', api_key: 'literal-key-value' }, 'instances.wx.authentication.api_key: a literal secret is refused'],
      [{ type: 'trusted_profile' }, 'instances.wx.authentication.profile_id: exactly one of'],
      [{ type: 'trusted_profile', profile_id: 'a', profile_crn: 'crn:v1:x' }, 'instances.wx.authentication.profile_id: exactly one of'],
      [{ type: 'trusted_profile', profile_name: 'gateway' }, 'instances.wx.authentication.account_id: required with profile_name'],
      [{ type: 'oauth' }, 'instances.wx.authentication.type'],
    ];
    for (const [authentication, problem] of refused) {
      const found = problems({ ...base, authentication });
      assert.ok(found.some((p) => p.startsWith(problem)), `${problem} not in ${JSON.stringify(found)}`);
    }
  });

  test('a 401 (an expired IAM token looks like any other) refreshes and retries once; a 403 does not', () => {
    assert.equal(watsonx.staleCredential?.(401, {}), true);
    assert.equal(watsonx.staleCredential?.(403, {}), false);
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
