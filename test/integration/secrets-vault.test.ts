import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { parseSecretRef } from '../../src/secrets/ref.js';
import { VaultClient, VaultError, vaultSettingsFromEnv } from '../../src/secrets/vault.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { VaultEmulator } from '../emulators/vault.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricValue, until } from '../helpers/wait.js';

const OLD_KEY = 'sk-vault-old-1111111111111111aaaa';
const NEW_KEY = 'sk-vault-new-2222222222222222bbbb';
const ROOT_TOKEN = 'hvs.root-token-for-tests';
const REF = '${vault:secret/data/openai#key}';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
const VAULT_ENV = ['VAULT_ADDR', 'VAULT_CACERT', 'VAULT_SKIP_VERIFY', 'VAULT_NAMESPACE', 'VAULT_TOKEN', 'VAULT_K8S_ROLE', 'VAULT_K8S_TOKEN_FILE', 'VAULT_K8S_MOUNT', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID', 'VAULT_SECRET_ID_FILE'];

interface Outcome {
  status: number;
  text: string;
}

async function chat(gw: TestGateway, key: string, instance = 'primary'): Promise<Outcome> {
  try {
    const res = await fetch(`${gw.url}/transparent/${instance}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: CHAT_BODY,
    });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: String(err) };
  }
}


const bearer = (k: string) => `Bearer ${k}`;

function setVaultEnv(values: Record<string, string>): void {
  for (const name of VAULT_ENV) delete process.env[name];
  Object.assign(process.env, values);
}

describe('${vault:...} secrets end to end', () => {
  let vault: VaultEmulator;
  let emu: OpenAIEmulator;
  let dir: string;
  const saved = Object.fromEntries(VAULT_ENV.map((n) => [n, process.env[n]]));

  before(async () => {
    vault = await new VaultEmulator().start();
    emu = await new OpenAIEmulator([OLD_KEY]).start();
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-vault-'));
  });
  after(async () => {
    await vault.close();
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    vault.down = false;
    for (const name of VAULT_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  function reset(): void {
    vault.tokens.clear();
    vault.addToken(ROOT_TOKEN);
    vault.write('secret', 'openai', { key: OLD_KEY });
    emu.reset();
    emu.acceptedKeys.clear();
    emu.acceptedKeys.add(OLD_KEY);
  }

  test('token auth: requests work; a rotated value is picked up under concurrent load with no failed request', async () => {
    reset();
    setVaultEnv({ VAULT_ADDR: vault.url, VAULT_TOKEN: ROOT_TOKEN });
    const gw = await startGateway({
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: REF, refresh_interval: '100ms' } } },
    });
    try {
      const key = await gw.key({ name: 'vault' });
      const first = await chat(gw, key);
      assert.equal(first.status, 200, first.text);
      assert.equal(emu.last.headers.authorization, bearer(OLD_KEY));
      assert.ok(vault.log.some((l) => l.path === 'secret/data/openai' && l.token === ROOT_TOKEN));

      const outcomes: Outcome[] = [];
      const inflight = new Set<Promise<Outcome>>();
      let stop = false;
      const deadline = Date.now() + 8000;
      const worker = async () => {
        while (!stop && Date.now() < deadline) {
          const p = chat(gw, key);
          inflight.add(p);
          outcomes.push(await p);
          inflight.delete(p);
        }
      };
      let retiredAt = -1;
      const conductor = async () => {
        try {
          await until('load before the rotation', () => outcomes.length >= 20);
          // The operator's order: the provider accepts both keys, Vault gets the new one, the old one is retired.
          emu.acceptedKeys.add(NEW_KEY);
          const version = vault.write('secret', 'openai', { key: NEW_KEY });
          assert.equal(version, 2);
          await until('the provider sees the new key', () => emu.requests.some((r) => r.headers.authorization === bearer(NEW_KEY)));
          await Promise.all([...inflight]);
          emu.acceptedKeys.delete(OLD_KEY);
          retiredAt = emu.requests.length;
          await until('load after the old key was retired', () => emu.requests.length >= retiredAt + 40);
        } finally {
          stop = true;
        }
      };
      await Promise.all([worker(), worker(), worker(), worker(), conductor()]);

      const failed = outcomes.filter((o) => o.status !== 200);
      assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${outcomes.length} requests failed`);
      assert.ok(retiredAt > 0 && emu.requests.length >= retiredAt + 40);
      assert.deepEqual(new Set(emu.requests.slice(retiredAt).map((r) => r.headers.authorization)), new Set([bearer(NEW_KEY)]));
      assert.ok((await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'vault', status: 'changed' })) >= 1);
      await gw.settle();
      const logs = gw.logs.join('\n');
      for (const secret of [OLD_KEY, NEW_KEY, ROOT_TOKEN]) assert.ok(!logs.includes(secret), 'a secret reached the log');
    } finally {
      await gw.close();
    }
  });

  test('Vault down: requests keep using the last good value and the failure is counted', async () => {
    reset();
    setVaultEnv({ VAULT_ADDR: vault.url, VAULT_TOKEN: ROOT_TOKEN });
    const gw = await startGateway({
      secrets: { refresh_interval: '100ms' },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: REF } } },
    });
    try {
      const key = await gw.key({ name: 'vault-down' });
      assert.equal((await chat(gw, key)).status, 200);
      assert.equal(await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'vault', status: 'error' }), 0);
      vault.down = true;
      await until('two failed refreshes are counted', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'vault', status: 'error' })) >= 2);
      for (let i = 0; i < 5; i++) {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
        assert.equal(emu.last.headers.authorization, bearer(OLD_KEY));
      }
      const ready = await fetch(`${gw.url}/ready`);
      assert.equal(ready.status, 200, await ready.text());
      await gw.settle();
      const warnings = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'secret refresh failed; keeping the last good value');
      assert.ok(warnings.length >= 1);
      assert.equal(warnings[0]!['secret'], REF);
      assert.match(String(warnings[0]!['error']), /cannot reach Vault/);

      vault.down = false;
      const okBefore = await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'vault', status: 'ok' });
      await until('refreshes succeed again', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'vault', status: 'ok' })) > okBefore);
    } finally {
      await gw.close();
    }
  });

  test('Kubernetes auth: one login serves every reference and refresh', async () => {
    reset();
    vault.write('secret', 'openai-second', { key: OLD_KEY });
    const jwtFile = join(dir, 'sa-token');
    writeFileSync(jwtFile, 'eyJhbGciOiJSUzI1NiJ9.sa.sig\n');
    vault.k8sRoles.set('llmproxy', 'eyJhbGciOiJSUzI1NiJ9.sa.sig');
    const before = vault.counters.logins.kubernetes;
    setVaultEnv({ VAULT_ADDR: vault.url, VAULT_K8S_ROLE: 'llmproxy', VAULT_K8S_TOKEN_FILE: jwtFile, VAULT_K8S_MOUNT: 'k8s-east' });
    const gw = await startGateway({
      secrets: { refresh_interval: '50ms' },
      instances: {
        primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: REF } },
        second: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${vault:secret/data/openai-second#key}' } },
      },
    });
    try {
      const key = await gw.key({ name: 'k8s' });
      assert.equal((await chat(gw, key)).status, 200);
      assert.equal((await chat(gw, key, 'second')).status, 200);
      const reads = vault.counters.reads;
      await until('several refreshes', () => vault.counters.reads >= reads + 6);
      assert.equal(vault.counters.logins.kubernetes - before, 1);
      assert.equal(vault.counters.loginsByMount.get('k8s-east'), 1);
    } finally {
      await gw.close();
    }
  });

  test('AppRole auth (secret ID from a file): one login for all references', async () => {
    reset();
    vault.appRoles.set('role-1234', 'secret-5678');
    const secretIdFile = join(dir, 'secret-id');
    writeFileSync(secretIdFile, 'secret-5678\n');
    const before = vault.counters.logins.approle;
    setVaultEnv({ VAULT_ADDR: vault.url, VAULT_ROLE_ID: 'role-1234', VAULT_SECRET_ID_FILE: secretIdFile, VAULT_NAMESPACE: 'team-a' });
    const gw = await startGateway({
      secrets: { refresh_interval: '50ms' },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: REF } } },
    });
    try {
      const key = await gw.key({ name: 'approle' });
      assert.equal((await chat(gw, key)).status, 200);
      const reads = vault.counters.reads;
      await until('several refreshes', () => vault.counters.reads >= reads + 4);
      assert.equal(vault.counters.logins.approle - before, 1);
      assert.ok(vault.log.slice(-3).every((l) => l.namespace === 'team-a'), 'the namespace header is sent');
    } finally {
      await gw.close();
    }
  });

  test('token expiry: a 403 leads to one new login and the read succeeds', async () => {
    reset();
    vault.appRoles.set('role-exp', 'sid-exp');
    setVaultEnv({ VAULT_ADDR: vault.url, VAULT_ROLE_ID: 'role-exp', VAULT_SECRET_ID: 'sid-exp' });
    const gw = await startGateway({
      secrets: { refresh_interval: '50ms' },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: REF } } },
    });
    try {
      const before = vault.counters.logins.approle;
      vault.expireAllTokens();
      const denied = vault.counters.denied;
      await until('a new login after the 403', () => vault.counters.logins.approle > before && vault.counters.denied > denied);
      const reads = vault.counters.reads;
      await until('reads continue', () => vault.counters.reads >= reads + 3);
      assert.equal(vault.counters.logins.approle - before, 1);
      assert.equal(await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'vault', status: 'error' }), 0);
      const key = await gw.key({ name: 'expiry' });
      assert.equal((await chat(gw, key)).status, 200);
    } finally {
      await gw.close();
    }
  });
});

describe('VaultClient token lifecycle (frozen clock)', () => {
  let vault: VaultEmulator;
  const ref = parseSecretRef(REF)!;

  before(async () => {
    vault = await new VaultEmulator().start();
    vault.k8sRoles.set('r', 'jwt');
    vault.write('secret', 'openai', { key: OLD_KEY });
    vault.mountKv('kv', 1).write('kv', 'openai', { key: NEW_KEY });
  });
  after(() => vault.close());

  function client(now: () => number, jwtDir: string): VaultClient {
    const jwtFile = join(jwtDir, 'jwt');
    writeFileSync(jwtFile, 'jwt');
    return new VaultClient(vaultSettingsFromEnv({ VAULT_ADDR: vault.url, VAULT_K8S_ROLE: 'r', VAULT_K8S_TOKEN_FILE: jwtFile }), { now });
  }

  test('reads KV v1 and v2; a missing field names the reference, not the value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-vault-client-'));
    try {
      const c = client(Date.now, dir);
      assert.equal(await c.read(ref), OLD_KEY);
      assert.equal(await c.read(parseSecretRef('${vault:kv/openai#key}')!), NEW_KEY);
      await assert.rejects(c.read(parseSecretRef('${vault:secret/data/openai#nope}')!), (err: unknown) => {
        assert.ok(err instanceof VaultError);
        assert.equal(err.code, 'VAULT_FIELD_MISSING');
        assert.match(err.message, /\$\{vault:secret\/data\/openai#nope\}/);
        assert.ok(!err.message.includes(OLD_KEY));
        return true;
      });
      await assert.rejects(c.read(parseSecretRef('${vault:secret/data/absent#key}')!), { code: 'VAULT_HTTP', status: 404 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('renews a renewable token after two thirds of its lease; logs in again when it is not renewable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-vault-client-'));
    try {
      let now = 1_000_000;
      vault.loginTokenTtlSeconds = 60;
      vault.loginTokenRenewable = true;
      const c = client(() => now, dir);
      const logins = vault.counters.logins.kubernetes;
      const renewals = vault.counters.renewals;
      await Promise.all([c.read(ref), c.read(ref), c.read(ref)]);
      assert.equal(vault.counters.logins.kubernetes - logins, 1, 'concurrent first reads share one login');
      now += 30_000;
      await c.read(ref);
      assert.equal(vault.counters.renewals - renewals, 0, 'too early to renew');
      now += 15_000;
      await Promise.all([c.read(ref), c.read(ref)]);
      assert.equal(vault.counters.renewals - renewals, 1, 'renewed once');
      assert.equal(vault.counters.logins.kubernetes - logins, 1);

      vault.loginTokenRenewable = false;
      const c2 = client(() => now, dir);
      await c2.read(ref);
      now += 45_000;
      await c2.read(ref);
      assert.equal(vault.counters.logins.kubernetes - logins, 3, 'a non-renewable token is replaced by a new login');
    } finally {
      vault.loginTokenTtlSeconds = 3600;
      vault.loginTokenRenewable = true;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a static token that Vault refuses is an auth error (no login to retry)', async () => {
    const c = new VaultClient(vaultSettingsFromEnv({ VAULT_ADDR: vault.url, VAULT_TOKEN: 'hvs.unknown' }));
    await assert.rejects(c.read(ref), (err: unknown) => err instanceof VaultError && err.code === 'VAULT_AUTH' && /permission denied/.test(err.message));
  });
});

/**
 * A CA and a server certificate for 127.0.0.1 made with the `openssl` CLI in `dir`: `ca.pem`
 * (what VAULT_CACERT points at), `server.pem` and `server.key`.
 */
function makeTestPki(dir: string, name: string): { caFile: string; cert: string; key: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-new', ...ec, '-keyout', `${name}-server.key`, '-out', `${name}-server.csr`, '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, `${name}-ext.cnf`), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}-server.pem`, '-days', '2', '-extfile', `${name}-ext.cnf`);
  return { caFile: join(dir, `${name}-ca.pem`), cert: readFileSync(join(dir, `${name}-server.pem`), 'utf8'), key: readFileSync(join(dir, `${name}-server.key`), 'utf8') };
}

describe('Vault over HTTPS with a private CA (VAULT_CACERT, VAULT_SKIP_VERIFY)', () => {
  let vault: VaultEmulator;
  let dir: string;
  let pki: { caFile: string; cert: string; key: string };
  let otherCa: string;
  const ref = parseSecretRef(REF)!;
  const saved = Object.fromEntries(VAULT_ENV.map((n) => [n, process.env[n]]));
  const env = (extra: Record<string, string> = {}) => ({ VAULT_ADDR: vault.url, VAULT_TOKEN: ROOT_TOKEN, ...extra });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-vault-tls-'));
    pki = makeTestPki(dir, 'vault');
    otherCa = makeTestPki(dir, 'other').caFile;
    vault = await new VaultEmulator().start({ tls: { cert: pki.cert, key: pki.key } });
    vault.addToken(ROOT_TOKEN);
    vault.write('secret', 'openai', { key: OLD_KEY });
  });
  after(async () => {
    await vault.close();
    rmSync(dir, { recursive: true, force: true });
    for (const name of VAULT_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  test('the emulator serves HTTPS', () => {
    assert.match(vault.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test('with VAULT_CACERT the read succeeds', async () => {
    const c = new VaultClient(vaultSettingsFromEnv(env({ VAULT_CACERT: pki.caFile })));
    assert.equal(await c.read(ref), OLD_KEY);
  });

  test('without VAULT_CACERT the certificate is refused before any request, with an error that says what to set', async () => {
    const requests = vault.counters.requests;
    const c = new VaultClient(vaultSettingsFromEnv(env()));
    await assert.rejects(c.read(ref), (err: unknown) => {
      assert.ok(err instanceof VaultError);
      assert.equal(err.code, 'VAULT_UNREACHABLE');
      assert.match(err.message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
      assert.match(err.message, /not trusted; set VAULT_CACERT/);
      assert.ok(!err.message.includes(ROOT_TOKEN));
      return true;
    });
    assert.equal(vault.counters.requests, requests, 'an HTTP request reached Vault over an unverified connection');
  });

  test("VAULT_CACERT of another CA is refused, naming the file", async () => {
    const c = new VaultClient(vaultSettingsFromEnv(env({ VAULT_CACERT: otherCa })));
    await assert.rejects(c.read(ref), (err: unknown) => err instanceof VaultError && err.code === 'VAULT_UNREACHABLE' && err.message.includes(`VAULT_CACERT ${otherCa}`));
  });

  test('a missing or non-PEM VAULT_CACERT is a configuration error', async () => {
    const missing = new VaultClient(vaultSettingsFromEnv(env({ VAULT_CACERT: join(dir, 'absent.pem') })));
    await assert.rejects(missing.read(ref), (err: unknown) => err instanceof VaultError && err.code === 'VAULT_CONFIG' && /cannot read VAULT_CACERT .*absent\.pem: ENOENT/.test(err.message));
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const bad = new VaultClient(vaultSettingsFromEnv(env({ VAULT_CACERT: notPem })));
    await assert.rejects(bad.read(ref), { code: 'VAULT_CONFIG' });
  });

  test('VAULT_SKIP_VERIFY=true reads without verifying; other values are refused', async () => {
    const c = new VaultClient(vaultSettingsFromEnv(env({ VAULT_SKIP_VERIFY: 'true' })));
    assert.equal(await c.read(ref), OLD_KEY);
    assert.throws(() => vaultSettingsFromEnv(env({ VAULT_SKIP_VERIFY: 'yes' })), { code: 'VAULT_CONFIG' });
    assert.equal(vaultSettingsFromEnv(env({ VAULT_SKIP_VERIFY: 'false' })).tls, undefined);
  });

  test('a gateway with VAULT_CACERT in its environment starts and serves with the Vault secret', async () => {
    const emu = await new OpenAIEmulator([OLD_KEY]).start();
    setVaultEnv(env({ VAULT_CACERT: pki.caFile }));
    const gw = await startGateway({ instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: REF } } } });
    try {
      const r = await chat(gw, await gw.key({ name: 'vault-tls' }));
      assert.equal(r.status, 200, r.text);
      assert.equal(emu.last.headers.authorization, bearer(OLD_KEY));
    } finally {
      await gw.close();
      await emu.close();
    }
  });
});
