import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { GcpSmError, readGcpSm } from '../../src/secrets/gcp-sm.js';
import { IbmSmError, readIbmSm } from '../../src/secrets/ibm-sm.js';
import { parseSecretRef } from '../../src/secrets/ref.js';
import { GceMetadataEmulator } from '../emulators/gce-metadata.js';
import { GcpSecretManagerEmulator } from '../emulators/gcp-secret-manager.js';
import { GoogleOAuthEmulator } from '../emulators/google-oauth.js';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { IbmSecretsManagerEmulator } from '../emulators/ibm-secrets-manager.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricValue, until } from '../helpers/wait.js';

/**
 * `${gcp-sm:...}`, `${ibm-sm:...}` and `${file:...#NAME}` end to end: an OpenAI instance keyed
 * from each store calls the OpenAI emulator with the key as written (its trailing newline
 * dropped), picks up a rotated value without a restart, keeps the last good value while the
 * store is down or refuses, and `llmproxy config check` resolves them. The stores' emulators
 * accept only tokens the Google and IBM IAM emulators minted.
 */

const OLD_KEY = 'sk-cloudsm-old-1111111111111111aaaa';
const NEW_KEY = 'sk-cloudsm-new-2222222222222222bbbb';
const IBM_API_KEY = 'ibm-sm-gateway-api-key-0123456789abcdef';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
const bearer = (k: string) => `Bearer ${k}`;
const GOOGLE_ENV = ['GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG', 'CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER', 'GCE_METADATA_HOST'];
const IBM_ENV = ['SECRETS_MANAGER_AUTH_TYPE', 'SECRETS_MANAGER_APIKEY', 'SECRETS_MANAGER_AUTH_URL', 'SECRETS_MANAGER_IAM_PROFILE_ID'];

async function chat(gw: TestGateway, key: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${gw.url}/transparent/primary/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: CHAT_BODY,
  });
  return { status: res.status, text: await res.text() };
}

function saveEnv(names: string[]): () => void {
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/**
 * Rotation and outage through a running gateway: `primary`'s key is `reference`, read every
 * 100 ms; `rotate` puts NEW_KEY in the store, `breakStore` / `mendStore` take it away and back.
 */
async function rotationAndOutage(
  emu: OpenAIEmulator,
  reference: string,
  store: string,
  steps: { rotate(): void; breakStore(): void; mendStore(): void },
  secrets: string[],
): Promise<void> {
  emu.reset();
  emu.acceptedKeys.clear();
  emu.acceptedKeys.add(OLD_KEY);
  const gw = await startGateway({
    instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: reference, refresh_interval: '100ms' } } },
  });
  try {
    const key = await gw.key({ name: store });
    const first = await chat(gw, key);
    assert.equal(first.status, 200, first.text);
    // Stored with a trailing newline; sent without it.
    assert.equal(emu.last.headers.authorization, bearer(OLD_KEY));

    emu.acceptedKeys.add(NEW_KEY);
    steps.rotate();
    await until('the new key is used', async () => {
      const r = await chat(gw, key);
      assert.equal(r.status, 200, r.text);
      return emu.last.headers.authorization === bearer(NEW_KEY);
    });
    emu.acceptedKeys.delete(OLD_KEY);
    assert.ok((await metricValue(gw, 'llmproxy_secret_refresh_total', { store, status: 'changed' })) >= 1);

    steps.breakStore();
    const errors = await metricValue(gw, 'llmproxy_secret_refresh_total', { store, status: 'error' });
    await until('failed refreshes are counted', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store, status: 'error' })) >= errors + 2, 15_000);
    for (let i = 0; i < 3; i++) {
      const r = await chat(gw, key);
      assert.equal(r.status, 200, r.text);
      assert.equal(emu.last.headers.authorization, bearer(NEW_KEY));
    }
    steps.mendStore();
    await gw.settle();
    const logs = gw.logs.join('\n');
    assert.match(logs, /secret refresh failed; keeping the last good value/);
    for (const secret of [OLD_KEY, NEW_KEY, ...secrets]) assert.ok(!logs.includes(secret), 'a secret reached the log');
  } finally {
    await gw.close();
  }
}

describe('${gcp-sm:...} secrets end to end', () => {
  let oauth: GoogleOAuthEmulator;
  let sm: GcpSecretManagerEmulator;
  let emu: OpenAIEmulator;
  let dir: string;
  let privateKey: string;
  const restoreEnv = saveEnv(GOOGLE_ENV);

  before(async () => {
    oauth = await new GoogleOAuthEmulator().start();
    sm = await new GcpSecretManagerEmulator().start();
    emu = await new OpenAIEmulator([OLD_KEY]).start();
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-gcp-sm-'));
    const key = oauth.createServiceAccount('gateway@proj-test-1.iam.gserviceaccount.com');
    privateKey = key.private_key;
    writeFileSync(join(dir, 'sa.json'), JSON.stringify(key));
    for (const name of GOOGLE_ENV) delete process.env[name];
    Object.assign(process.env, { GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'sa.json'), CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: `${sm.url}/` });
  });
  after(async () => {
    restoreEnv();
    await Promise.all([sm.close(), oauth.close(), emu.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    sm.down = false;
    sm.corrupt = false;
    sm.forbiddenTokens.clear();
  });

  test('reads latest or a pinned version with a service account token; errors name the reference, never a value', async () => {
    sm.add('projects/proj-test-1/secrets/pinned', `${OLD_KEY}\n`);
    sm.add('projects/proj-test-1/secrets/pinned', NEW_KEY);
    const read = (ref: string) => readGcpSm(parseSecretRef(ref)!);
    assert.equal(await read('${gcp-sm:projects/proj-test-1/secrets/pinned}'), NEW_KEY);
    assert.equal(await read('${gcp-sm:projects/proj-test-1/secrets/pinned/versions/latest}'), NEW_KEY);
    assert.equal(await read('${gcp-sm:projects/proj-test-1/secrets/pinned/versions/1}'), `${OLD_KEY}\n`, 'the store returns the payload; the handle trims');
    const token = String(sm.last.headers.authorization).slice('Bearer '.length);
    assert.ok(oauth.minted.some((m) => m.token === token), 'the token was minted by the OAuth emulator for the service account');
    assert.equal(oauth.minted.at(-1)!.email, 'gateway@proj-test-1.iam.gserviceaccount.com');

    sm.add('projects/proj-test-1/secrets/binary', Buffer.from([0xff, 0xfe, 0x00]));
    sm.add('projects/proj-test-1/secrets/disabled', OLD_KEY);
    sm.disable('projects/proj-test-1/secrets/disabled', 1);
    for (const [ref, code, pattern] of [
      ['${gcp-sm:projects/proj-test-1/secrets/absent}', 'GCP_SM_FAILED', /answered 404 NOT_FOUND/],
      ['${gcp-sm:projects/proj-test-1/secrets/binary}', 'GCP_SM_BAD_ANSWER', /not UTF-8 text/],
      ['${gcp-sm:projects/proj-test-1/secrets/disabled/versions/1}', 'GCP_SM_FAILED', /answered 400 FAILED_PRECONDITION/],
    ] as const) {
      await assert.rejects(read(ref), (err: unknown) => {
        assert.ok(err instanceof GcpSmError, String(err));
        assert.equal(err.code, code);
        assert.match(err.message, pattern);
        assert.ok(err.message.startsWith(ref), err.message);
        return true;
      });
    }
    sm.corrupt = true;
    await assert.rejects(read('${gcp-sm:projects/proj-test-1/secrets/pinned}'), /does not match its dataCrc32c/);
    sm.corrupt = false;
    sm.forbiddenTokens.add(token);
    await assert.rejects(read('${gcp-sm:projects/proj-test-1/secrets/pinned}'), (err: unknown) => err instanceof GcpSmError && err.status === 403 && /PERMISSION_DENIED/.test(err.message) && !err.message.includes(NEW_KEY));
    sm.forbiddenTokens.clear();

    // A revoked token (401) is dropped and a new one fetched, once.
    const grants = oauth.calls['ok'] ?? 0;
    oauth.revokeAll();
    assert.equal(await read('${gcp-sm:projects/proj-test-1/secrets/pinned}'), NEW_KEY);
    assert.equal(oauth.calls['ok'], grants + 1);
  });

  test('an openai instance keyed from Secret Manager; rotation is picked up; an outage or a lost permission keeps the last value', async () => {
    const secret = 'projects/proj-test-1/secrets/prod-openai';
    sm.add(secret, `${OLD_KEY}\n`);
    let token = '';
    await rotationAndOutage(
      emu,
      `\${gcp-sm:${secret}}`,
      'gcp-sm',
      {
        rotate: () => {
          sm.add(secret, `${NEW_KEY}\r\n`);
          token = String(sm.last.headers.authorization).slice('Bearer '.length);
        },
        breakStore: () => {
          sm.down = true;
          sm.forbiddenTokens.add(token);
        },
        mendStore: () => {
          sm.down = false;
          sm.forbiddenTokens.clear();
        },
      },
      [privateKey.split('\n')[1]!],
    );
  });
});

describe('${ibm-sm:...} secrets end to end', () => {
  let iam: IbmIamEmulator;
  let sm: IbmSecretsManagerEmulator;
  let emu: OpenAIEmulator;
  const restoreEnv = saveEnv(IBM_ENV);

  before(async () => {
    sm = await new IbmSecretsManagerEmulator().start();
    iam = await new IbmIamEmulator({ apiKeys: [IBM_API_KEY], validTokens: sm.acceptedKeys }).start();
    emu = await new OpenAIEmulator([OLD_KEY]).start();
    for (const name of IBM_ENV) delete process.env[name];
    Object.assign(process.env, { SECRETS_MANAGER_APIKEY: IBM_API_KEY, SECRETS_MANAGER_AUTH_URL: iam.url });
  });
  after(async () => {
    restoreEnv();
    await Promise.all([sm.close(), iam.close(), emu.close()]);
  });
  afterEach(() => {
    sm.down = false;
    sm.forbiddenTokens.clear();
    iam.setDown(false);
  });

  test('each secret type gives its field; errors name the reference, never a value', async () => {
    const arbitrary = sm.put('arbitrary', { payload: OLD_KEY });
    const iamCreds = sm.put('iam_credentials', { api_key: NEW_KEY, service_id: 'ServiceId-1' });
    const userPass = sm.put('username_password', { username: 'gateway', password: OLD_KEY });
    const kv = sm.put('kv', { data: { openai: NEW_KEY } });
    const read = (ref: string) => readIbmSm(parseSecretRef(ref)!);
    assert.equal(await read(`\${ibm-sm:${sm.url}/${arbitrary}}`), OLD_KEY);
    assert.equal(await read(`\${ibm-sm:${sm.url}/${iamCreds}}`), NEW_KEY);
    assert.equal(await read(`\${ibm-sm:${sm.url}/${userPass}#password}`), OLD_KEY);
    assert.equal(await read(`\${ibm-sm:${sm.url}/${userPass}#username}`), 'gateway');
    assert.equal(await read(`\${ibm-sm:${sm.url}/${kv}#openai}`), NEW_KEY);
    assert.equal(iam.exchanges.api_key, 1, 'one IAM token serves every read');
    const token = String(sm.last.headers.authorization).slice('Bearer '.length);
    assert.equal(token, iam.minted.at(-1));

    const absent = '00000000-0000-4000-8000-000000000000';
    for (const [ref, code, pattern] of [
      [`\${ibm-sm:${sm.url}/${userPass}}`, 'IBM_SM_FIELD_MISSING', /a username_password secret has several fields; name one/],
      [`\${ibm-sm:${sm.url}/${userPass}#api_key}`, 'IBM_SM_FIELD_MISSING', /has no field "api_key"/],
      [`\${ibm-sm:${sm.url}/${absent}}`, 'IBM_SM_FAILED', /answered 404 not_found/],
    ] as const) {
      await assert.rejects(read(ref), (err: unknown) => {
        assert.ok(err instanceof IbmSmError, String(err));
        assert.equal(err.code, code);
        assert.match(err.message, pattern);
        assert.ok(err.message.startsWith(ref), err.message);
        assert.ok(!err.message.includes(OLD_KEY) && !err.message.includes(IBM_API_KEY));
        return true;
      });
    }
    sm.forbiddenTokens.add(token);
    await assert.rejects(read(`\${ibm-sm:${sm.url}/${arbitrary}}`), (err: unknown) => err instanceof IbmSmError && err.status === 403);
    sm.forbiddenTokens.clear();

    // A token Secrets Manager no longer accepts (401): a new one from IAM, once.
    sm.acceptedKeys.clear();
    assert.equal(await read(`\${ibm-sm:${sm.url}/${arbitrary}}`), OLD_KEY);
    assert.equal(iam.exchanges.api_key, 2);

    // A wrong API key: IAM's code, never the key.
    process.env['SECRETS_MANAGER_APIKEY'] = 'wrong-ibm-api-key-abcdefghijklmnop';
    try {
      await assert.rejects(read(`\${ibm-sm:${sm.url}/${arbitrary}}`), (err: unknown) => {
        assert.ok(err instanceof IbmSmError && err.code === 'IBM_SM_AUTH', String(err));
        assert.match(err.message, /BXNIM0415E/);
        assert.ok(!err.message.includes('wrong-ibm-api-key'));
        return true;
      });
    } finally {
      process.env['SECRETS_MANAGER_APIKEY'] = IBM_API_KEY;
    }
  });

  test('an openai instance keyed from Secrets Manager; rotation is picked up; an outage of the store or of IAM keeps the last value', async () => {
    const id = sm.put('username_password', { username: 'openai', password: `${OLD_KEY}\n` });
    await rotationAndOutage(
      emu,
      `\${ibm-sm:${sm.url}/${id}#password}`,
      'ibm-sm',
      {
        rotate: () => void sm.put('username_password', { username: 'openai', password: NEW_KEY }, id),
        breakStore: () => {
          sm.down = true;
          // IAM down as well: the next token cannot be had either.
          iam.setDown('unavailable');
          sm.acceptedKeys.clear();
        },
        mendStore: () => {
          sm.down = false;
          iam.setDown(false);
        },
      },
      [IBM_API_KEY],
    );
  });
});

describe('${file:...#NAME}: a Vault Agent template\'s dotenv file end to end', () => {
  let emu: OpenAIEmulator;
  let dir: string;

  before(async () => {
    emu = await new OpenAIEmulator([OLD_KEY]).start();
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-dotenv-'));
  });
  after(async () => {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('reads OPENAI_API_KEY from the rendered file; a re-render is picked up; a removed file keeps the last value', async () => {
    const file = join(dir, 'openai');
    // What `export OPENAI_API_KEY="{{ .Data.data.key }}"` renders, beside another secret.
    const render = (key: string) => writeFileSync(file, `# rendered by vault agent\nexport ANTHROPIC_API_KEY="sk-ant-other-secret-1234"\nexport OPENAI_API_KEY="${key}"\n`);
    render(OLD_KEY);
    await rotationAndOutage(
      emu,
      `\${file:${file}#OPENAI_API_KEY}`,
      'file',
      { rotate: () => render(NEW_KEY), breakStore: () => rmSync(file), mendStore: () => render(NEW_KEY) },
      ['sk-ant-other-secret-1234'],
    );
  });
});

describe('llmproxy config check with ${gcp-sm:...} (metadata server), ${ibm-sm:...} and ${file:...#NAME}', () => {
  let md: GceMetadataEmulator;
  let gsm: GcpSecretManagerEmulator;
  let ism: IbmSecretsManagerEmulator;
  let iam: IbmIamEmulator;
  let root: string;

  before(async () => {
    md = await new GceMetadataEmulator({ project: 'proj-md-1', email: 'vm@proj-md-1.iam.gserviceaccount.com' }).start();
    gsm = await new GcpSecretManagerEmulator().start();
    ism = await new IbmSecretsManagerEmulator().start();
    iam = await new IbmIamEmulator({ apiKeys: [IBM_API_KEY], validTokens: ism.acceptedKeys }).start();
    root = tempDir('llmproxy-cloud-sm-check-');
  });
  after(async () => {
    await Promise.all([md.close(), gsm.close(), ism.close(), iam.close()]);
    removeDir(root);
  });

  test('every reference resolves (exit 0); a bad reference is a config error naming its field; a failing store names the reference', async () => {
    gsm.add('projects/proj-md-1/secrets/openai', `${OLD_KEY}\n`);
    const ibmId = ism.put('arbitrary', { payload: NEW_KEY });
    writeFileSync(join(root, 'agent.env'), 'export OPENAI_API_KEY="sk-dotenv-check-5555"\n');
    const lines = (refs: Record<string, string>) =>
      [
        'storage: { sqlite: { path: ./data/check.db } }',
        'instances:',
        ...Object.entries(refs).flatMap(([name, ref]) => [`  ${name}:`, '    type: openai', '    endpoint: http://127.0.0.1:9', `    authentication: { type: api_key, api_key: ${JSON.stringify(ref)} }`]),
        '',
      ].join('\n');
    const env = {
      // Application Default Credentials from the metadata server only: no key file, no gcloud folder.
      GOOGLE_APPLICATION_CREDENTIALS: undefined,
      CLOUDSDK_CONFIG: root,
      GCE_METADATA_HOST: md.host,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: gsm.url,
      SECRETS_MANAGER_APIKEY: IBM_API_KEY,
      SECRETS_MANAGER_AUTH_URL: iam.url,
      SECRETS_MANAGER_AUTH_TYPE: undefined,
    };
    const good = join(root, 'good.yaml');
    writeFileSync(good, lines({ gcp: '${gcp-sm:projects/proj-md-1/secrets/openai}', ibm: `\${ibm-sm:${ism.url}/${ibmId}}`, vaultagent: '${file:./agent.env#OPENAI_API_KEY}' }));
    const ok = await runCli(['config', 'check', '--config', good, '--json'], { cwd: root, env });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const parsed = JSON.parse(ok.stdout) as { ok: boolean; instances: Array<{ instance: string; status: string }> };
    assert.deepEqual(parsed.instances.map((i) => [i.instance, i.status]), [['gcp', 'ok'], ['ibm', 'ok'], ['vaultagent', 'ok']]);
    assert.ok((md.calls['token'] ?? 0) >= 1, 'the Google token came from the metadata server');
    assert.equal(gsm.reads['projects/proj-md-1/secrets/openai'], 1);
    assert.equal(iam.exchanges.api_key, 1);

    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, lines({ gcp: '${gcp-sm:projects/proj-md-1/secret/openai}', ibm: `\${ibm-sm:${ism.url}/not-a-uuid}` }));
    const invalid = await runCli(['config', 'check', '--config', bad], { cwd: root, env });
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /instances\.gcp\.authentication\.api_key: \$\{gcp-sm:projects\/proj-md-1\/secret\/openai\}: not a secret name; expected/);
    assert.match(invalid.stderr, /instances\.ibm\.authentication\.api_key: .*the last path segment must be the secret id/);

    const failing = join(root, 'failing.yaml');
    writeFileSync(failing, lines({ gcp: '${gcp-sm:projects/proj-md-1/secrets/absent}', vaultagent: '${file:./agent.env#ANTHROPIC_API_KEY}' }));
    const human = await runCli(['config', 'check', '--config', failing], { cwd: root, env });
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^gcp\s+openai\s+api_key\s+error\s+never\s+\$\{gcp-sm:projects\/proj-md-1\/secrets\/absent\}: Secret Manager answered 404 NOT_FOUND/m);
    assert.match(human.stdout, /^vaultagent\s+openai\s+api_key\s+error\s+never\s+\$\{file:\.\/agent\.env#ANTHROPIC_API_KEY\}: .*agent\.env does not set ANTHROPIC_API_KEY$/m);
    for (const r of [ok, invalid, human]) {
      for (const secret of [OLD_KEY, NEW_KEY, IBM_API_KEY, 'sk-dotenv-check-5555']) assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'config check printed a secret');
    }
  });
});
