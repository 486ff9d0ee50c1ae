import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { createInstancePki } from '../../../test/emulators/oci-identity.js';
import { armourless, defaultFederationEndpoint, federationKeyId, tenancyOf } from './instance-principal.js';

describe('instance principal helpers', () => {
  const pki = createInstancePki('ocid1.tenancy.oc1..aaaaaaaaunit', 'ocid1.instance.oc1.iad.unit', 'ocid1.compartment.oc1..aaaaaaaaunit');
  const cert = new X509Certificate(pki.certPem);

  test('the tenancy comes from the subject\'s OU=opc-tenant:, not from the other OUs', () => {
    assert.equal(tenancyOf(cert), 'ocid1.tenancy.oc1..aaaaaaaaunit');
    assert.throws(() => tenancyOf(new X509Certificate(pki.intermediatePem)), /names no tenancy/);
  });

  test('federation keyId: {tenancy}/fed-x509/{SHA-1 fingerprint, lower-case hex with colons} (oci-common\'s spelling)', () => {
    const keyId = federationKeyId('ocid1.tenancy.oc1..aaaaaaaaunit', cert);
    const [tenancy, kind, fingerprint] = keyId.split('/');
    assert.equal(tenancy, 'ocid1.tenancy.oc1..aaaaaaaaunit');
    assert.equal(kind, 'fed-x509');
    assert.match(fingerprint!, /^(?:[0-9a-f]{2}:){19}[0-9a-f]{2}$/);
    assert.equal(fingerprint!.toUpperCase(), cert.fingerprint);
  });

  test('certificates travel without armour or newlines, and decode back to the same certificate', () => {
    const text = armourless(pki.certPem);
    assert.doesNotMatch(text, /-----|\s/);
    assert.equal(new X509Certificate(Buffer.from(text, 'base64')).fingerprint256, cert.fingerprint256);
  });

  test('the default federation endpoint follows the metadata region (short code or id) and its realm', async () => {
    assert.deepEqual(await defaultFederationEndpoint('iad\n'), { origin: 'https://auth.us-ashburn-1.oraclecloud.com', basePath: '' });
    assert.deepEqual(await defaultFederationEndpoint('us-chicago-1'), { origin: 'https://auth.us-chicago-1.oraclecloud.com', basePath: '' });
    assert.deepEqual(await defaultFederationEndpoint('us-langley-1'), { origin: 'https://auth.us-langley-1.oraclegovcloud.com', basePath: '' });
    await assert.rejects(defaultFederationEndpoint('<html>'), /invalid region/);
  });
});
