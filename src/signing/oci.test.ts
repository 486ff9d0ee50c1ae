import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { readTestdata, testdataSkip } from '../../test/helpers/testdata.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { UpstreamRequest } from '../upstream/types.js';
import { ociSignatureParts, signOci, type OciCredential } from './oci.js';

const VECTORS = 'oci-signature';

/** A recorded `request.http`: request line and headers (lower-cased), no body. */
function parseRequest(text: string): { method: string; path: string; headers: Record<string, string> } {
  const [requestLine, ...lines] = text.split(/\r?\n/).filter((l) => l !== '');
  const [method, path] = requestLine!.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method: method!, path: path!, headers };
}

describe('OCI request signatures over Oracle\'s published vectors (oci-go-sdk http_signer_test.go)', { skip: testdataSkip(VECTORS) }, () => {
  const load = () => ({
    keyId: readTestdata(VECTORS, 'key_id.txt').toString('utf8').trim(),
    privateKey: createPrivateKey(readTestdata(VECTORS, 'test_private_key.pem')),
  });

  for (const name of ['get', 'post'] as const) {
    test(`${name}: signing string, signature and Authorization byte for byte`, () => {
      const { keyId, privateKey } = load();
      const cred: OciCredential = { type: 'oci', keyId, privateKey };
      const recorded = parseRequest(readTestdata(VECTORS, `${name}/request.http`).toString('utf8'));
      const body = name === 'post' ? readTestdata(VECTORS, 'post/body.json') : null;
      const headers: Record<string, string> = {};
      if (recorded.headers['content-type']) headers['content-type'] = recorded.headers['content-type'];
      const req: UpstreamRequest = { method: recorded.method, path: recorded.path, headers, body };
      const date = recorded.headers['date']!;

      const parts = ociSignatureParts(req, cred, recorded.headers['host']!, { date });
      assert.equal(parts.signingString, readTestdata(VECTORS, `${name}/signing-string.txt`).toString('utf8'));
      assert.equal(parts.signature, readTestdata(VECTORS, `${name}/signature.b64`).toString('utf8').trim());
      assert.equal(parts.authorization, readTestdata(VECTORS, `${name}/authorization.txt`).toString('utf8').trim());

      const signed = signOci(req, cred, recorded.headers['host']!, { date });
      assert.equal(signed.headers['authorization'], parts.authorization);
      assert.equal(signed.headers['date'], recorded.headers['date']);
      if (name === 'post') {
        assert.equal(signed.headers['x-content-sha256'], 'V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=');
        assert.equal(signed.headers['content-length'], recorded.headers['content-length']);
        assert.equal(signed.headers['content-type'], 'application/json');
      } else {
        assert.equal(signed.headers['x-content-sha256'], undefined);
        assert.equal(signed.headers['content-length'], undefined);
      }
    });
  }
});

describe('OCI request signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cred: OciCredential = { type: 'oci', keyId: 'ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb', privateKey };

  test('a POST without a body signs the empty body and defaults the content type', () => {
    const parts = ociSignatureParts({ method: 'post', path: '/x', headers: {}, body: null }, cred, 'h.example', { now: new Date(0) });
    assert.equal(parts.contentSha256, '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
    assert.equal(parts.contentLength, '0');
    assert.equal(parts.contentType, 'application/json');
    assert.match(parts.signingString, /^date: Thu, 01 Jan 1970 00:00:00 GMT\n\(request-target\): post \/x\nhost: h\.example\n/);
    assert.ok(verify('sha256', Buffer.from(parts.signingString), publicKey, Buffer.from(parts.signature, 'base64')));
  });

  test('the query is signed exactly as sent', () => {
    const parts = ociSignatureParts({ method: 'GET', path: '/a?b=%20c&d=e', headers: {}, body: null }, cred, 'h.example');
    assert.match(parts.signingString, /\(request-target\): get \/a\?b=%20c&d=e\n/);
    assert.equal(parts.signedHeaders, 'date (request-target) host');
  });

  test('the request passed in is left unchanged: a retry signs it afresh', () => {
    const req: UpstreamRequest = { method: 'POST', path: '/x', headers: { accept: 'application/json' }, body: Buffer.from('{}') };
    const before = { ...req, headers: { ...req.headers } };
    const signed = signOci(req, cred, 'h.example');
    assert.deepEqual(req, before);
    assert.notEqual(signed.headers, req.headers);
    assert.match(signed.headers['authorization']!, /^Signature version="1",headers="date \(request-target\) host content-length content-type x-content-sha256"/);
    assert.equal(signed.headers['accept'], 'application/json');
  });

  test('a Host header naming another host is refused before signing', () => {
    const req: UpstreamRequest = { method: 'GET', path: '/', headers: { host: 'evil.example' }, body: null };
    assert.throws(() => signOci(req, cred, 'h.example'), (e: unknown) => e instanceof GatewayError && e.code === 'internal_error');
  });
});
