import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { request } from 'undici';
import { signOci } from '../../src/signing/oci.js';
import { sleep } from '../emulators/base.js';
import { OciEmulator } from '../emulators/oci.js';
import { createInstancePki, InstanceMetadataEmulator, OciAuthEmulator, type InstanceIdentity } from '../emulators/oci-identity.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * OCI Generative AI with security tokens the gateway obtains itself: `instance_principal` (the
 * instance metadata emulator's certificate exchanged at the auth emulator's X.509 federation
 * endpoint) and `resource_principal` v2.2 (an RPST and its key named by the environment). The
 * GenAI emulator accepts `ST$<token>` keyIds only for tokens the auth emulator signed, before
 * their `exp`, on requests signed with the session key in the token's `jwk` claim.
 */

// Short enough for the certificate subject's 64-character OU limit.
const TENANCY = 'ocid1.tenancy.oc1..aaaaaaaatenancyidentity01';
const INSTANCE = 'ocid1.instance.oc1.us-chicago-1.anxxgateway01';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaaidentity01';
const LLAMA = 'meta.llama-3.3-70b-instruct';
const REPLY = OciEmulator.REPLY.join('');
const CHAT = JSON.stringify({ compartmentId: COMPARTMENT, servingMode: { servingType: 'ON_DEMAND', modelId: LLAMA }, chatRequest: { apiFormat: 'GENERIC', messages: [{ role: 'USER', content: [{ type: 'TEXT', text: 'hi' }] }] } });

describe('oci: instance_principal and resource_principal security tokens', () => {
  let pki: InstanceIdentity & { rootKeyPem: string };
  let auth: OciAuthEmulator;
  let imds: InstanceMetadataEmulator;
  let genai: OciEmulator;
  let rpKey: { privateKey: KeyObject; publicKey: KeyObject };
  let dir: string;
  let rpstFile: string;
  let rpPemFile: string;

  /** Writes a fresh RPST living `ttlSeconds` (negative: already expired) to the RPST file; returns it. */
  const writeRpst = (ttlSeconds: number): string => {
    const rpst = auth.mint({ sub: 'ocid1.fnfunc.oc1.us-chicago-1.gatewayfunction', res_tenant: TENANCY, res_compartment: COMPARTMENT, ptype: 'resource' }, rpKey.publicKey, ttlSeconds);
    writeFileSync(rpstFile, `${rpst}\n`);
    return rpst;
  };

  before(async () => {
    pki = createInstancePki(TENANCY, INSTANCE, COMPARTMENT);
    auth = await new OciAuthEmulator(pki.rootPem).start();
    imds = await new InstanceMetadataEmulator(pki).start();
    genai = await new OciEmulator(new Map(), [COMPARTMENT]).start();
    genai.trustSessionTokens(auth.issuerPublicKey);
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-oci-identity-'));
    rpKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rpstFile = join(dir, 'rpst');
    rpPemFile = join(dir, 'rp.pem');
    writeFileSync(rpPemFile, rpKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    Object.assign(process.env, { OCI_RESOURCE_PRINCIPAL_VERSION: '2.2', OCI_RESOURCE_PRINCIPAL_RPST: rpstFile, OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM: rpPemFile, OCI_RESOURCE_PRINCIPAL_REGION: 'us-chicago-1' });
  });
  after(async () => {
    await Promise.all([auth.close(), imds.close(), genai.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const instanceConfig = (authentication: Record<string, unknown>, refreshWindow?: string) => ({
    type: 'oci', region: 'us-chicago-1', endpoint: genai.url, compartment_id: COMPARTMENT, authentication, ...(refreshWindow ? { credential_refresh_window: refreshWindow } : {}),
  });
  const ipAuth = () => ({ type: 'instance_principal', metadata_url: imds.metadataUrl, federation_endpoint: auth.url });

  /** A gateway with `ociip` (instance principal) and `ocirp` (resource principal); tokens live `ttlSeconds`. */
  async function gateway(ttlSeconds: number, refreshWindow?: string): Promise<{ gw: TestGateway; key: string; rpst: string }> {
    auth.reset();
    imds.setDown(false);
    auth.ttlSeconds = ttlSeconds;
    const rpst = writeRpst(ttlSeconds);
    const gw = await startGateway({ instances: { ociip: instanceConfig(ipAuth(), refreshWindow), ocirp: instanceConfig({ type: 'resource_principal' }, refreshWindow) } });
    return { gw, key: await gw.key({ name: 'oci-identity' }), rpst };
  }

  const transparent = (gw: TestGateway, key: string, instance: string) =>
    fetch(`${gw.url}/transparent/${instance}/20231130/actions/chat`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: CHAT });
  const sentKeyId = () => /keyId="([^"]+)"/.exec(String(genai.last.headers.authorization))?.[1];
  const secretsOf = (rpsts: string[]) => [...auth.minted, ...rpsts, pki.keyPem.split('\n')[1]!, rpKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]!];

  test('transparent mode and /openai/{instance}/chat/completions with both kinds; ST$ keyIds; fetches counted; no token in logs', async () => {
    const { gw, key, rpst } = await gateway(3600);
    try {
      // Primed at startup: one federation for the instance principal.
      assert.equal(auth.exchanges, 1);
      for (const [instance, expectedKeyId] of [['ociip', () => `ST$${auth.minted.at(-1)}`], ['ocirp', () => `ST$${rpst}`]] as const) {
        genai.reset();
        const res = await transparent(gw, key, instance);
        assert.equal(res.status, 200, await res.clone().text());
        const body = (await res.json()) as { chatResponse: { choices: Array<{ message: { content: Array<{ text: string }> } }> } };
        assert.equal(body.chatResponse.choices[0]?.message.content[0]?.text, REPLY);
        assert.equal(sentKeyId(), expectedKeyId());
        const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/${instance}`, maxRetries: 0 });
        const chat = await client.chat.completions.create({ model: LLAMA, messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(chat.choices[0]?.message.content, REPLY);
        assert.equal(sentKeyId(), expectedKeyId());
      }
      // The instance principal's certificate is the auth emulator's subject; the metadata service saw only authorised calls.
      assert.ok(imds.requests.some((r) => r.path === '/opc/v2/identity/cert.pem'));
      assert.equal(auth.exchanges, 1, 'the token is cached across requests');
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="oci",method="instance_principal",status="success"\} 1\b/);
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="oci",method="resource_principal",status="success"\} 1\b/);
      await gw.settle();
      const logs = gw.logs.join('\n');
      for (const secret of secretsOf([rpst])) assert.ok(!logs.includes(secret), 'no log shows a token or a private key');
    } finally {
      await gw.close();
    }
  });

  test('short-lived tokens are renewed before expiry under load; a rotated RPST file is picked up', async () => {
    // Tokens live 5-6 s (exp is in whole seconds) and are renewed 4 s before expiry: every
    // second or two, with seconds of headroom for a slow renewal on a loaded machine.
    const { gw, key, rpst } = await gateway(6, '4s');
    try {
      const expOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp * 1000;
      // Requests run until well past the expiry of both first tokens: only renewals keep them at 200.
      const until = Math.max(expOf(auth.minted.at(-1)!), expOf(rpst)) + 1000;
      const started = Date.now();
      const statuses: number[] = [];
      let rotated: string | undefined;
      while (Date.now() < until) {
        // The platform replaces the RPST file before the old token expires.
        if (rotated === undefined && Date.now() - started > 1000) rotated = writeRpst(3600);
        const batch = await Promise.all([transparent(gw, key, 'ociip'), transparent(gw, key, 'ociip'), transparent(gw, key, 'ocirp')]);
        for (const r of batch) {
          statuses.push(r.status);
          await r.arrayBuffer();
        }
        await sleep(100);
      }
      assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses.filter((s) => s !== 200)));
      const elapsed = (Date.now() - started) / 1000;
      assert.ok(auth.exchanges >= 2, `renewed ${auth.exchanges - 1} times`);
      // About one federation per renewal, not one per request: 3 requests every 100 ms.
      assert.ok(auth.exchanges <= Math.ceil(elapsed) + 3, `${auth.exchanges} federations in ${elapsed}s: more than one per renewal`);
      assert.ok(statuses.length > 3 * auth.exchanges);
      genai.reset();
      const res = await transparent(gw, key, 'ocirp');
      assert.equal(res.status, 200);
      assert.equal(sentKeyId(), `ST$${rotated}`, 'the rotated RPST is in use');
      assert.notEqual(rotated, rpst);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`llmproxy_credential_refresh_total\\{provider="oci",method="instance_principal",status="success"\\} ${auth.exchanges}\\b`));
    } finally {
      await gw.close();
    }
  });

  test('a session token OCI refuses before its expiry: the gateway federates again and retries once, the client sees 200', async () => {
    const { gw, key } = await gateway(3600);
    try {
      assert.equal((await transparent(gw, key, 'ociip')).status, 200);
      assert.equal(auth.exchanges, 1);
      // An invalidation right after a fetch is ignored (a burst of 401s costs one fetch): wait past that cooldown.
      await new Promise((r) => setTimeout(r, 2100));
      genai.revokedTokens.add(auth.minted.at(-1)!);
      const res = await transparent(gw, key, 'ociip');
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(auth.exchanges, 2, 'one new federation');
      assert.equal(sentKeyId(), `ST$${auth.minted.at(-1)}`);
    } finally {
      genai.revokedTokens.clear();
      await gw.close();
    }
  });

  test('federation endpoint down while the token is valid: requests keep working; failures counted', async () => {
    const { gw, key } = await gateway(6, '5s');
    try {
      auth.setDown('reset');
      const started = Date.now();
      while (Date.now() - started < 2000) {
        const res = await transparent(gw, key, 'ociip');
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        await sleep(150);
      }
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="oci",method="instance_principal",status="failure"\} [1-9]/);
    } finally {
      auth.setDown(false);
      await gw.close();
    }
  });

  test('token expired and no way to renew it: 503 credential_unavailable without token or key; back once renewal works', async () => {
    // exp is in whole seconds: a 2 s token lives between 1 and 2 s.
    const { gw, key, rpst } = await gateway(2, '500ms');
    try {
      auth.setDown('unavailable');
      await sleep(2300); // both tokens have expired; the RPST file still holds the expired one
      for (const instance of ['ociip', 'ocirp']) {
        const res = await transparent(gw, key, instance);
        const text = await res.text();
        assert.equal(res.status, 503, text);
        assert.match(text, /credential_unavailable/);
        for (const secret of secretsOf([rpst])) assert.ok(!text.includes(secret), 'no token or key in the answer');
        const openai = await fetch(`${gw.url}/openai/${instance}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: LLAMA, messages: [{ role: 'user', content: 'hi' }] }) });
        const error = (await openai.json()) as { error: { code: string } };
        assert.equal(openai.status, 503);
        assert.equal(error.error.code, 'credential_unavailable');
      }
      await gw.settle();
      const logs = gw.logs.join('\n');
      assert.match(logs, /refused the instance_principal federation \(HTTP 503 ServiceUnavailable\)/);
      assert.match(logs, /OCI_RESOURCE_PRINCIPAL_RPST\) expired at/);
      for (const secret of secretsOf([rpst])) assert.ok(!logs.includes(secret), 'no token or key in the logs');
      auth.setDown(false);
      const fresh = writeRpst(3600);
      // The cache retries with backoff (1 s, then 2 s...).
      for (const instance of ['ociip', 'ocirp']) {
        let status = 0;
        for (let i = 0; i < 40 && status !== 200; i++) {
          await sleep(100);
          const again = await transparent(gw, key, instance);
          status = again.status;
          await again.arrayBuffer();
        }
        assert.equal(status, 200, instance);
      }
      assert.equal(sentKeyId(), `ST$${fresh}`);
    } finally {
      auth.setDown(false);
      await gw.close();
    }
  });

  test('the emulators check what OCI checks: metadata needs "Bearer Oracle"; expired or foreign-key tokens are refused', async () => {
    const noHeader = await request(`${imds.metadataUrl}/identity/cert.pem`);
    assert.equal(noHeader.statusCode, 401);
    await noHeader.body.text();
    const host = new URL(genai.url).host;
    const call = async (keyId: string, privateKey: KeyObject) => {
      const req = signOci({ method: 'POST', path: '/20231130/actions/chat', headers: { 'content-type': 'application/json' }, body: Buffer.from(CHAT) }, { type: 'oci', keyId, privateKey }, host);
      const res = await request(`${genai.url}${req.path}`, { method: 'POST', headers: req.headers, body: req.body });
      return { status: res.statusCode, body: (await res.body.json()) as { code: string; message: string } };
    };
    const live = auth.mint({ sub: 'test' }, rpKey.publicKey, 60);
    assert.equal((await call(`ST$${live}`, rpKey.privateKey)).status, 200);
    const expired = await call(`ST$${auth.mint({ sub: 'test' }, rpKey.publicKey, -5)}`, rpKey.privateKey);
    assert.equal(expired.status, 401);
    assert.equal(expired.body.code, 'NotAuthenticated');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.equal((await call(`ST$${live}`, other.privateKey)).status, 401, 'signed with a key the token is not bound to');
  });

  test('an instance certificate from an untrusted CA: startup fails with the auth service\'s refusal', async () => {
    const rogue = createInstancePki(TENANCY, INSTANCE, COMPARTMENT); // its own root, unknown to the auth service
    const rogueImds = await new InstanceMetadataEmulator(rogue).start();
    try {
      await assert.rejects(
        startGateway({ instances: { ocirogue: instanceConfig({ type: 'instance_principal', metadata_url: rogueImds.metadataUrl, federation_endpoint: auth.url }) } }),
        (err: Error) => {
          assert.equal(err.name, 'StartupError');
          assert.match(err.message, /instances\.ocirogue \(instance_principal\): .*HTTP 401 NotAuthenticated\): The certificate is not trusted/);
          assert.ok(!err.message.includes(rogue.keyPem.split('\n')[1]!));
          return true;
        },
      );
    } finally {
      await rogueImds.close();
    }
  });

  test('resource principal versions other than 2.2 are refused with a clear error', async () => {
    process.env['OCI_RESOURCE_PRINCIPAL_VERSION'] = '2.1';
    try {
      await assert.rejects(startGateway({ instances: { ocirp: instanceConfig({ type: 'resource_principal' }) } }), (err: Error) => {
        assert.equal(err.name, 'StartupError');
        assert.match(err.message, /instances\.ocirp \(resource_principal\): .*OCI_RESOURCE_PRINCIPAL_VERSION=2\.1 is not supported: only 2\.2/);
        return true;
      });
    } finally {
      process.env['OCI_RESOURCE_PRINCIPAL_VERSION'] = '2.2';
    }
  });

  test('llmproxy config check: one row per instance with method, status and expiry; no token or key printed', async () => {
    auth.ttlSeconds = 900;
    const rpst = writeRpst(900);
    const config = join(dir, 'llmproxy.yaml');
    const line = (name: string, authentication: string) => [`  ${name}:`, '    type: oci', '    region: us-chicago-1', `    endpoint: ${genai.url}`, `    compartment_id: ${COMPARTMENT}`, `    authentication: ${authentication}`];
    writeFileSync(config, [
      'storage: { sqlite: { path: ./data/check.db } }',
      'instances:',
      ...line('ociip', `{ type: instance_principal, metadata_url: "${imds.metadataUrl}", federation_endpoint: "${auth.url}" }`),
      ...line('ocirp', '{ type: resource_principal }'),
      ...line('ocinofed', `{ type: instance_principal, metadata_url: "${imds.metadataUrl}", federation_endpoint: "http://127.0.0.1:9" }`),
      '',
    ].join('\n'));
    const started = Date.now();
    const r = await runCli(['config', 'check', '--config', config, '--json'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as { ok: boolean; instances: Array<{ instance: string; type: string; method: string; status: string; expires_at: string | null; error: string | null }> };
    assert.deepEqual(report.instances.map((i) => [i.instance, i.type, i.method, i.status]), [
      ['ociip', 'oci', 'instance_principal', 'ok'],
      ['ocinofed', 'oci', 'instance_principal', 'error'],
      ['ocirp', 'oci', 'resource_principal', 'ok'],
    ]);
    const [ip, nofed, rp] = report.instances;
    assert.match(nofed!.error!, /the OCI auth service at http:\/\/127\.0\.0\.1:9 could not be reached/);
    for (const row of [ip!, rp!]) {
      assert.equal(row.error, null);
      const expiresAt = Date.parse(row.expires_at!);
      assert.ok(expiresAt > started && expiresAt <= Date.now() + 900_000, `expires_at ${row.expires_at} within the token's life`);
    }
    for (const secret of secretsOf([rpst])) assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'config check printed a token or key');
  });
});
