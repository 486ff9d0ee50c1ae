import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AzureManagedIdentityEmulator } from '../emulators/azure-imds.js';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import { sleep } from '../emulators/base.js';
import { EntraEmulator, ENTRA_TOKENS } from '../emulators/entra.js';
import { removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricValue, until } from '../helpers/wait.js';

/**
 * Entra ID authentication of Azure OpenAI instances through @azure/identity against the Entra
 * emulator (https, self-signed: @azure/identity refuses an http authority host, and Node 20
 * cannot trust a CA at run time, so this process skips TLS verification while it runs) and the
 * App Service managed identity endpoint of the managed identity emulator. Each kind is proven by
 * a transparent request that the Azure OpenAI emulator accepts only with a token the Entra (or
 * managed identity) emulator minted; the protocol route is covered once, with client_secret.
 */

const SECRET = 'entra-secret-value-1';
const DEPLOYMENT_PATH = '/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21';
const BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });

/** A throwaway RSA certificate and key (PEM), made with the openssl CLI; `password` encrypts the key. */
function makeCertificate(password?: string): { cert: string; key: string; pem: string } {
  const dir = tempDir('llmproxy-entra-cert-');
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-days', '1', '-subj', '/CN=llmproxy-gateway-test',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ...(password === undefined ? ['-nodes'] : ['-passout', `pass:${password}`]),
    ], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    return { cert, key, pem: cert + key };
  } finally {
    removeDir(dir);
  }
}

/** The base64 body lines of a PEM block, any of which would betray the key in a message. */
function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
}

describe('Azure OpenAI with Entra ID tokens', () => {
  let entra: EntraEmulator;
  let az: AzureOpenAIEmulator;
  let mi: AzureManagedIdentityEmulator;
  const savedEnv: Record<string, string | undefined> = {};
  const setEnv = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (!(k in savedEnv)) savedEnv[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  const certificate = makeCertificate();
  const encrypted = makeCertificate('cert-password-1');
  const stranger = makeCertificate();

  before(async () => {
    entra = await new EntraEmulator().start();
    entra.addApp('tenant-1', 'client-1', { secret: SECRET });
    entra.addApp('tenant-1', 'client-cert', { certificates: [certificate.cert] });
    entra.addApp('tenant-1', 'client-cert-sni', { certificates: [encrypted.cert], requireChain: true });
    az = await new AzureOpenAIEmulator([], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
    mi = await new AzureManagedIdentityEmulator().start();
    setEnv({
      NODE_TLS_REJECT_UNAUTHORIZED: '0',
      AZURE_AUTHORITY_HOST: entra.url,
      AZ_TEST_CLIENT_SECRET: SECRET,
      AZ_TEST_CERT_PEM: certificate.pem,
      AZ_TEST_CERT_PASSWORD: 'cert-password-1',
      AZ_TEST_STRANGER_PEM: stranger.pem,
      // None of AKS's workload identity variables: each test names what it uses.
      AZURE_FEDERATED_TOKEN_FILE: undefined,
      AZURE_CLIENT_ID: undefined,
      AZURE_TENANT_ID: undefined,
    });
  });
  after(async () => {
    await Promise.all([entra.close(), az.close(), mi.close()]);
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  async function gateway(auth: Record<string, unknown>, extra: Record<string, unknown> = {}, files: Record<string, string> = {}): Promise<{ gw: TestGateway; key: string; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-az-id-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const gw = await startGateway({ instances: { az: { type: 'azure', endpoint: az.url, deployments: { 'gpt-4o': 'prod-gpt4o' }, authentication: auth, ...extra } } }, { dir });
    return { gw, key: await gw.key({ name: 'az' }), dir };
  }

  const transparent = (gw: TestGateway, key: string) =>
    fetch(`${gw.url}/transparent/az${DEPLOYMENT_PATH}`, { method: 'POST', headers: { 'api-key': key, 'content-type': 'application/json' }, body: BODY });

  /**
   * A transparent request answered 200, whose upstream request carried `token` (or, where a
   * background refresh may mint another meanwhile, one of `token`) and no api-key.
   */
  async function assertCarries(gw: TestGateway, key: string, token: string | string[] | (() => string[])): Promise<void> {
    const res = await transparent(gw, key);
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const tokens = typeof token === 'function' ? token() : Array.isArray(token) ? token : [token];
    const expected = tokens.map((t) => `Bearer ${t}`);
    assert.ok(expected.includes(String(az.last.headers.authorization)), `unexpected upstream token ${String(az.last.headers.authorization).slice(0, 16)}...`);
    assert.equal(az.last.headers['api-key'], undefined);
  }

  test('client_secret: protocol and transparent requests carry a Bearer token, no api-key', async () => {
    const before = entra.calls['client_secret'] ?? 0;
    const { gw, key } = await gateway({ type: 'client_secret', tenant_id: 'tenant-1', client_id: 'client-1', client_secret: '${env:AZ_TEST_CLIENT_SECRET}' });
    try {
      const seen = { ...az.authSeen };
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const protocol = await fetch(`${gw.url}/openai/az/chat/completions`, { method: 'POST', headers, body: BODY });
      assert.equal(protocol.status, 200, await protocol.clone().text());
      await protocol.arrayBuffer();
      await assertCarries(gw, key, entra.minted.at(-1)!.token);
      assert.equal(az.authSeen.apiKey - seen.apiKey, 0);
      assert.equal(az.authSeen.bearer - seen.bearer, 2);
      assert.equal((entra.calls['client_secret'] ?? 0) - before, 1, 'one token, cached');
    } finally {
      await gw.close();
    }
  });

  test('default_credentials: the DefaultAzureCredential chain finds the service principal in the environment', async () => {
    setEnv({ AZURE_TENANT_ID: 'tenant-1', AZURE_CLIENT_ID: 'client-1', AZURE_CLIENT_SECRET: SECRET });
    const before = entra.calls['client_secret'] ?? 0;
    try {
      const { gw, key } = await gateway({ type: 'default_credentials' });
      try {
        await assertCarries(gw, key, entra.minted.at(-1)!.token);
        assert.equal((entra.calls['client_secret'] ?? 0) - before, 1, 'the environment credential, through the client-secret grant');
        assert.ok(!gw.logs.join('\n').includes(SECRET));
      } finally {
        await gw.close();
      }
    } finally {
      setEnv({ AZURE_TENANT_ID: undefined, AZURE_CLIENT_ID: undefined, AZURE_CLIENT_SECRET: undefined });
    }
  });

  test('client_certificate: a PS256 client assertion naming the certificate by x5t#S256, for the token endpoint', async () => {
    const before = entra.calls['client_certificate'] ?? 0;
    const { gw, key } = await gateway({ type: 'client_certificate', tenant_id: 'tenant-1', client_id: 'client-cert', certificate: '${env:AZ_TEST_CERT_PEM}' });
    try {
      assert.equal((entra.calls['client_certificate'] ?? 0) - before, 1);
      const assertion = entra.assertions.at(-1)!;
      assert.equal(assertion.kind, 'client_certificate');
      assert.equal(assertion.header['alg'], 'PS256');
      assert.equal(typeof assertion.header['x5t#S256'], 'string');
      assert.equal(assertion.header['x5c'], undefined, 'no chain unless asked');
      assert.equal(assertion.claims['aud'], `${entra.url}/tenant-1/oauth2/v2.0/token`);
      assert.equal(assertion.claims['iss'], 'client-cert');
      await assertCarries(gw, key, entra.minted.at(-1)!.token);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_credential_refresh_total\{provider="azure",method="client_certificate",status="success"\} 1\b/);
    } finally {
      await gw.close();
    }
  });

  test('client_certificate: an encrypted key with its password, and the chain sent for subject name / issuer authentication', async () => {
    const { gw, key } = await gateway(
      { type: 'client_certificate', tenant_id: 'tenant-1', client_id: 'client-cert-sni', certificate: '${file:./sni.pem}', password: '${env:AZ_TEST_CERT_PASSWORD}', send_certificate_chain: true },
      {},
      { 'sni.pem': encrypted.pem },
    );
    try {
      const assertion = entra.assertions.at(-1)!;
      assert.ok(Array.isArray(assertion.header['x5c']) && (assertion.header['x5c'] as unknown[]).length === 1);
      await assertCarries(gw, key, entra.minted.at(-1)!.token);
    } finally {
      await gw.close();
    }
    // The same app refuses the assertion without the chain.
    const rejected = entra.rejected['AADSTS700027'] ?? 0;
    await assert.rejects(
      gateway({ type: 'client_certificate', tenant_id: 'tenant-1', client_id: 'client-cert-sni', certificate: '${file:./sni.pem}', password: '${env:AZ_TEST_CERT_PASSWORD}' }, {}, { 'sni.pem': encrypted.pem }),
      /AADSTS700027/,
    );
    assert.equal((entra.rejected['AADSTS700027'] ?? 0) - rejected, 1);
  });

  test('client_certificate: a certificate the app does not know fails startup, without the key in the message', async () => {
    await assert.rejects(gateway({ type: 'client_certificate', tenant_id: 'tenant-1', client_id: 'client-cert', certificate: '${env:AZ_TEST_STRANGER_PEM}' }), (err: Error) => {
      assert.match(err.message, /AADSTS700027/);
      for (const line of pemBodyLines(stranger.key)) assert.ok(!err.message.includes(line), 'private key in the message');
      assert.ok(!err.message.includes('PRIVATE KEY'));
      return true;
    });
  });

  test('workload_identity: the federated token is verified against the federated credential and re-read from its file at each refresh', async () => {
    const issuer = 'https://oidc.aks.test/cluster-1/';
    const subject = 'system:serviceaccount:llm:gateway';
    const issue = entra.addIssuer(issuer);
    entra.addApp('tenant-1', 'client-wi', { federated: [{ issuer, subject }] });
    const first = issue({ sub: subject });
    entra.ttlSeconds = 3;
    const firstMint = entra.minted.length;
    const { gw, key, dir } = await gateway({ type: 'workload_identity', tenant_id: 'tenant-1', client_id: 'client-wi', token_file: 'sa-token' }, { credential_refresh_window: '2s' }, { 'sa-token': first });
    try {
      assert.equal(entra.assertions.at(-1)!.jwt, first);
      await assertCarries(gw, key, () => entra.minted.slice(firstMint).map((m) => m.token));
      // The kubelet rotates the projected token; the next refresh (within about a second) sends the new one.
      const second = issue({ sub: subject });
      writeFileSync(join(dir, 'sa-token'), second);
      await until('the rotated federated token reaches Entra', () => entra.assertions.some((a) => a.jwt === second), 6000);
      // The token minted for the rotated assertion, or one of a later refresh.
      const sinceRotation = entra.minted.length - 1;
      assert.equal(entra.minted[sinceRotation]!.kind, 'workload_identity');
      await until('the gateway uses a token minted since the rotation', async () => {
        const res = await transparent(gw, key);
        await res.arrayBuffer();
        return res.status === 200 && entra.minted.slice(sinceRotation).some((m) => az.last.headers.authorization === `Bearer ${m.token}`);
      }, 3000);
      // A token for another subject is refused by Entra: the refresh fails, counted.
      const failures = await metricValue(gw, 'llmproxy_credential_refresh_total', { provider: 'azure', method: 'workload_identity', status: 'failure' });
      writeFileSync(join(dir, 'sa-token'), issue({ sub: 'system:serviceaccount:other:intruder' }));
      await until('a refresh with the wrong subject is refused', () => (entra.rejected['AADSTS700213'] ?? 0) >= 1, 6000);
      await until('the failure is counted', async () => (await metricValue(gw, 'llmproxy_credential_refresh_total', { provider: 'azure', method: 'workload_identity', status: 'failure' })) > failures, 3000);
    } finally {
      entra.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('managed_identity through the App Service / Container Apps endpoint: system-assigned and user-assigned', async () => {
    const userAssigned = '7c3f2a10-4b5e-4d6f-8a9b-0c1d2e3f4a5b';
    mi.addUserAssigned(userAssigned);
    // MSAL chooses its managed identity source once per process; this file uses App Service only.
    setEnv({ IDENTITY_ENDPOINT: mi.identityEndpoint, IDENTITY_HEADER: mi.identityHeader });
    const system = await gateway({ type: 'managed_identity' });
    try {
      assert.equal(mi.calls['appservice:system'], 1);
      const minted = mi.minted.at(-1)!;
      assert.equal(minted.resource, 'https://cognitiveservices.azure.com', 'the scope, as a resource');
      await assertCarries(system.gw, system.key, minted.token);
      const state = system.gw.app.instances.resolve('az')!.credential.state;
      assert.equal(state.method, 'managed_identity');
      assert.equal(state.status, 'ok');
      assert.ok(Math.abs(state.expiresAt! - minted.expiresAt) < 2000, 'expiry from expires_on');
    } finally {
      await system.gw.close();
    }
    const user = await gateway({ type: 'managed_identity', client_id: userAssigned });
    try {
      assert.equal(mi.calls[`appservice:${userAssigned}`], 1);
      const minted = mi.minted.at(-1)!;
      assert.equal(minted.identity, userAssigned);
      await assertCarries(user.gw, user.key, minted.token);
    } finally {
      await user.gw.close();
    }
    await assert.rejects(gateway({ type: 'managed_identity', client_id: '00000000-0000-0000-0000-00000000dead' }), /No User Assigned or Delegated Managed Identity found/);
    assert.equal(mi.rejected['identity_header'] ?? 0, 0, 'the platform secret was sent');
  });

  test('tokens are refreshed before expiry under load: no failure, about one token request per refresh', async () => {
    entra.ttlSeconds = 3;
    const before = entra.calls['client_secret'] ?? 0;
    const { gw, key } = await gateway({ type: 'client_secret', tenant_id: 'tenant-1', client_id: 'client-1', client_secret: '${env:AZ_TEST_CLIENT_SECRET}' }, { credential_refresh_window: '2s' });
    try {
      const statuses = new Map<number, number>();
      const deadline = Date.now() + 3500;
      let sent = 0;
      const worker = async () => {
        while (Date.now() < deadline && sent < 3000) {
          sent++;
          const res = await transparent(gw, key);
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
      assert.deepEqual([...statuses.keys()], [200], `every request succeeds: ${JSON.stringify([...statuses])}`);
      const grants = (entra.calls['client_secret'] ?? 0) - before;
      assert.ok(grants >= 3, `refreshed during the load (${grants} token requests)`);
      assert.ok(grants <= 7, `${grants} token requests in 3.5 s: more than one per refresh`);
    } finally {
      entra.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('Entra down: a valid token keeps working; once it expires, 503 credential_unavailable without secrets; Entra back, service back', async () => {
    entra.ttlSeconds = 3;
    const start = entra.minted.length;
    const { gw, key } = await gateway({ type: 'client_secret', tenant_id: 'tenant-1', client_id: 'client-1', client_secret: '${env:AZ_TEST_CLIENT_SECRET}' }, { credential_refresh_window: '2s' });
    try {
      entra.setDown(true);
      // Every token minted before the outage (a background refresh may have added one to the first).
      const issued = entra.minted.slice(start);
      // Inside the refresh window, refreshes fail; the valid token is still used.
      await sleep(1200);
      await assertCarries(gw, key, issued.map((m) => m.token));

      // MSAL rounds the request time to whole seconds: the gateway's expiry may be up to half a
      // second later than the emulator's. Step past both.
      const expiresAt = Math.max(...issued.map((m) => m.expiresAt), gw.app.instances.resolve('az')!.credential.state.expiresAt!);
      await sleep(Math.max(0, expiresAt - Date.now()) + 100);
      const expired = await transparent(gw, key);
      const text = await expired.text();
      assert.equal(expired.status, 503, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'credential_unavailable');
      await gw.settle();
      for (const secret of [SECRET, ...issued.map((m) => m.token)]) {
        assert.ok(!text.includes(secret), 'no credential in the error');
        assert.ok(!gw.logs.join('\n').includes(secret), 'no credential in the logs');
      }
      assert.ok((await metricValue(gw, 'llmproxy_credential_refresh_total', { provider: 'azure', method: 'client_secret', status: 'failure' })) >= 1);
      assert.equal(gw.app.instances.resolve('az')!.credential.state.status, 'error');

      entra.setDown(false);
      // The next attempt comes after the failure backoff (a few seconds at most here).
      let status = 0;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const res = await transparent(gw, key);
        await res.arrayBuffer();
        status = res.status;
        if (status === 200) break;
        await sleep(250);
      }
      assert.equal(status, 200, 'service resumes once Entra is back');
      const fresh = entra.minted.slice(start + issued.length).map((m) => `Bearer ${m.token}`);
      assert.ok(fresh.includes(String(az.last.headers.authorization)), 'a token minted after the outage');
    } finally {
      entra.setDown(false);
      entra.ttlSeconds = 3600;
      await gw.close();
    }
  });

  test('config check: one row per Azure instance with its method, status and token expiry; a refused secret fails it without printing secrets', async () => {
    const root = tempDir('llmproxy-az-check-');
    try {
      const config = join(root, 'llmproxy.yaml');
      writeFileSync(config, [
        'storage: { sqlite: { path: ./data/check.db } }',
        'instances:',
        '  az_cert:',
        '    type: azure',
        `    endpoint: ${az.url}`,
        '    authentication: { type: client_certificate, tenant_id: tenant-1, client_id: client-cert, certificate: "${file:./cert.pem}" }',
        '  az_mi:',
        '    type: azure',
        `    endpoint: ${az.url}`,
        '    authentication: { type: managed_identity }',
        '  az_secret:',
        '    type: azure',
        `    endpoint: ${az.url}`,
        '    authentication: { type: client_secret, tenant_id: tenant-1, client_id: client-1, client_secret: "${env:AZ_TEST_CLIENT_SECRET}" }',
        '',
      ].join('\n'));
      writeFileSync(join(root, 'cert.pem'), certificate.pem);
      // The child finds its managed identity at IMDS (this process's App Service variables removed).
      const env = { NODE_TLS_REJECT_UNAUTHORIZED: '0', AZURE_AUTHORITY_HOST: entra.url, AZ_TEST_CLIENT_SECRET: SECRET, IDENTITY_ENDPOINT: undefined, IDENTITY_HEADER: undefined, AZURE_POD_IDENTITY_AUTHORITY_HOST: mi.url };
      const before = entra.minted.length;
      const imdsBefore = mi.calls['imds:system'] ?? 0;
      const ok = await runCli(['config', 'check', '--config', config, '--json'], { cwd: root, env });
      assert.equal(ok.code, 0, ok.stderr);
      const rows = (JSON.parse(ok.stdout) as { instances: Array<{ instance: string; type: string; method: string; status: string; expires_at: string | null; error: string | null }> }).instances;
      assert.deepEqual(rows.map((r) => [r.instance, r.type, r.method, r.status, r.error]), [
        ['az_cert', 'azure', 'client_certificate', 'ok', null],
        ['az_mi', 'azure', 'managed_identity', 'ok', null],
        ['az_secret', 'azure', 'client_secret', 'ok', null],
      ]);
      const mintedNow = entra.minted.slice(before);
      assert.equal(mintedNow.length, 2, 'config check fetched both Entra tokens for real');
      assert.equal((mi.calls['imds:system'] ?? 0) - imdsBefore, 1, 'and asked IMDS');
      const miToken = mi.minted.at(-1)!;
      assert.ok(Math.abs(Date.parse(rows[1]!.expires_at!) - miToken.expiresAt) < 2000);
      for (const row of rows.filter((r) => r.method !== 'managed_identity')) {
        const minted = mintedNow.find((m) => m.kind === row.method)!;
        assert.ok(Math.abs(Date.parse(row.expires_at!) - minted.expiresAt) < 2000, `${row.instance}: expiry is the token's (${row.expires_at})`);
      }

      const human = await runCli(['config', 'check', '--config', config], { cwd: root, env: { ...env, AZ_TEST_CLIENT_SECRET: 'not-the-secret-value-9' } });
      assert.equal(human.code, 1);
      assert.match(human.stdout, /^az_cert\s+azure\s+client_certificate\s+ok\s+\d{4}-\d\d-\d\dT/m);
      assert.match(human.stdout, /^az_mi\s+azure\s+managed_identity\s+ok\s+\d{4}-\d\d-\d\dT/m);
      assert.match(human.stdout, /^az_secret\s+azure\s+client_secret\s+error\s+never\s+.*AADSTS7000215/m);
      for (const secret of ['not-the-secret-value-9', SECRET, ...pemBodyLines(certificate.key), ...mintedNow.map((m) => m.token), miToken.token]) {
        assert.ok(!human.stdout.includes(secret) && !human.stderr.includes(secret) && !ok.stdout.includes(secret), 'a secret in config check output');
      }
    } finally {
      removeDir(root);
    }
  });

  test('the Azure OpenAI emulator refuses tokens it did not see minted', async () => {
    // Guards the tests above: a made-up or expired Bearer token is a 401 with a Bearer challenge.
    const res = await fetch(`${az.url}${DEPLOYMENT_PATH}`, { method: 'POST', headers: { authorization: 'Bearer entra-made-up', 'content-type': 'application/json' }, body: BODY });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
    await res.arrayBuffer();
    const expired = 'entra-expired-token';
    ENTRA_TOKENS.set(expired, Date.now() - 1);
    const late = await fetch(`${az.url}${DEPLOYMENT_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${expired}`, 'content-type': 'application/json' }, body: BODY });
    assert.equal(late.status, 401);
    await late.arrayBuffer();
  });
});
