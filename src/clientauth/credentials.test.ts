import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { presentedCredential } from './credentials.js';

describe('presentedCredential', () => {
  test('reads each supported header', () => {
    assert.equal(presentedCredential({ authorization: 'Bearer llmp_a' }), 'llmp_a');
    assert.equal(presentedCredential({ 'x-api-key': 'llmp_b' }), 'llmp_b');
    assert.equal(presentedCredential({ 'api-key': 'llmp_c' }), 'llmp_c');
    assert.equal(presentedCredential({ 'x-goog-api-key': 'llmp_d' }), 'llmp_d');
  });

  test('with several, the order is Authorization, X-API-Key, api-key, x-goog-api-key', () => {
    const all = { 'x-goog-api-key': 'goog', 'api-key': 'azure', 'x-api-key': 'anthropic', authorization: 'Bearer bearer' };
    assert.equal(presentedCredential(all), 'bearer');
    const { authorization: _a, ...noAuth } = all;
    assert.equal(presentedCredential(noAuth), 'anthropic');
    const { 'x-api-key': _b, ...noXApi } = noAuth;
    assert.equal(presentedCredential(noXApi), 'azure');
    const { 'api-key': _c, ...onlyGoog } = noXApi;
    assert.equal(presentedCredential(onlyGoog), 'goog');
  });

  test('the Bearer scheme is case-insensitive and the token is trimmed', () => {
    assert.equal(presentedCredential({ authorization: 'bearer llmp_a' }), 'llmp_a');
    assert.equal(presentedCredential({ authorization: 'BEARER llmp_a  ' }), 'llmp_a');
    assert.equal(presentedCredential({ 'x-api-key': '  llmp_b ' }), 'llmp_b');
  });

  test('an Authorization header of another scheme is skipped for the next header', () => {
    assert.equal(presentedCredential({ authorization: 'Basic dXNlcjpwYXNz' }), undefined);
    assert.equal(presentedCredential({ authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': 'llmp_b' }), 'llmp_b');
    assert.equal(presentedCredential({ authorization: 'Bearer', 'x-api-key': 'llmp_b' }), 'llmp_b', 'no token');
    assert.equal(presentedCredential({ authorization: 'Bearerllmp_a' }), undefined, 'no space after the scheme');
  });

  test('empty headers are skipped', () => {
    assert.equal(presentedCredential({ authorization: '', 'x-api-key': '', 'api-key': 'llmp_c' }), 'llmp_c');
    assert.equal(presentedCredential({}), undefined);
  });

  test('of a repeated header, the first value is used', () => {
    assert.equal(presentedCredential({ 'x-goog-api-key': ['first', 'second'] } as never), 'first');
  });
});
