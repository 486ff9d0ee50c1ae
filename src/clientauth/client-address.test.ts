import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Req } from '../util/http.js';
import { addressBucket, addressForRecords, canonicalAddress, clientAddressResolver } from './client-address.js';

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

describe('canonicalAddress', () => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4'],
    ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
    ['0:0:0:0:0:FFFF:0102:0304', '1.2.3.4'],
    ['::ffff:1.2.3.4%eth0', '1.2.3.4'],
    ['fe80::1%eth0', 'fe80::1'],
    ['FE80::0001%25en0', 'fe80::1'],
    // IPv4-compatible (deprecated) and IPv4-translated addresses are IPv6 addresses of their own.
    ['::1.2.3.4', '::1.2.3.4'],
    ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
    // Not addresses: returned as they are.
    ['', ''],
    ['unknown', 'unknown'],
    ['01.2.3.4', '01.2.3.4'],
    ['[2001:db8::1]', '[2001:db8::1]'],
    ['198.51.100.1:4711', '198.51.100.1:4711'],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(canonicalAddress(input), expected));
  }
});

describe('addressBucket', () => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:AAAA:BBBB:CCCC:DDDD', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:0000:0000:0000:0001', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8::/64'],
    ['2001:db8:0:0:1::', '2001:db8::/64'],
    ['2001:db8:0:1::', '2001:db8:0:1::/64'],
    ['::1', '::/64'],
    ['::1.2.3.4', '::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4::/64'],
    ['', ''],
    ['unknown', 'unknown'],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(addressBucket(input), expected));
  }
});

describe('clientAddressResolver gives canonical addresses', () => {
  test('for the peer, with or without trusted proxies', () => {
    assert.equal(clientAddressResolver([])(req('2001:DB8:0:0:0:0:0:7')), '2001:db8::7');
    assert.equal(clientAddressResolver([])(req('::FFFF:203.0.113.7')), '203.0.113.7');
    assert.equal(clientAddressResolver(['10.0.0.0/8'])(req('::ffff:0a01:0203')), '10.1.2.3');
  });

  test('for X-Forwarded-For entries behind a trusted proxy', () => {
    const resolve = clientAddressResolver(['10.0.0.0/8']);
    assert.equal(resolve(req('10.1.2.3', '2001:DB8::0001')), '2001:db8::1');
    assert.equal(resolve(req('10.1.2.3', '0:0:0:0:0:ffff:198.51.100.1, ::ffff:10.0.0.5')), '198.51.100.1');
  });
});

describe('addressForRecords (privacy.ip)', () => {
  test('full keeps the address; none keeps nothing', () => {
    assert.equal(addressForRecords('full')('203.0.113.77'), '203.0.113.77');
    assert.equal(addressForRecords('none')('203.0.113.77'), '-');
    assert.equal(addressForRecords('none')('2001:db8::1'), '-');
  });

  test('truncated keeps the IPv4 /24 and the IPv6 /48, in any spelling', () => {
    const t = addressForRecords('truncated');
    assert.equal(t('203.0.113.77'), '203.0.113.0/24');
    assert.equal(t('10.0.0.1'), '10.0.0.0/24');
    assert.equal(t('2001:db8:1:2:3:4:5:6'), '2001:db8:1::/48');
    assert.equal(t('2001:DB8:0001:ffff::9'), '2001:db8:1::/48');
    assert.equal(t('2001:db8::1'), '2001:db8::/48');
    assert.equal(t('::1'), '::/48');
    assert.equal(t('::ffff:198.51.100.9'), '198.51.100.0/24', 'an IPv4-mapped address is its IPv4 network');
    assert.equal(t('local'), 'local', 'not an address (the CLI): kept');
  });
});
