import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Req } from '../util/http.js';
import { clientAddressResolver } from './client-address.js';

function req(remoteAddress: string | undefined, xff?: string | string[]): Req {
  const headers = xff === undefined ? {} : { 'x-forwarded-for': xff };
  return { socket: { remoteAddress }, headers } as unknown as Req;
}

describe('clientAddressResolver without trusted proxies', () => {
  const resolve = clientAddressResolver([]);

  test('is the peer address', () => {
    assert.equal(resolve(req('203.0.113.7')), '203.0.113.7');
    assert.equal(resolve(req('2001:db8::7')), '2001:db8::7');
  });

  test('ignores X-Forwarded-For, which any client can write', () => {
    assert.equal(resolve(req('203.0.113.7', '198.51.100.1')), '203.0.113.7');
  });

  test('unwraps IPv4-mapped IPv6 peers', () => {
    assert.equal(resolve(req('::ffff:203.0.113.7')), '203.0.113.7');
  });

  test('a socket without an address gives the empty string', () => {
    assert.equal(resolve(req(undefined)), '');
  });
});

describe('clientAddressResolver with trusted proxies', () => {
  const resolve = clientAddressResolver(['10.0.0.0/8', '192.0.2.10', '2001:db8:ffff::/48']);

  test('an untrusted peer is the client, whatever X-Forwarded-For says', () => {
    assert.equal(resolve(req('203.0.113.7', '198.51.100.1')), '203.0.113.7');
    assert.equal(resolve(req('192.0.2.11', '198.51.100.1')), '192.0.2.11', 'a single trusted address is not a /24');
  });

  test('behind a trusted proxy, the client is the right-most untrusted X-Forwarded-For entry', () => {
    // The left-most entries were written by the client itself and prove nothing.
    assert.equal(resolve(req('10.1.2.3', '1.1.1.1, 198.51.100.1')), '198.51.100.1');
    assert.equal(resolve(req('10.1.2.3', '1.1.1.1, 198.51.100.1, 10.9.9.9, 192.0.2.10')), '198.51.100.1');
    assert.equal(resolve(req('192.0.2.10', '198.51.100.1')), '198.51.100.1');
  });

  test('an IPv6 trusted subnet and IPv6 client', () => {
    assert.equal(resolve(req('2001:db8:ffff:1::5', '2001:db8:1::1')), '2001:db8:1::1');
    assert.equal(resolve(req('2001:db8:fffe::5', '2001:db8:1::1')), '2001:db8:fffe::5', 'outside the /48');
  });

  test('IPv4-mapped addresses are unwrapped before the trust check', () => {
    assert.equal(resolve(req('::ffff:10.1.2.3', '::ffff:198.51.100.1')), '198.51.100.1');
  });

  test('several X-Forwarded-For headers are read as one list', () => {
    assert.equal(resolve(req('10.1.2.3', ['1.1.1.1', '198.51.100.1, 10.0.0.5'])), '198.51.100.1');
  });

  test('spaces and empty entries are ignored', () => {
    assert.equal(resolve(req('10.1.2.3', ' 198.51.100.1 ,, 10.0.0.5 ,')), '198.51.100.1');
  });

  test('without X-Forwarded-For, the trusted peer itself is the client', () => {
    assert.equal(resolve(req('10.1.2.3')), '10.1.2.3');
    assert.equal(resolve(req('10.1.2.3', '')), '10.1.2.3');
  });

  test('when the right-most untrusted entry is not an address, the peer is used, not the garbage', () => {
    assert.equal(resolve(req('10.1.2.3', '198.51.100.1, unknown')), '10.1.2.3');
    assert.equal(resolve(req('10.1.2.3', '198.51.100.1:4711')), '10.1.2.3');
  });

  test('when every entry is a trusted proxy, the left-most is the client', () => {
    assert.equal(resolve(req('10.1.2.3', '10.0.0.1, 10.0.0.2')), '10.0.0.1');
  });
});
