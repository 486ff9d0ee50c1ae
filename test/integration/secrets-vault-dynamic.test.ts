import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { VaultEmulator } from '../emulators/vault.js';
import { sdkWithHeaderKey } from '../helpers/bedrock-client.js';
import { removeDir, runCli, tempDir } from '../helpers/cli.js';
import { validate } from '../../src/config/load.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricSample, metricValue, until } from '../helpers/wait.js';

const SONNET = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
const ROOT_TOKEN = 'hvs.dynamic-secrets-test-token';
const VAULT_ENV = ['VAULT_ADDR', 'VAULT_CACERT', 'VAULT_SKIP_VERIFY', 'VAULT_NAMESPACE', 'VAULT_TOKEN', 'VAULT_K8S_ROLE', 'VAULT_K8S_TOKEN_FILE', 'VAULT_K8S_MOUNT', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID', 'VAULT_SECRET_ID_FILE'];

/** A Bedrock instance whose key id and secret are two references to one dynamic secret. */
function dynamicBedrock(endpoint: string, role: string) {
  return {
    type: 'bedrock',
    region: 'us-east-1',
    default: true,
    endpoint,
    control_endpoint: endpoint,
    authentication: {
      type: 'access_keys',
      access_key_id: `\${vault-dynamic:aws/creds/${role}#access_key}`,
      secret_access_key: `\${vault-dynamic:aws/creds/${role}#secret_key}`,
    },
  };
}

async function converse(gw: TestGateway, key: string): Promise<string | undefined> {
  const out = await sdkWithHeaderKey(gw.url, key).send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
  return out.output?.message?.content?.[0]?.text;
}

describe('${vault-dynamic:...}: one Vault lease for both AWS keys, renewed, replaced and revoked', () => {
  const accounts = new AwsAccounts();
  let vault: VaultEmulator;
  let bedrock: BedrockEmulator;
  const saved = Object.fromEntries(VAULT_ENV.map((n) => [n, process.env[n]]));
  const gateways: TestGateway[] = [];

  before(async () => {
    vault = await new VaultEmulator().start();
    vault.addToken(ROOT_TOKEN);
    vault.mountAws(accounts, {
      bedrock: { ttlSeconds: 2, maxTtlSeconds: 600 },
      capped: { ttlSeconds: 2, maxTtlSeconds: 2.5 },
      steady: { ttlSeconds: 600, maxTtlSeconds: 600 },
    });
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    for (const name of VAULT_ENV) delete process.env[name];
    process.env['VAULT_ADDR'] = vault.url;
    process.env['VAULT_TOKEN'] = ROOT_TOKEN;
  });
  afterEach(async () => {
    vault.refuseRenewals = false;
    await Promise.all(gateways.splice(0).map((g) => g.close()));
  });
  after(async () => {
    await vault.close();
    await bedrock.close();
    for (const name of VAULT_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  async function gateway(role: string): Promise<TestGateway> {
    const gw = await startGateway({ instances: { bedrock_vault: dynamicBedrock(bedrock.url, role) } });
    gateways.push(gw);
    return gw;
  }

  const leasesOf = (role: string) => vault.leases.filter((l) => l.role === role);

  test('both keys come from one read; renewal keeps the credential alive past its first TTL; a refused renewal brings a new pair, never a mixed one', async () => {
    const gw = await gateway('bedrock');
    const key = await gw.key();
    assert.equal(leasesOf('bedrock').length, 1, 'two references, one lease');
    const first = leasesOf('bedrock')[0]!;
    assert.equal(first.token, ROOT_TOKEN);

    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    const caller = bedrock.last.caller;
    assert.equal(caller?.scheme === 'sigv4' ? caller.accessKeyId : undefined, first.accessKeyId, 'signed with the Vault-issued key');

    // The lease lasts 2 s; the gateway renews it (a lease this short: at half its life), so it is alive after 2.5 s.
    await until('the lease is renewed', () => first.renewals.length >= 1, 5000);
    assert.deepEqual(first.renewals[0], { increment: 2, granted: 2 });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(first.revoked, 'no');
    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    assert.ok((await metricValue(gw, 'llmproxy_secret_lease_renewals_total', { reference: 'vault-dynamic:aws/creds/bedrock', result: 'renewed' })) >= 1);
    const expiry = await metricSample(gw.url, 'llmproxy_secret_lease_expiry_seconds', { reference: 'vault-dynamic:aws/creds/bedrock' });
    assert.ok(expiry !== undefined && expiry > 0 && expiry <= 2, `lease expiry gauge: ${expiry}`);

    // Vault stops renewing: the gateway reads a new lease. Requests keep flowing meanwhile; the
    // emulator verifies every SigV4 signature, so a key id paired with another lease's secret fails.
    bedrock.reset();
    vault.refuseRenewals = true;
    let stop = false;
    const outcomes: Array<string | Error> = [];
    const load = (async () => {
      while (!stop) {
        await Promise.all(Array.from({ length: 4 }, () => converse(gw, key).then((t) => outcomes.push(t ?? 'empty'), (e: Error) => outcomes.push(e))));
      }
    })();
    await until('a second lease is read', () => leasesOf('bedrock').length === 2, 5000);
    vault.refuseRenewals = false;
    // Revoked a few seconds after the swap (requests signed just before it may still be on their way).
    await until('the first lease is revoked', () => vault.revokeCalls.includes(first.id), 10_000);
    stop = true;
    await load;
    assert.equal(leasesOf('bedrock').length, 2, 'the second lease is renewed, not replaced');
    const failures = outcomes.filter((o) => o instanceof Error);
    assert.deepEqual(failures, [], 'no request failed across the replacement');
    assert.ok(outcomes.length > 8, `requests ran during the replacement (${outcomes.length})`);
    assert.equal(bedrock.signatureFailures, 0);
    const second = leasesOf('bedrock')[1]!;
    const signers = new Set(bedrock.requests.map((r) => (r.caller?.scheme === 'sigv4' ? r.caller.accessKeyId : 'none')));
    assert.ok(signers.has(second.accessKeyId), 'the new pair is used');
    for (const s of signers) assert.ok(s === first.accessKeyId || s === second.accessKeyId, `signed only with issued keys (${s})`);

    bedrock.reset();
    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    const latest = bedrock.last.caller;
    assert.equal(latest?.scheme === 'sigv4' ? latest.accessKeyId : undefined, second.accessKeyId);
    assert.equal(accounts.lookup(first.accessKeyId), undefined, 'the revoked key no longer exists in IAM');
    assert.ok((await metricValue(gw, 'llmproxy_secret_lease_renewals_total', { reference: 'vault-dynamic:aws/creds/bedrock', result: 'refused' })) >= 1);
    assert.ok((await metricValue(gw, 'llmproxy_secret_lease_reads_total', { reference: 'vault-dynamic:aws/creds/bedrock', result: 'ok' })) >= 2);
    assert.ok((await metricValue(gw, 'llmproxy_secret_lease_revocations_total', { reference: 'vault-dynamic:aws/creds/bedrock', result: 'ok' })) >= 1);
    const logs = gw.logs.join('\n');
    for (const l of leasesOf('bedrock')) {
      assert.ok(!logs.includes(accounts.users.get(l.accessKeyId)?.secretAccessKey ?? l.id), 'no secret key in the logs');
      assert.ok(!logs.includes(l.id), 'no lease id in the logs');
    }
  });

  test('max TTL: a renewal granted less than asked is followed by a new lease before the old one ends', async () => {
    const gw = await gateway('capped');
    const key = await gw.key();
    const first = leasesOf('capped').at(-1)!;
    await until('a second lease is read', () => leasesOf('capped').length >= 2 && leasesOf('capped').at(-1) !== first, 6000);
    assert.ok(first.renewals.some((r) => r.granted < r.increment), `the role's max TTL capped a renewal: ${JSON.stringify(first.renewals)}`);
    assert.ok((await metricValue(gw, 'llmproxy_secret_lease_renewals_total', { reference: 'vault-dynamic:aws/creds/capped', result: 'max_ttl' })) >= 1);
    bedrock.reset();
    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    const caller = bedrock.last.caller;
    assert.equal(caller?.scheme === 'sigv4' ? caller.accessKeyId : undefined, leasesOf('capped').at(-1)!.accessKeyId);
  });

  test('closing the gateway revokes its lease; the key stops working', async () => {
    const gw = await startGateway({ instances: { bedrock_vault: dynamicBedrock(bedrock.url, 'steady') } });
    const key = await gw.key();
    const lease = leasesOf('steady').at(-1)!;
    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    assert.equal(lease.revoked, 'no');
    await gw.close();
    assert.equal(lease.revoked, 'api', 'revoked through sys/leases/revoke at shutdown');
    assert.equal(accounts.lookup(lease.accessKeyId), undefined);
    const log = vault.log.filter((e) => e.path === 'sys/leases/revoke');
    assert.ok(log.length >= 1 && log.every((e) => e.method === 'PUT' && e.token === ROOT_TOKEN));
  });

  test("an admin's refresh now reads a new pair; a config reload leaves the old generation's lease revoked once its requests end", async () => {
    const gw = await gateway('steady');
    const key = await gw.key();
    const admin = await gw.key({ name: 'admin', role: 'admin' });
    const first = leasesOf('steady').at(-1)!;

    const res = await fetch(`${gw.url}/admin/v1/credentials/bedrock_vault/refresh`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { status: string; expires_at: string | null };
    assert.equal(body.status, 'ok');
    assert.ok(body.expires_at !== null, 'the credential reports the lease expiry');
    const second = leasesOf('steady').at(-1)!;
    assert.notEqual(second.id, first.id, 'a new lease');
    bedrock.reset();
    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    const caller = bedrock.last.caller;
    assert.equal(caller?.scheme === 'sigv4' ? caller.accessKeyId : undefined, second.accessKeyId);
    await until('the replaced lease is revoked after its grace', () => first.revoked === 'api', 10_000);

    const raw = { server: { host: '127.0.0.1', port: 0 }, storage: { sqlite: { path: join(gw.dir, 'llmproxy.db') } }, instances: { bedrock_vault: dynamicBedrock(bedrock.url, 'steady') } };
    const reloaded = await gw.app.reload({ config: validate(raw, 'test config'), source: 'test config', baseDir: gw.dir });
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    const third = leasesOf('steady').at(-1)!;
    assert.notEqual(third.id, second.id, 'the new generation reads its own lease');
    await until("the old generation's lease is revoked", () => second.revoked === 'api', 5000);
    assert.equal(third.revoked, 'no');
    bedrock.reset();
    assert.equal(await converse(gw, key), BedrockEmulator.REPLY.join(''));
    const after = bedrock.last.caller;
    assert.equal(after?.scheme === 'sigv4' ? after.accessKeyId : undefined, third.accessKeyId);
  });

  test('lease endpoints enforce the Vault token', async () => {
    const lease = leasesOf('steady').at(-1) ?? leasesOf('bedrock')[0]!;
    for (const path of ['sys/leases/renew', 'sys/leases/revoke']) {
      const res = await fetch(`${vault.url}/v1/${path}`, { method: 'PUT', headers: { 'x-vault-token': 'hvs.wrong', 'content-type': 'application/json' }, body: JSON.stringify({ lease_id: lease.id }) });
      assert.equal(res.status, 403, path);
    }
    const read = await fetch(`${vault.url}/v1/aws/creds/steady`, { headers: { 'x-vault-token': 'hvs.wrong' } });
    assert.equal(read.status, 403);
  });
});

describe('${vault-dynamic:...} in config files', () => {
  let vault: VaultEmulator;
  let dir: string;
  const accounts = new AwsAccounts();

  before(async () => {
    vault = await new VaultEmulator().start();
    vault.addToken(ROOT_TOKEN);
    vault.mountAws(accounts, { bedrock: { ttlSeconds: 600, maxTtlSeconds: 600 } });
    dir = tempDir();
  });
  after(async () => {
    await vault.close();
    removeDir(dir);
  });

  test('config check reads one lease, reports its expiry, and revokes it before exiting', async () => {
    const file = join(dir, 'dynamic.yaml');
    writeFileSync(
      file,
      [
        'instances:',
        '  bedrock_vault:',
        '    type: bedrock',
        '    region: us-east-1',
        '    authentication:',
        '      type: access_keys',
        '      access_key_id: "${vault-dynamic:aws/creds/bedrock#access_key}"',
        '      secret_access_key: "${vault-dynamic:aws/creds/bedrock#secret_key}"',
        `storage: { sqlite: { path: ${JSON.stringify(join(dir, 'check.db'))} } }`,
      ].join('\n'),
    );
    const r = await runCli(['config', 'check', '--config', file, '--json'], { cwd: dir, env: { VAULT_ADDR: vault.url, VAULT_TOKEN: ROOT_TOKEN } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as { instances: Array<{ instance: string; status: string; expires_at: string | null }> };
    const row = report.instances.find((i) => i.instance === 'bedrock_vault')!;
    assert.equal(row.status, 'ok');
    assert.ok(row.expires_at !== null && Date.parse(row.expires_at) > Date.now(), 'the lease expiry is the credential expiry');
    assert.equal(vault.leases.length, 1, 'both keys from one lease');
    assert.equal(vault.leases[0]!.revoked, 'api', 'a check leaves no live credential behind');
  });

  test("the seed's `type: vault_dynamic` is refused, naming the block that replaces it", async () => {
    const file = join(dir, 'seed.yaml');
    writeFileSync(
      file,
      ['instances:', '  openai_proxy:', '    type: openai', '    authentication:', '      type: vault_dynamic', '      vault_path: secret/openai/api-key', '      refresh_interval: 1h'].join('\n'),
    );
    const r = await runCli(['config', 'check', '--config', file], { cwd: dir, env: { VAULT_ADDR: vault.url, VAULT_TOKEN: ROOT_TOKEN } });
    assert.notEqual(r.code, 0);
    const text = r.stdout + r.stderr;
    assert.match(text, /instances\.openai_proxy\.authentication\.type: "vault_dynamic" is not an authentication type/);
    assert.ok(text.includes('{ type: api_key, api_key: "${vault:secret/data/openai/api-key#key}", refresh_interval: 1h }'), text);
    assert.ok(text.includes('"${vault:secret/openai/api-key#key}"'), 'the KV v1 form too');
    assert.ok(text.includes('${vault-dynamic:<engine path>#<field>}'), 'and the dynamic form');

    const bedrockFile = join(dir, 'seed-bedrock.yaml');
    writeFileSync(bedrockFile, ['instances:', '  bedrock_vault:', '    type: bedrock', '    region: us-east-1', '    authentication: { type: vault_dynamic, vault_path: aws/creds/bedrock }'].join('\n'));
    const b = await runCli(['config', 'check', '--config', bedrockFile], { cwd: dir });
    assert.notEqual(b.code, 0);
    assert.ok(
      (b.stdout + b.stderr).includes('{ type: access_keys, access_key_id: "${vault-dynamic:aws/creds/bedrock#access_key}", secret_access_key: "${vault-dynamic:aws/creds/bedrock#secret_key}" }'),
      b.stdout + b.stderr,
    );
  });

  test('a malformed dynamic reference is a config error naming its field', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, ['instances:', '  openai:', '    type: openai', '    authentication: { type: api_key, api_key: "${vault-dynamic:openai/creds/x}" }'].join('\n'));
    const r = await runCli(['config', 'check', '--config', file], { cwd: dir });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /instances\.openai\.authentication\.api_key: \$\{vault-dynamic:openai\/creds\/x\}: expected \$\{vault-dynamic:<engine path>#<field>\}/);
  });
});
