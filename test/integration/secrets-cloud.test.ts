import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { AwsSmError, readAwsSm } from '../../src/secrets/aws-sm.js';
import { AzureKvError, readAzureKv } from '../../src/secrets/azure-kv.js';
import { parseSecretRef } from '../../src/secrets/ref.js';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { EntraEmulator } from '../emulators/entra.js';
import { KeyVaultEmulator } from '../emulators/key-vault.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { SecretsManagerEmulator } from '../emulators/secrets-manager.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricValue, until } from '../helpers/wait.js';

const OLD_KEY = 'sk-awssm-old-1111111111111111aaaa';
const NEW_KEY = 'sk-awssm-new-2222222222222222bbbb';
const REGION = 'eu-west-1';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
const AWS_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_EC2_METADATA_DISABLED'];

async function chat(gw: TestGateway, key: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${gw.url}/transparent/primary/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: CHAT_BODY,
  });
  return { status: res.status, text: await res.text() };
}


const bearer = (k: string) => `Bearer ${k}`;

describe('${aws-sm:...} secrets end to end', () => {
  let accounts: AwsAccounts;
  let sm: SecretsManagerEmulator;
  let emu: OpenAIEmulator;
  let user: IamUser;
  const saved = Object.fromEntries(AWS_ENV.map((n) => [n, process.env[n]]));

  before(async () => {
    accounts = new AwsAccounts();
    user = accounts.addUser('gateway');
    sm = await new SecretsManagerEmulator({ accounts, region: REGION }).start();
    emu = await new OpenAIEmulator([OLD_KEY]).start();
    for (const name of AWS_ENV) delete process.env[name];
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: user.accessKeyId,
      AWS_SECRET_ACCESS_KEY: user.secretAccessKey,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  });
  after(async () => {
    await sm.close();
    await emu.close();
    for (const name of AWS_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
  afterEach(() => {
    sm.down = false;
    sm.denied.clear();
  });

  test('reads the whole SecretString or one JSON field; errors name the reference, never the value', async () => {
    sm.put('plain/openai', OLD_KEY);
    sm.put('json/openai', { api_key: OLD_KEY, other: 42 });
    assert.equal(await readAwsSm(parseSecretRef('${aws-sm:plain/openai}')!), OLD_KEY);
    assert.equal(await readAwsSm(parseSecretRef('${aws-sm:json/openai#api_key}')!), OLD_KEY);
    assert.equal(await readAwsSm(parseSecretRef(`\${aws-sm:${sm.arn('json/openai')}#api_key}`)!), OLD_KEY);
    for (const [ref, pattern] of [
      ['${aws-sm:json/openai#nope}', /no field "nope"/],
      ['${aws-sm:json/openai#other}', /not a non-empty string/],
      ['${aws-sm:plain/openai#api_key}', /not a JSON object/],
      ['${aws-sm:absent}', /ResourceNotFoundException/],
    ] as const) {
      await assert.rejects(readAwsSm(parseSecretRef(ref)!), (err: unknown) => {
        assert.ok(err instanceof AwsSmError, String(err));
        assert.match(err.message, pattern);
        assert.ok(err.message.startsWith(ref), err.message);
        assert.ok(!err.message.includes(OLD_KEY));
        return true;
      });
    }
    sm.denied.add(user.arn);
    await assert.rejects(readAwsSm(parseSecretRef('${aws-sm:plain/openai}')!), /AccessDeniedException/);
    assert.ok(sm.log.every((l) => l.accessKeyId === user.accessKeyId));
  });

  test('an openai instance keyed from Secrets Manager; rotation is picked up; store down keeps the last value', async () => {
    sm.put('prod/openai', { api_key: OLD_KEY });
    emu.reset();
    emu.acceptedKeys.clear();
    emu.acceptedKeys.add(OLD_KEY);
    const gw = await startGateway({
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${aws-sm:prod/openai#api_key}', refresh_interval: '100ms' } } },
    });
    try {
      const key = await gw.key({ name: 'aws-sm' });
      const first = await chat(gw, key);
      assert.equal(first.status, 200, first.text);
      assert.equal(emu.last.headers.authorization, bearer(OLD_KEY));

      emu.acceptedKeys.add(NEW_KEY);
      sm.put('prod/openai', { api_key: NEW_KEY });
      assert.equal(sm.versions('prod/openai'), 2);
      await until('the new key is used', async () => {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
        return emu.last.headers.authorization === bearer(NEW_KEY);
      });
      emu.acceptedKeys.delete(OLD_KEY);
      assert.ok((await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'aws-sm', status: 'changed' })) >= 1);

      sm.down = true;
      await until('failed refreshes are counted', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'aws-sm', status: 'error' })) >= 2, 15_000);
      for (let i = 0; i < 3; i++) {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
        assert.equal(emu.last.headers.authorization, bearer(NEW_KEY));
      }
      sm.down = false;
      await gw.settle();
      const logs = gw.logs.join('\n');
      for (const secret of [OLD_KEY, NEW_KEY, user.secretAccessKey]) assert.ok(!logs.includes(secret), 'a secret reached the log');
    } finally {
      await gw.close();
    }
  });
});

const AZURE_ENV = ['NODE_TLS_REJECT_UNAUTHORIZED', 'AZURE_AUTHORITY_HOST', 'AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_USERNAME', 'AZURE_PASSWORD'];

describe('${azure-kv:...} secrets end to end', () => {
  let entra: EntraEmulator;
  let kv: KeyVaultEmulator;
  let emu: OpenAIEmulator;
  const saved = Object.fromEntries(AZURE_ENV.map((n) => [n, process.env[n]]));
  const CLIENT_SECRET = 'entra-client-secret-for-tests';

  before(async () => {
    // Both emulators serve self-signed certificates on loopback (see test/emulators/entra.ts).
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    entra = await new EntraEmulator().start();
    entra.addApp('tenant-kv', 'client-kv', { secret: CLIENT_SECRET });
    kv = await new KeyVaultEmulator({ authority: entra.url, tenant: 'tenant-kv' }).start();
    emu = await new OpenAIEmulator([OLD_KEY]).start();
    for (const name of AZURE_ENV.slice(1)) delete process.env[name];
    Object.assign(process.env, { AZURE_AUTHORITY_HOST: entra.url, AZURE_TENANT_ID: 'tenant-kv', AZURE_CLIENT_ID: 'client-kv', AZURE_CLIENT_SECRET: CLIENT_SECRET });
  });
  after(async () => {
    await kv.close();
    await entra.close();
    await emu.close();
    for (const name of AZURE_ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
  afterEach(() => {
    kv.down = false;
    kv.forbiddenTokens.clear();
  });

  test('reads through the challenge with an Entra token; errors name the reference, never the value', async () => {
    kv.set('openai-key', OLD_KEY);
    const ref = parseSecretRef(`\${azure-kv:${kv.url}/openai-key}`)!;
    const challenges = kv.counters.challenges;
    assert.equal(await readAzureKv(ref), OLD_KEY);
    assert.equal(kv.counters.challenges - challenges, 1, 'one 401 challenge first');
    assert.ok(kv.log.at(-1)!.token !== undefined && entra.calls['client_secret']! >= 1);
    assert.equal(await readAzureKv(ref), OLD_KEY);
    const absent = `\${azure-kv:${kv.url}/absent}`;
    await assert.rejects(readAzureKv(parseSecretRef(absent)!), (err: unknown) => {
      assert.ok(err instanceof AzureKvError, String(err));
      assert.equal(err.status, 404);
      assert.match(err.message, /SecretNotFound/);
      assert.ok(err.message.startsWith(absent));
      return true;
    });
    kv.forbiddenTokens.add(kv.log.at(-1)!.token!);
    await assert.rejects(readAzureKv(ref), (err: unknown) => err instanceof AzureKvError && err.status === 403 && !err.message.includes(OLD_KEY));
  });

  test('an openai instance keyed from Key Vault; rotation is picked up; store down keeps the last value', async () => {
    kv.set('prod-openai', OLD_KEY);
    emu.reset();
    emu.acceptedKeys.clear();
    emu.acceptedKeys.add(OLD_KEY);
    const gw = await startGateway({
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: `\${azure-kv:${kv.url}/prod-openai}`, refresh_interval: '100ms' } } },
    });
    try {
      const key = await gw.key({ name: 'azure-kv' });
      const first = await chat(gw, key);
      assert.equal(first.status, 200, first.text);
      assert.equal(emu.last.headers.authorization, bearer(OLD_KEY));

      emu.acceptedKeys.add(NEW_KEY);
      kv.set('prod-openai', NEW_KEY);
      assert.equal(kv.versions('prod-openai'), 2);
      await until('the new key is used', async () => {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
        return emu.last.headers.authorization === bearer(NEW_KEY);
      });
      emu.acceptedKeys.delete(OLD_KEY);
      assert.ok((await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'azure-kv', status: 'changed' })) >= 1);

      kv.down = true;
      await until('failed refreshes are counted', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'azure-kv', status: 'error' })) >= 2, 15_000);
      for (let i = 0; i < 3; i++) {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
        assert.equal(emu.last.headers.authorization, bearer(NEW_KEY));
      }
      kv.down = false;
      await gw.settle();
      const logs = gw.logs.join('\n');
      for (const secret of [OLD_KEY, NEW_KEY, CLIENT_SECRET]) assert.ok(!logs.includes(secret), 'a secret reached the log');
    } finally {
      await gw.close();
    }
  });
});
