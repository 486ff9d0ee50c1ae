import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseServiceAccountKey } from './index.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-secret-body\n-----END PRIVATE KEY-----\n';

describe('gcp: service account keys', () => {
  test('token_uri defaults to Google\'s endpoint; a given one is kept', () => {
    assert.equal(parseServiceAccountKey(JSON.stringify({ type: 'service_account', client_email: 'a@b', private_key: PEM }), 'k').token_uri, 'https://oauth2.googleapis.com/token');
    assert.equal(parseServiceAccountKey(JSON.stringify({ client_email: 'a@b', private_key: PEM, token_uri: 'http://127.0.0.1:9/token' }), 'k').token_uri, 'http://127.0.0.1:9/token');
  });

  test('errors name the problem, never the key', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['not json ' + PEM, /not a JSON service account key/],
      [{ type: 'authorized_user', private_key: PEM }, /not service_account/],
      [{ private_key: PEM }, /no client_email/],
      [{ client_email: 'a@b' }, /no private_key/],
      [{ client_email: 'a@b', private_key: PEM, token_uri: 'file:///etc/passwd' }, /token_uri is not an http/],
    ];
    for (const [input, expected] of cases) {
      assert.throws(() => parseServiceAccountKey(typeof input === 'string' ? input : JSON.stringify(input), 'key'), (err: Error) => {
        assert.match(err.message, expected);
        assert.ok(!err.message.includes('secret-body'));
        return true;
      });
    }
  });
});
