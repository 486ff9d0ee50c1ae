import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ibmSmAuthFromEnv, ibmSmStore, parseIbmSmPath } from './ibm-sm.js';
import { parseSecretRef, type SecretRef } from './ref.js';

const ID = '6c9a1e52-0d4a-4c3b-9e9f-3f1b2a7d5e11';
const ref = (path: string): SecretRef => parseSecretRef(`\${ibm-sm:${path}}`)!;

describe('ibm-sm references', () => {
  test('the instance URL, the secret id and the field', () => {
    assert.deepEqual(parseIbmSmPath(ref(`https://abc.eu-de.secrets-manager.appdomain.cloud/${ID}`)), { instance: 'https://abc.eu-de.secrets-manager.appdomain.cloud', id: ID, field: undefined });
    assert.deepEqual(parseIbmSmPath(ref(`https://abc.private.eu-de.secrets-manager.appdomain.cloud/${ID}#password`)), { instance: 'https://abc.private.eu-de.secrets-manager.appdomain.cloud', id: ID, field: 'password' });
    assert.deepEqual(parseIbmSmPath(ref(`http://127.0.0.1:8080/sm/${ID}#api_key`)), { instance: 'http://127.0.0.1:8080/sm', id: ID, field: 'api_key' });
  });

  test('malformed references are refused with what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      [ID, /not a URL/],
      [`http://sm.example.com/${ID}`, /the instance URL must be https/],
      [`https://sm.example.com/${ID}?x=1`, /takes no query or credentials/],
      [`https://user:pw@sm.example.com/${ID}`, /takes no query or credentials/],
      ['https://sm.example.com/openai-key', /the last path segment must be the secret id/],
      ['https://sm.example.com/', /the last path segment must be the secret id/],
      [`https://sm.example.com/${ID}#`, /"#" is not a field name/],
      [`https://sm.example.com/${ID}#a b`, /"#a b" is not a field name/],
    ];
    for (const [path, error] of cases) {
      const problem = ibmSmStore.validate(ref(path));
      assert.ok(problem !== undefined, path);
      assert.match(problem, error);
      assert.ok(problem.startsWith(`\${ibm-sm:${path}}: `), problem);
    }
  });
});

describe('ibm-sm settings (IBM SDK names)', () => {
  test('an API key; container auth with a trusted profile; the IAM URL', async () => {
    const key = ibmSmAuthFromEnv({ SECRETS_MANAGER_APIKEY: 'k-123' });
    assert.equal(key.method, 'iam');
    assert.equal(key.iamUrl, 'https://iam.cloud.ibm.com');
    assert.deepEqual(await key.grant.params(), { apikey: 'k-123' });
    const container = ibmSmAuthFromEnv({ SECRETS_MANAGER_AUTH_TYPE: 'container', SECRETS_MANAGER_IAM_PROFILE_ID: 'Profile-1', SECRETS_MANAGER_AUTH_URL: 'https://private.iam.cloud.ibm.com/' });
    assert.equal(container.method, 'container');
    assert.equal(container.iamUrl, 'https://private.iam.cloud.ibm.com');
    assert.equal(container.grant.grantType, 'urn:ibm:params:oauth:grant-type:cr-token');
  });

  test('missing or contradictory settings are named, never echoing a key', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{}, /no IBM Cloud credentials/],
      [{ SECRETS_MANAGER_AUTH_TYPE: 'iam' }, /SECRETS_MANAGER_APIKEY is not set/],
      [{ SECRETS_MANAGER_AUTH_TYPE: 'container' }, /exactly one of SECRETS_MANAGER_IAM_PROFILE_ID and SECRETS_MANAGER_IAM_PROFILE_NAME/],
      [{ SECRETS_MANAGER_AUTH_TYPE: 'container', SECRETS_MANAGER_IAM_PROFILE_NAME: 'p' }, /needs SECRETS_MANAGER_IAM_ACCOUNT_ID/],
      [{ SECRETS_MANAGER_AUTH_TYPE: 'bearer', SECRETS_MANAGER_APIKEY: 'k-secret' }, /must be iam or container/],
      [{ SECRETS_MANAGER_APIKEY: 'k-secret', SECRETS_MANAGER_AUTH_URL: 'iam.cloud.ibm.com' }, /SECRETS_MANAGER_AUTH_URL must be an http\(s\) URL/],
    ];
    for (const [env, error] of cases) {
      assert.throws(() => ibmSmAuthFromEnv(env), (err: Error) => {
        assert.match(err.message, error);
        assert.ok(!err.message.includes('k-secret'));
        return true;
      });
    }
  });
});
