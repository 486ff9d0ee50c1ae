import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clientCertificateAuth, DEFAULT_AZURE_SCOPE } from './schema.js';

/** The `client_certificate` block: its defaults, and what it refuses, by field path. */
describe('azure: client_certificate schema', () => {
  const issues = (input: unknown) => {
    const r = clientCertificateAuth.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const base = { type: 'client_certificate', tenant_id: 'tenant-1', client_id: 'client-1', certificate: '${file:./cert.pem}' };

  test('defaults: the Cognitive Services scope, no chain, no password', () => {
    const parsed = clientCertificateAuth.parse(base);
    assert.equal(parsed.scope, DEFAULT_AZURE_SCOPE);
    assert.equal(parsed.send_certificate_chain, false);
    assert.equal(parsed.password, undefined);
  });

  test('the certificate and its password are secret references; unknown fields are refused', () => {
    assert.deepEqual(issues({ ...base, password: '${env:CERT_PASSWORD}', send_certificate_chain: true }), []);
    const literalPem = issues({ ...base, certificate: '-----BEGIN CERTIFICATE-----\nMIIB...' });
    assert.equal(literalPem.length, 1);
    assert.match(literalPem[0]!, /^certificate: a literal secret is refused/);
    assert.ok(!literalPem[0]!.includes('MIIB'), 'the value is not echoed');
    assert.match(issues({ ...base, password: 'hunter2' })[0]!, /^password: a literal secret is refused/);
    assert.match(issues({ type: 'client_certificate', tenant_id: 'tenant-1', client_id: 'client-1' })[0]!, /^certificate: /);
    assert.match(issues({ ...base, certificate_file: 'x' })[0]!, /certificate_file/);
  });
});
