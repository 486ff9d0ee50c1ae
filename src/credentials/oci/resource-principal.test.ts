import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SecretScrubber } from '../../observability/scrubber.js';
import { ResourcePrincipalSource } from './resource-principal.js';

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
const issuer = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rp = generateKeyPairSync('rsa', { modulusLength: 2048 });

function rpst(expSeconds: number): string {
  const head = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ sub: 'ocid1.fnfunc.oc1..f', res_tenant: 'ocid1.tenancy.oc1..t', exp: expSeconds })).toString('base64url');
  return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), issuer.privateKey).toString('base64url')}`;
}

describe('ResourcePrincipalSource (v2.2 environment)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-rp-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const token = rpst(NOW / 1000 + 600);
  const pkcs8 = rp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const encrypted = rp.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }).toString();
  const base = { OCI_RESOURCE_PRINCIPAL_VERSION: '2.2', OCI_RESOURCE_PRINCIPAL_RPST: token, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: pkcs8, OCI_RESOURCE_PRINCIPAL_REGION: 'us-chicago-1' };
  const fetchWith = (env: Record<string, string | undefined>, scrubber = new SecretScrubber()) => new ResourcePrincipalSource(scrubber, env, () => NOW).fetch(new AbortController().signal);

  test('values in the environment: keyId ST$<rpst>, the RP key, expiry from exp; the token is registered with the scrubber', async () => {
    const scrubber = new SecretScrubber();
    const cred = await fetchWith(base, scrubber);
    assert.equal(cred.keyId, `ST$${token}`);
    assert.equal(cred.expiresAt, NOW + 600_000);
    assert.ok(cred.privateKey.equals(rp.privateKey));
    assert.equal(scrubber.scrub(`x ${token} y`), 'x [REDACTED] y');
  });

  test('absolute paths are files, read at every fetch; an encrypted PEM takes its passphrase from a file', async () => {
    const [rpstFile, pemFile, passFile] = ['rpst', 'rp.pem', 'pass'].map((n) => join(dir, n)) as [string, string, string];
    writeFileSync(rpstFile, `${token}\n`);
    writeFileSync(pemFile, encrypted);
    writeFileSync(passFile, 'correct horse\n');
    const env = { ...base, OCI_RESOURCE_PRINCIPAL_RPST: rpstFile, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: pemFile, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE: passFile };
    const source = new ResourcePrincipalSource(new SecretScrubber(), env, () => NOW);
    assert.equal((await source.fetch(new AbortController().signal)).keyId, `ST$${token}`);
    const next = rpst(NOW / 1000 + 1200);
    writeFileSync(rpstFile, next);
    const again = await source.fetch(new AbortController().signal);
    assert.equal(again.keyId, `ST$${next}`);
    assert.equal(again.expiresAt, NOW + 1_200_000);
  });

  const refusals: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['no version', { ...base, OCI_RESOURCE_PRINCIPAL_VERSION: undefined }, /OCI_RESOURCE_PRINCIPAL_VERSION is not set/],
    ['version 2.1', { ...base, OCI_RESOURCE_PRINCIPAL_VERSION: '2.1' }, /OCI_RESOURCE_PRINCIPAL_VERSION=2\.1 is not supported: only 2\.2/],
    ['version 1.1', { ...base, OCI_RESOURCE_PRINCIPAL_VERSION: '1.1' }, /=1\.1 is not supported/],
    ['no RPST', { ...base, OCI_RESOURCE_PRINCIPAL_RPST: undefined }, /OCI_RESOURCE_PRINCIPAL_RPST is not set/],
    ['no key', { ...base, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: undefined }, /OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM is not set/],
    ['no region', { ...base, OCI_RESOURCE_PRINCIPAL_REGION: undefined }, /OCI_RESOURCE_PRINCIPAL_REGION is not set/],
    ['an expired RPST', { ...base, OCI_RESOURCE_PRINCIPAL_RPST: rpst(NOW / 1000 - 1) }, /expired at 2026-01-10T11:59:59\.000Z/],
    ['an RPST that is no JWT', { ...base, OCI_RESOURCE_PRINCIPAL_RPST: 'not-a-jwt-token' }, /is not a JWT/],
    ['a missing RPST file', { ...base, OCI_RESOURCE_PRINCIPAL_RPST: '/nonexistent/rpst' }, /cannot read OCI_RESOURCE_PRINCIPAL_RPST file \/nonexistent\/rpst: ENOENT/],
    ['a wrong passphrase', { ...base, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: encrypted, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE: 'wrong passphrase' }, /not a readable PEM private key for its passphrase/],
    ['a PEM path with a passphrase value', { ...base, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: '/etc/rp.pem', OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE: 'correct horse' }, /give both as paths or both as values/],
  ];
  for (const [name, env, message] of refusals) {
    test(`refused: ${name}; the error carries no secret`, async () => {
      await assert.rejects(fetchWith(env), (err: Error) => {
        assert.equal(err.name, 'OciAuthError');
        assert.match(err.message, message);
        for (const secret of [token, pkcs8.split('\n')[1]!, 'correct horse', 'wrong passphrase']) assert.ok(!err.message.includes(secret));
        return true;
      });
    });
  }
});
