import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKey } from '../clientauth/api-key/format.js';
import { forwardableQuery, queryCredentialError } from './query.js';

describe('credentials in the query string', () => {
  const key = generateKey().key;

  const refused: Array<[string, string]> = [
    ['?key=', `?key=${key}`],
    ['?api_key=', `?api_key=${key}`],
    ['any parameter name', `?x=1&note=${key}`],
    ['percent-encoded underscore', `?k=${key.replace('_', '%5F')}`],
    ['fully percent-encoded', `?k=${[...key].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`],
    ['inside a value', `?redirect=https%3A%2F%2Fx%2F%3Fk%3D${key}`],
  ];
  for (const [name, query] of refused) {
    test(`a gateway key is refused: ${name}`, () => {
      const err = queryCredentialError(query);
      assert.equal(err?.code, 'invalid_request');
      assert.ok(!err.message.includes(key.slice(5)), 'the message does not echo the key');
    });
  }

  const allowed = ['', '?', '?api-version=2024-10-21', '?llmp_=1', '?x=llmp_abc', '?x=%E0%A4%A'];
  for (const query of allowed) test(`no gateway key in "${query}"`, () => assert.equal(queryCredentialError(query), undefined));

  const forwarded: Array<[string, string]> = [
    ['', ''],
    ['?', ''],
    ['?api-version=2024-10-21', '?api-version=2024-10-21'],
    ['?key=AIzaSecret', ''],
    ['?KEY=a&Api_Key=b&api-key=c&apikey=d&x-api-key=e', ''],
    ['?a=1&key=s&b=%2F2&api_key&c', '?a=1&b=%2F2&c'],
    ['?%6Bey=s&k=1', '?k=1'],
    ['?keys=1&monkey=2', '?keys=1&monkey=2'],
    ['?a=%ZZ&key=1', '?a=%ZZ'],
  ];
  for (const [query, expected] of forwarded) {
    test(`forwarded query of "${query}" is "${expected}"`, () => assert.equal(forwardableQuery(query), expected));
  }
});
