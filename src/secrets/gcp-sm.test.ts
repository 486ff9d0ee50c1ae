import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accessUrl, crc32c, gcpSmStore, parseGcpSmPath } from './gcp-sm.js';
import { parseSecretRef, type SecretRef } from './ref.js';

const ref = (path: string): SecretRef => parseSecretRef(`\${gcp-sm:${path}}`)!;

describe('gcp-sm references', () => {
  test('a secret name becomes its version name (latest by default) and :access URL', () => {
    const cases: Array<[string, string, string]> = [
      ['projects/prod-1/secrets/openai', 'projects/prod-1/secrets/openai/versions/latest', 'https://secretmanager.googleapis.com/v1/projects/prod-1/secrets/openai/versions/latest:access'],
      ['projects/123456789012/secrets/openai_key/versions/7', 'projects/123456789012/secrets/openai_key/versions/7', 'https://secretmanager.googleapis.com/v1/projects/123456789012/secrets/openai_key/versions/7:access'],
      ['projects/prod-1/secrets/openai/versions/current', 'projects/prod-1/secrets/openai/versions/current', 'https://secretmanager.googleapis.com/v1/projects/prod-1/secrets/openai/versions/current:access'],
      ['projects/prod-1/locations/europe-west4/secrets/openai', 'projects/prod-1/locations/europe-west4/secrets/openai/versions/latest', 'https://secretmanager.europe-west4.rep.googleapis.com/v1/projects/prod-1/locations/europe-west4/secrets/openai/versions/latest:access'],
    ];
    for (const [path, name, url] of cases) {
      const parsed = parseGcpSmPath(ref(path));
      assert.equal(parsed.name, name);
      assert.equal(accessUrl(parsed, {}), url);
      assert.equal(gcpSmStore.validate(ref(path)), undefined);
    }
  });

  test('CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER replaces the endpoint, with or without its /v1/', () => {
    const parsed = parseGcpSmPath(ref('projects/prod-1/secrets/openai'));
    for (const override of ['http://127.0.0.1:9000', 'http://127.0.0.1:9000/', 'http://127.0.0.1:9000/v1/']) {
      assert.equal(accessUrl(parsed, { CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: override }), 'http://127.0.0.1:9000/v1/projects/prod-1/secrets/openai/versions/latest:access');
    }
    assert.throws(() => accessUrl(parsed, { CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: 'ftp://x' }), /must be an http\(s\) URL/);
  });

  test('malformed references are refused with what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['openai-key', /not a secret name/],
      ['projects/prod-1/secret/openai', /not a secret name/],
      ['projects/prod-1/secrets/openai/versions/', /not a secret name/],
      ['projects/Prod_1/secrets/openai', /"Prod_1" is not a project id or number/],
      ['projects/prod-1/secrets/open.ai', /"open\.ai" is not a secret id/],
      ['projects/prod-1/secrets/openai/versions/0', /"0" is not a version/],
      ['projects/prod-1/locations/EU/secrets/openai', /"EU" is not a location/],
    ];
    for (const [path, error] of cases) {
      const problem = gcpSmStore.validate(ref(path));
      assert.ok(problem !== undefined, path);
      assert.match(problem, error);
      assert.ok(problem.startsWith(`\${gcp-sm:${path}}: `), problem);
    }
  });

  test('crc32c is CRC-32C (Castagnoli)', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });
});
