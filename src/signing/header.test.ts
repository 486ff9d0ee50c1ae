import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UpstreamRequest } from '../upstream/types.js';
import { applyHeaderCredential } from './header.js';

describe('applyHeaderCredential', () => {
  const request = (): UpstreamRequest => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}'), target: undefined });

  test('a bearer token becomes Authorization: Bearer on a copy; the request passed in is unchanged', () => {
    const req = request();
    const before = { ...req, headers: { ...req.headers } };
    const signed = applyHeaderCredential(req, { type: 'bearer', token: 'tok-1' });
    assert.deepEqual(req, before);
    assert.deepEqual(signed.headers, { 'content-type': 'application/json', authorization: 'Bearer tok-1' });
    assert.equal(signed.body, req.body);
    assert.equal(signed.path, req.path);
  });

  test('a named header is set on a copy; the request passed in is unchanged', () => {
    const req = request();
    const before = { ...req, headers: { ...req.headers } };
    const signed = applyHeaderCredential(req, { type: 'header', name: 'x-api-key', value: 'key-1' });
    assert.deepEqual(req, before);
    assert.deepEqual(signed.headers, { 'content-type': 'application/json', 'x-api-key': 'key-1' });
  });

  test('signing the same request twice with two tokens gives each its own token (a retry after a refresh)', () => {
    const req = request();
    const first = applyHeaderCredential(req, { type: 'bearer', token: 'old' });
    const second = applyHeaderCredential(req, { type: 'bearer', token: 'new' });
    assert.equal(first.headers['authorization'], 'Bearer old');
    assert.equal(second.headers['authorization'], 'Bearer new');
  });
});
