import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { awsKind } from '../../src/credentials/aws/kind.js';
import { webIdentity } from '../../src/credentials/aws/schema.js';
import { azureKind } from '../../src/credentials/azure/kind.js';
import { clientSecretAuth } from '../../src/credentials/azure/schema.js';
import { gcpKind } from '../../src/credentials/gcp/kind.js';
import { serviceAccountAuth } from '../../src/credentials/gcp/schema.js';
import { ibmKind } from '../../src/credentials/ibm/kind.js';
import { ibmApiKeyAuth } from '../../src/credentials/ibm/schema.js';
import type { BuiltCredential, CredentialKindContext } from '../../src/credentials/kind.js';
import { ociKind } from '../../src/credentials/oci/kind.js';
import { ociInstancePrincipalAuth } from '../../src/credentials/oci/schema.js';
import { CREDENTIAL_KINDS } from '../../src/credentials/registry.js';
import { staticKind } from '../../src/credentials/static/kind.js';
import { apiKeyAuthSchema } from '../../src/credentials/static/schema.js';
import type { Credential } from '../../src/credentials/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SecretScrubber } from '../../src/observability/scrubber.js';
import { SecretResolver } from '../../src/secrets/resolver.js';
import { AwsAccounts, webIdentityToken } from '../emulators/aws-accounts.js';
import { StsEmulator } from '../emulators/aws-sts.js';
import { EntraEmulator } from '../emulators/entra.js';
import { GoogleOAuthEmulator } from '../emulators/google-oauth.js';
import { IbmIamEmulator } from '../emulators/ibm-iam.js';
import { createInstancePki, InstanceMetadataEmulator, OciAuthEmulator } from '../emulators/oci-identity.js';

/**
 * The refresh contract every kind in CREDENTIAL_KINDS meets, run against the local emulators of
 * its credential endpoints. A kind whose type fetches (`fetches: true`): `prime()` exists; the
 * first `get()` fetches; a second answers from memory; `invalidate()` makes the next `get()`
 * fetch again; while the endpoint fails, `get()` keeps serving the last good value and
 * `state.lastError` says why without any secret, the failure counted and logged for the
 * instance. A kind made from secret values (`fetches: false`): no `prime()`; `get()` answers
 * from memory and follows the secret when it rotates; an unresolved secret is reported in
 * `state.lastError` by its reference, never its value. Either way `state.method` is the
 * block's `type`. A kind in the registry without a case here fails, naming the kind.
 */

/** Fast retries and no invalidate cooldown, so the contract runs in well under a second per kind. */
const POLICY = { invalidateCooldownMs: 0, minBackoffMs: 1, maxBackoffMs: 20, fetchTimeoutMs: 10_000 };

/** One kind's case: a credential built from one of its `authentication` blocks, against its emulator. */
interface KindCase {
  /** The block's `type` (one the kind declares). */
  type: string;
  /** Starts the emulators and builds the credential through the kind's `build`. */
  start(ctx: CredentialKindContext): Promise<Started>;
}

interface Started {
  built: BuiltCredential;
  /** For fetching types: credentials the endpoint has issued so far. */
  fetches?(): number;
  /** For fetching types: takes the credential endpoint down or brings it back. */
  setDown?(down: boolean): void;
  /** For secret-value types: sets the secret's value (undefined: the store fails to read it). */
  setSecret?(value: string | undefined): void;
  /** Secret inputs (keys, client secrets) that must never reach `state.lastError` or a log line. */
  inputs: string[];
  close(): Promise<void>;
}

/** Restores the environment variables `set` changed. */
function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  return () => apply(saved);
}

const CASES: Record<string, KindCase> = {
  static: {
    type: 'api_key',
    async start(ctx) {
      const restore = setEnv({ LLMPROXY_CONTRACT_API_KEY: 'sk-contract-static-0000000000000001' });
      const auth = apiKeyAuthSchema.parse({ type: 'api_key', api_key: '${env:LLMPROXY_CONTRACT_API_KEY}' });
      const built = staticKind.build(auth, { ...ctx, header: (value) => ({ type: 'bearer', token: value }) });
      return {
        built,
        setSecret: (value) => void setEnv({ LLMPROXY_CONTRACT_API_KEY: value }),
        inputs: ['sk-contract-static-0000000000000001'],
        close: async () => restore(),
      };
    },
  },
  aws: {
    type: 'web_identity',
    async start(ctx) {
      const accounts = new AwsAccounts();
      const token = webIdentityToken();
      accounts.addRole('gateway', { webIdentityTokens: [token] });
      const sts = await new StsEmulator({ accounts }).start();
      const dir = mkdtempSync(join(tmpdir(), 'llmproxy-kind-aws-'));
      writeFileSync(join(dir, 'token'), token);
      const restore = setEnv({ AWS_ENDPOINT_URL_STS: sts.url, AWS_MAX_ATTEMPTS: '1' });
      const auth = webIdentity.parse({ type: 'web_identity', role_arn: `arn:aws:iam::${accounts.accountId}:role/gateway`, token_file: 'token' });
      const built = awsKind.build(auth, { ...ctx, baseDir: dir, region: 'us-east-1' });
      return {
        built,
        fetches: () => sts.requests.length,
        setDown: (down) => void sts.setDown(down ? 'unavailable' : false),
        inputs: [token],
        close: async () => {
          restore();
          await sts.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  azure: {
    type: 'client_secret',
    async start(ctx) {
      const secret = 'contract-entra-client-secret-0001';
      const restoreTls = setEnv({ NODE_TLS_REJECT_UNAUTHORIZED: '0' });
      const entra = await new EntraEmulator().start();
      entra.addApp('tenant-contract', 'client-contract', { secret });
      const restore = setEnv({ AZURE_AUTHORITY_HOST: entra.url, LLMPROXY_CONTRACT_ENTRA_SECRET: secret });
      const auth = clientSecretAuth.parse({ type: 'client_secret', tenant_id: 'tenant-contract', client_id: 'client-contract', client_secret: '${env:LLMPROXY_CONTRACT_ENTRA_SECRET}' });
      const built = azureKind.build(auth, ctx);
      return {
        built,
        fetches: () => Object.values(entra.calls).reduce((a, b) => a + b, 0),
        setDown: (down) => entra.setDown(down),
        inputs: [secret],
        close: async () => {
          restore();
          await entra.close();
          restoreTls();
        },
      };
    },
  },
  gcp: {
    type: 'service_account',
    async start(ctx) {
      const oauth = await new GoogleOAuthEmulator().start();
      const key = oauth.createServiceAccount('gateway@proj-test-1.iam.gserviceaccount.com');
      const restore = setEnv({ LLMPROXY_CONTRACT_SA_KEY: JSON.stringify(key) });
      const auth = serviceAccountAuth.parse({ type: 'service_account', key: '${env:LLMPROXY_CONTRACT_SA_KEY}' });
      const built = gcpKind.build(auth, { ...ctx, project: 'proj-test-1' });
      return {
        built,
        fetches: () => Object.values(oauth.calls).reduce((a, b) => a + b, 0),
        setDown: (down) => oauth.setDown(down),
        inputs: [key.private_key],
        close: async () => {
          restore();
          await oauth.close();
        },
      };
    },
  },
  ibm: {
    type: 'api_key',
    async start(ctx) {
      const apiKey = 'contract-ibm-api-key-0123456789abcdef';
      const iam = await new IbmIamEmulator({ apiKeys: [apiKey] }).start();
      const restore = setEnv({ LLMPROXY_CONTRACT_IBM_KEY: apiKey });
      const auth = ibmApiKeyAuth.parse({ type: 'api_key', api_key: '${env:LLMPROXY_CONTRACT_IBM_KEY}', iam_url: iam.url });
      const built = ibmKind.build(auth, ctx);
      return {
        built,
        fetches: () => iam.calls,
        setDown: (down) => iam.setDown(down ? 'unavailable' : false),
        inputs: [apiKey],
        close: async () => {
          restore();
          await iam.close();
        },
      };
    },
  },
  oci: {
    type: 'instance_principal',
    async start(ctx) {
      const pki = createInstancePki('ocid1.tenancy.oc1..aaaaaaaacontract01', 'ocid1.instance.oc1.us-chicago-1.contract01', 'ocid1.compartment.oc1..aaaaaaaacontract01');
      const auth = await new OciAuthEmulator(pki.rootPem).start();
      const imds = await new InstanceMetadataEmulator(pki).start();
      const block = ociInstancePrincipalAuth.parse({ type: 'instance_principal', metadata_url: imds.metadataUrl, federation_endpoint: auth.url });
      const built = ociKind.build(block, ctx);
      return {
        built,
        fetches: () => auth.requests.length,
        setDown: (down) => auth.setDown(down ? 'unavailable' : false),
        inputs: [pki.keyPem],
        close: async () => {
          await Promise.all([auth.close(), imds.close()]);
        },
      };
    },
  },
};

/** Every string in a credential that is secret (tokens, keys, the token inside an OCI keyId). */
function secretsOf(credential: Credential): string[] {
  switch (credential.type) {
    case 'bearer':
      return [credential.token];
    case 'header':
      return [credential.value];
    case 'aws':
      return [credential.secretAccessKey, ...(credential.sessionToken !== undefined ? [credential.sessionToken] : [])];
    case 'oci':
      return [credential.keyId];
  }
}

/** A context for one case: a resolver for the block's secret references, and captured metrics and logs. */
function harness(): { ctx: CredentialKindContext; resolver: SecretResolver; lines: string[]; metrics: Metrics } {
  const scrubber = new SecretScrubber();
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', scrubber, destination: { write: (line: string) => void lines.push(line) } });
  const metrics = new Metrics();
  const resolver = new SecretResolver({ baseDir: tmpdir(), defaultIntervalMs: 60_000, scrubber, logger, metrics });
  return { ctx: { instance: 'contract', provider: 'contract', secrets: resolver, scrubber, logger, metrics, baseDir: tmpdir(), policy: POLICY }, resolver, lines, metrics };
}

async function failureCount(metrics: Metrics, method: string): Promise<number> {
  const { values } = await metrics.credentialRefresh.get();
  return values.find((v) => v.labels['provider'] === 'contract' && v.labels['method'] === method && v.labels['status'] === 'failure')?.value ?? 0;
}

function assertNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const s of secrets) assert.ok(!text.includes(s), `${where} shows a secret: ${text}`);
}

test('every credential kind in CREDENTIAL_KINDS has a contract case for a type it declares', () => {
  const missing = CREDENTIAL_KINDS.filter((k) => !(k.name in CASES)).map((k) => k.name);
  assert.deepEqual(missing, [], `credential kinds without a refresh contract case in test/contracts/credential-kinds.test.ts: ${missing.join(', ')}`);
  for (const kind of CREDENTIAL_KINDS) {
    const c = CASES[kind.name];
    if (c) assert.ok(Object.hasOwn(kind.types, c.type), `credential kind "${kind.name}" does not declare the type "${c.type}" its case builds`);
  }
});

for (const kind of CREDENTIAL_KINDS) {
  const c = CASES[kind.name];
  const fetches = c !== undefined && kind.types[c.type]?.fetches === true;
  describe(`credential kind "${kind.name}"`, () => {
    test(fetches ? 'fetched: once, then from memory; invalidate() refetches; an outage keeps the last good value' : 'from secret values: from memory, follows a rotated secret, reports an unresolved one by reference', async (t) => {
      if (!c) return assert.fail(`credential kind "${kind.name}" has no refresh contract case`);
      const { ctx, resolver, lines, metrics } = harness();
      const started = await c.start(ctx);
      t.after(async () => {
        started.built.close?.();
        await started.close();
      });
      const { credential } = started.built;
      assert.equal(credential.state.method, c.type, 'state.method is the block\'s type');
      // As the gateway does at startup: every secret reference is read before any credential is used.
      assert.deepEqual(await resolver.resolveAll(), []);
      if (fetches) await fetchedContract(c.type, started, metrics, lines);
      else await secretValueContract(started, resolver);
    });
  });
}

async function fetchedContract(type: string, started: Started, metrics: Metrics, lines: string[]): Promise<void> {
  const { credential } = started.built;
  const count = started.fetches!;
  assert.equal(typeof credential.prime, 'function', 'a fetched credential can be primed at startup');
  const before = count();
  const first = await credential.get();
  assert.equal(count(), before + 1, 'the first get() fetches once');
  assert.equal(credential.state.status, 'ok');
  assert.equal(await credential.get(), first, 'a second get() answers from memory');
  assert.equal(count(), before + 1, 'without a fetch');

  credential.invalidate();
  const second = await credential.get();
  assert.equal(count(), before + 2, 'after invalidate(), get() fetches again');
  assert.notDeepEqual(second, first, 'and answers the new credential');

  started.setDown!(true);
  credential.invalidate();
  assert.equal(await credential.get(), second, 'while the endpoint fails, the last good value is served');
  const { lastError, method } = credential.state;
  assert.equal(method, type);
  assert.ok(lastError !== undefined && lastError !== '', 'state.lastError says why');
  const secrets = [...started.inputs, ...secretsOf(first), ...secretsOf(second)];
  assertNoSecret(lastError, secrets, 'state.lastError');
  assert.ok((await failureCount(metrics, type)) >= 1, 'the failure is counted in llmproxy_credential_refresh_total');
  const logged = lines.find((l) => l.includes('provider credential fetch failed'));
  assert.ok(logged !== undefined && logged.includes('"instance":"contract"'), `the failure is logged for the instance: ${lines.join('')}`);
  assertNoSecret(lines.join(''), secrets, 'a log line');
  started.setDown!(false);
}

async function secretValueContract(started: Started, resolver: SecretResolver): Promise<void> {
  const { credential } = started.built;
  assert.equal(credential.prime, undefined, 'a credential made from secret values has nothing to prime');
  const first = await credential.get();
  assert.equal(credential.state.status, 'ok');
  assert.equal(await credential.get(), first, 'a second get() answers from memory');

  started.setSecret!('sk-contract-rotated-000000000000002');
  const [handle] = resolver.handles;
  await handle!.refresh();
  assert.deepEqual(secretsOf(await credential.get()), ['sk-contract-rotated-000000000000002'], 'a rotated secret is picked up');

  const rotated = secretsOf(await credential.get());
  started.setSecret!(undefined);
  await assert.rejects(handle!.refresh());
  assert.deepEqual(secretsOf(await credential.get()), rotated, 'a failing store keeps the last good value');
  const { lastError } = credential.state;
  assert.ok(lastError !== undefined && lastError.includes('LLMPROXY_CONTRACT_API_KEY'), `state.lastError names the reference: ${lastError}`);
  assertNoSecret(lastError, [...started.inputs, ...rotated], 'state.lastError');
}
