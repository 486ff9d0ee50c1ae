import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, validate } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SecretScrubber } from '../../src/observability/scrubber.js';
import { SECRET_STORES } from '../../src/secrets/registry.js';
import { SecretResolver } from '../../src/secrets/resolver.js';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { EntraEmulator } from '../emulators/entra.js';
import { GcpSecretManagerEmulator } from '../emulators/gcp-secret-manager.js';
import { GoogleOAuthEmulator } from '../emulators/google-oauth.js';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { IbmSecretsManagerEmulator } from '../emulators/ibm-secrets-manager.js';
import { KeyVaultEmulator } from '../emulators/key-vault.js';
import { SecretsManagerEmulator } from '../emulators/secrets-manager.js';
import { VaultEmulator } from '../emulators/vault.js';

/**
 * The contract every store in SECRET_STORES meets: its `validate` accepts a well-formed
 * reference and refuses a malformed one at config load, with the field's path in the error; a
 * read against the store (its emulator, for remote stores) returns the value, less the one
 * trailing newline an operator's tools leave (for every store alike); and that value is
 * registered with the log scrubber, so a log line never shows it. A store added to the registry
 * without a case here fails the first test, naming it.
 */

/** One store's contract case. */
interface StoreCase {
  /** A reference `validate` accepts (not read). */
  valid: string;
  /** A reference `validate` refuses, and what the error says. */
  invalid: { reference: string; error: RegExp };
  /** Puts `value` in the store (starting its emulator, setting its environment); returns the reference to read and a cleanup. */
  serve(value: string): Promise<{ reference: string; close(): Promise<void>; token?(): string }>;
}

/** Sets environment variables for one case; the returned function restores the previous values. */
function withEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

const CASES: Record<string, StoreCase> = {
  env: {
    valid: '${env:OPENAI_API_KEY}',
    invalid: { reference: '${env:OPENAI KEY}', error: /is not an environment variable name/ },
    async serve(value) {
      const restore = withEnv({ LLMPROXY_CONTRACT_SECRET: value });
      return { reference: '${env:LLMPROXY_CONTRACT_SECRET}', close: async () => restore() };
    },
  },
  file: {
    valid: '${file:/run/secrets/openai}',
    invalid: { reference: '${file:/run/secrets/}', error: /names a folder/ },
    async serve(value) {
      const dir = mkdtempSync(join(tmpdir(), 'llmproxy-store-contract-'));
      writeFileSync(join(dir, 'key'), value);
      return { reference: `\${file:${join(dir, 'key')}}`, close: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  vault: {
    valid: '${vault:secret/data/openai#key}',
    invalid: { reference: '${vault:secret/data/openai}', error: /expected \$\{vault:<path>#<field>\}/ },
    async serve(value) {
      const vault = await new VaultEmulator().start();
      vault.addToken('contract-root-token');
      vault.write('secret', 'openai', { key: value });
      const restore = withEnv({ VAULT_ADDR: vault.url, VAULT_TOKEN: 'contract-root-token' });
      return { reference: '${vault:secret/data/openai#key}', close: async () => (restore(), vault.close()) };
    },
  },
  'vault-dynamic': {
    valid: '${vault-dynamic:database/creds/app#password}',
    invalid: { reference: '${vault-dynamic:database/creds/app}', error: /expected \$\{vault-dynamic:<engine path>#<field>\}/ },
    async serve(value) {
      const vault = await new VaultEmulator().start();
      vault.addToken('contract-root-token');
      vault.dynamicPaths.set('database/creds/app', { ttlSeconds: 600, maxTtlSeconds: 600, mint: () => ({ username: 'v-app-1', password: value }) });
      const restore = withEnv({ VAULT_ADDR: vault.url, VAULT_TOKEN: 'contract-root-token' });
      return { reference: '${vault-dynamic:database/creds/app#password}', close: async () => (restore(), vault.close()) };
    },
  },
  'aws-sm': {
    valid: '${aws-sm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-AbCdEf#api_key}',
    invalid: { reference: '${aws-sm:arn:aws:secretsmanager:eu-west-1:prod/openai#api_key}', error: /not a Secrets Manager secret ARN/ },
    async serve(value) {
      const accounts = new AwsAccounts();
      const user = accounts.addUser('gateway');
      const sm = await new SecretsManagerEmulator({ accounts, region: 'eu-west-1' }).start();
      sm.put('prod/openai', { api_key: value });
      const restore = withEnv({
        AWS_ACCESS_KEY_ID: user.accessKeyId,
        AWS_SECRET_ACCESS_KEY: user.secretAccessKey,
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
        AWS_EC2_METADATA_DISABLED: 'true',
      });
      return { reference: `\${aws-sm:${sm.arn('prod/openai')}#api_key}`, close: async () => (restore(), sm.close()) };
    },
  },
  'azure-kv': {
    valid: '${azure-kv:https://myvault.vault.azure.net/openai-key}',
    invalid: { reference: '${azure-kv:myvault/openai-key}', error: /expected \$\{azure-kv:https:\/\/<vault>\.vault\.azure\.net\/<secret-name>\}/ },
    async serve(value) {
      // Both emulators serve self-signed certificates on loopback (see test/emulators/entra.ts).
      const restoreTls = withEnv({ NODE_TLS_REJECT_UNAUTHORIZED: '0' });
      const entra = await new EntraEmulator().start();
      entra.addApp('tenant-contract', 'client-contract', { secret: 'contract-client-secret-value' });
      const kv = await new KeyVaultEmulator({ authority: entra.url, tenant: 'tenant-contract' }).start();
      kv.set('openai-key', value);
      const restore = withEnv({ AZURE_AUTHORITY_HOST: entra.url, AZURE_TENANT_ID: 'tenant-contract', AZURE_CLIENT_ID: 'client-contract', AZURE_CLIENT_SECRET: 'contract-client-secret-value' });
      return {
        reference: `\${azure-kv:${kv.url}/openai-key}`,
        close: async () => {
          restore();
          await Promise.all([kv.close(), entra.close()]);
          restoreTls();
        },
      };
    },
  },
  'gcp-sm': {
    valid: '${gcp-sm:projects/prod-1/locations/europe-west4/secrets/openai-key/versions/3}',
    invalid: { reference: '${gcp-sm:projects/prod-1/secrets/openai key}', error: /is not a secret id/ },
    async serve(value) {
      const oauth = await new GoogleOAuthEmulator().start();
      const sm = await new GcpSecretManagerEmulator().start();
      const dir = mkdtempSync(join(tmpdir(), 'llmproxy-store-contract-'));
      writeFileSync(join(dir, 'sa.json'), JSON.stringify(oauth.createServiceAccount('contract@proj-test-1.iam.gserviceaccount.com')));
      sm.add('projects/proj-test-1/secrets/openai-key', value);
      const restore = withEnv({ GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'sa.json'), CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: `${sm.url}/` });
      return {
        reference: '${gcp-sm:projects/proj-test-1/secrets/openai-key}',
        token: () => String(sm.last.headers.authorization).slice('Bearer '.length),
        close: async () => {
          restore();
          rmSync(dir, { recursive: true, force: true });
          await Promise.all([sm.close(), oauth.close()]);
        },
      };
    },
  },
  'ibm-sm': {
    valid: '${ibm-sm:https://0123abcd.eu-de.secrets-manager.appdomain.cloud/6c9a1e52-0d4a-4c3b-9e9f-3f1b2a7d5e11#password}',
    invalid: { reference: '${ibm-sm:http://sm.example.com/6c9a1e52-0d4a-4c3b-9e9f-3f1b2a7d5e11}', error: /the instance URL must be https/ },
    async serve(value) {
      const sm = await new IbmSecretsManagerEmulator().start();
      const iam = await new IbmIamEmulator({ apiKeys: ['contract-ibm-api-key-0123456789'], validTokens: sm.acceptedKeys }).start();
      const id = sm.put('arbitrary', { payload: value });
      const restore = withEnv({ SECRETS_MANAGER_APIKEY: 'contract-ibm-api-key-0123456789', SECRETS_MANAGER_AUTH_URL: iam.url });
      return { reference: `\${ibm-sm:${sm.url}/${id}}`, token: () => String(sm.last.headers.authorization).slice('Bearer '.length), close: async () => (restore(), void (await Promise.all([sm.close(), iam.close()]))) };
    },
  },
};

/** The config problems of an OpenAI instance whose key is `reference` (empty when it loads). */
function problemsWithKey(reference: string): string[] {
  try {
    validate({ instances: { o: { type: 'openai', authentication: { type: 'api_key', api_key: reference } } } }, 'contract.yaml');
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
}

test('every secret store in SECRET_STORES has a contract case', () => {
  const missing = [...SECRET_STORES.keys()].filter((scheme) => !(scheme in CASES));
  assert.deepEqual(missing, [], `secret stores without a contract case in test/contracts/secret-stores.test.ts: ${missing.join(', ')}`);
});

for (const [scheme, store] of SECRET_STORES) {
  const c = CASES[scheme];
  describe(`secret store "${scheme}"`, () => {
    test('validate: a well-formed reference loads; a malformed one is a config error naming the field', () => {
      if (!c) return assert.fail(`secret store "${scheme}" has no contract case (valid and invalid reference, a read)`);
      assert.deepEqual(problemsWithKey(c.valid), [], `${c.valid} is accepted`);
      const problems = problemsWithKey(c.invalid.reference);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.ok(problems[0]!.startsWith('instances.o.authentication.api_key: '), problems[0]);
      assert.match(problems[0]!, c.invalid.error);
    });

    test('read: the value comes back without its trailing newline, and is masked in every log line from then on', async (t) => {
      if (!c) return assert.fail(`secret store "${scheme}" has no contract case (valid and invalid reference, a read)`);
      const value = `contract-${scheme}-secret-${Math.random().toString(36).slice(2)}`;
      // Stored as an operator writes it (`echo`, an editor): one newline at the end, which every store's read drops.
      const served = await c.serve(`${value}\n`);
      t.after(() => served.close());
      const scrubber = new SecretScrubber();
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', scrubber, destination: { write: (line: string) => void lines.push(line) } });
      const resolver = new SecretResolver({ baseDir: tmpdir(), defaultIntervalMs: 60_000, scrubber, logger, metrics: new Metrics() });
      const handle = resolver.handle(served.reference);
      assert.equal(handle.ref.scheme, store.scheme);
      assert.deepEqual(await resolver.resolveAll(), []);
      assert.equal(handle.value, value);
      logger.info({ upstream: { body: `key=${value}` } }, `the value is ${value}`);
      assert.equal(lines.length, 1);
      assert.ok(!lines[0]!.includes(value), `the log line shows the ${scheme} value: ${lines[0]}`);
      assert.match(lines[0]!, /the value is \[REDACTED\]/);
      // A store that logs in to read (an access token) masks that credential too.
      if (served.token) {
        const token = served.token();
        assert.ok(token.length > 20, token);
        logger.info({}, `the store token is ${token}`);
        assert.ok(!lines[1]!.includes(token), `the log line shows the ${scheme} store's token`);
      }
    });
  });
}

