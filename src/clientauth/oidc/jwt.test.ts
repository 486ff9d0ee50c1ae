import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bearerToken, peekJwt } from './jwt.js';

const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('peekJwt', () => {
  test('decodes header and payload without verifying; reads iss', () => {
    const t = `${enc({ alg: 'RS256', kid: 'k' })}.${enc({ iss: 'https://idp', sub: 'u' })}.c2ln`;
    const p = peekJwt(t);
    assert.equal(p?.iss, 'https://idp');
    assert.equal(p?.header['kid'], 'k');
  });

  test('tolerates ALB-style "=" padding and an empty signature (alg none is refused later, by verification)', () => {
    const padded = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const header = { alg: 'ES256', kid: 'kk', x: 'a' }; // 34 bytes of JSON: base64 ends in "=="
    assert.match(padded(header), /=$/);
    assert.equal(peekJwt(`${padded(header)}.${padded({ iss: 'i' })}.sig`)?.iss, 'i');
    assert.equal(peekJwt(`${enc({ alg: 'none' })}.${enc({ iss: 'i' })}.`)?.header['alg'], 'none');
  });

  test('anything not shaped like a JWT is not one: gateway keys, two segments, no alg, non-JSON', () => {
    for (const t of [
      'llmp_0123456789ab_abcdefghijklmnopqrstuvwxyzABCDEF012345',
      `${enc({ alg: 'RS256' })}.${enc({})}`,
      `${enc({ typ: 'JWT' })}.${enc({})}.x`,
      `${Buffer.from('not json').toString('base64url')}.${enc({})}.x`,
      `${enc({ alg: 'RS256' })}.${enc([1, 2])}.x`,
      `${enc({ alg: 'RS256' })}.${enc({})}.a.b`,
      `${enc({ alg: 'RS256' })}.${enc({ pad: 'x'.repeat(20_000) })}.x`,
    ]) {
      assert.equal(peekJwt(t), undefined, t.slice(0, 40));
    }
  });

  test('bearerToken: case-insensitive scheme, trimmed, empty is none', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer  abc '), 'abc');
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(bearerToken('Bearer '), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});
