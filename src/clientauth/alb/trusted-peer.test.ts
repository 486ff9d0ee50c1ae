import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { trustedPeerCheck } from './trusted-peer.js';

describe('trustedPeerCheck', () => {
  test('addresses and CIDR blocks, IPv4-mapped IPv6 peers, nothing else', () => {
    const trusted = trustedPeerCheck(['10.0.0.0/16', '192.168.1.7', 'fd00::/8']);
    assert.equal(trusted('10.0.3.4'), true);
    assert.equal(trusted('::ffff:10.0.3.4'), true);
    assert.equal(trusted('10.1.0.1'), false);
    assert.equal(trusted('192.168.1.7'), true);
    assert.equal(trusted('192.168.1.8'), false);
    assert.equal(trusted('fd12::1'), true);
    assert.equal(trusted('fe80::1'), false);
    assert.equal(trusted(undefined), false);
    assert.equal(trusted('not-an-ip'), false);
    assert.equal(trustedPeerCheck([])('127.0.0.1'), false);
  });
});
