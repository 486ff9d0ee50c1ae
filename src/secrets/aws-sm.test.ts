import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AwsSmError, parseAwsSmPath, valueFromSecretString } from './aws-sm.js';
import { parseSecretRef } from './ref.js';
import { SECRET_STORES } from './registry.js';

const VALUE = 'sk-super-secret-value-0000';
const ref = (text: string) => parseSecretRef(text)!;

describe('aws-sm references', () => {
  test('is registered', () => {
    assert.equal(SECRET_STORES.get('aws-sm')?.scheme, 'aws-sm');
  });

  test('parses a name or an ARN, with an optional field after the last #', () => {
    assert.deepEqual(parseAwsSmPath(ref('${aws-sm:prod/openai}')), { secretId: 'prod/openai', field: undefined });
    assert.deepEqual(parseAwsSmPath(ref('${aws-sm:prod/openai#api_key}')), { secretId: 'prod/openai', field: 'api_key' });
    assert.deepEqual(parseAwsSmPath(ref('${aws-sm:arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf#k}')), { secretId: 'arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf', field: 'k' });
    for (const bad of ['${aws-sm:prod/openai#}', '${aws-sm:#k}']) {
      assert.throws(() => parseAwsSmPath(ref(bad)), (err: unknown) => err instanceof AwsSmError && err.code === 'AWS_SM_BAD_REFERENCE' && err.message.startsWith(bad));
    }
  });

  test('extracts the whole string or a JSON field; errors never contain the value', () => {
    const r = ref('${aws-sm:s#k}');
    assert.equal(valueFromSecretString(VALUE, undefined, ref('${aws-sm:s}')), VALUE);
    assert.equal(valueFromSecretString(JSON.stringify({ k: VALUE }), 'k', r), VALUE);
    const cases: Array<[string, string | undefined, string]> = [
      [JSON.stringify({ other: VALUE }), 'k', 'AWS_SM_FIELD_MISSING'],
      [JSON.stringify({ k: 7, other: VALUE }), 'k', 'AWS_SM_FIELD_MISSING'],
      [JSON.stringify({ k: '', other: VALUE }), 'k', 'AWS_SM_FIELD_MISSING'],
      [VALUE, 'k', 'AWS_SM_NOT_TEXT'],
      [JSON.stringify([VALUE]), 'k', 'AWS_SM_NOT_TEXT'],
      ['', undefined, 'AWS_SM_FIELD_MISSING'],
    ];
    for (const [secret, field, code] of cases) {
      assert.throws(() => valueFromSecretString(secret, field, r), (err: unknown) => {
        assert.ok(err instanceof AwsSmError);
        assert.equal(err.code, code);
        assert.ok(err.message.includes('${aws-sm:s#k}'));
        assert.ok(!err.message.includes(VALUE), err.message);
        return true;
      });
    }
  });
});
