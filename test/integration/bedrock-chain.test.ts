import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { StartupError } from '../../src/app.js';
import { AwsAccounts, webIdentityToken, type IamRole, type IamUser } from '../emulators/aws-accounts.js';
import { ContainerCredentialsEmulator } from '../emulators/aws-container.js';
import { ImdsEmulator } from '../emulators/aws-imds.js';
import { StsEmulator, type StsRecordedRequest } from '../emulators/aws-sts.js';
import { BedrockEmulator, type BedrockRecordedRequest, type VerifiedCaller } from '../emulators/bedrock.js';
import { pollUntil, runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The AWS credential chain end to end: a whole gateway in this process, each credential source
 * played by an emulator on loopback and reached only through AWS's standard environment
 * overrides, and Bedrock telling who signed each request (`caller`).
 *
 * The AWS SDK reads the environment when it fetches, so every test starts from an AWS
 * environment emptied of every `AWS_*` variable, with the shared config and credentials files
 * pointing at paths that do not exist (never `~/.aws`) and IMDS disabled unless the test serves
 * it on loopback (never 169.254.169.254). Each test starts its own gateway.
 */

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const MODEL_PATH = `model/${encodeURIComponent(MODEL)}/converse`;
const REGION = 'us-east-1';

/** Fields of Bedrock's `caller` a test expects (either kind of SigV4 principal). */
type ExpectedCaller = Partial<{ scheme: 'sigv4'; kind: 'user' | 'session'; accessKeyId: string; arn: string; userName: string; roleArn: string; sessionName: string; issuedBy: string }>;

interface ChainCase {
  name: string;
  /** Variables to set (undefined removes one from the isolated base). */
  env: () => Record<string, string | undefined>;
  expected: () => ExpectedCaller;
}

describe('Bedrock: the AWS credential chain, profiles, isolation and IRSA', () => {
  const accounts = new AwsAccounts();
  let scratch: string;
  let userA: IamUser;
  let userB: IamUser;
  let userC: IamUser;
  let profileUser: IamUser;
  let imdsRole: IamRole;
  let podRole: IamRole;
  let irsaRole: IamRole;
  let untrustingRole: IamRole;
  let irsaToken: string;
  let podToken: string;
  let bedrock: BedrockEmulator;
  let sts: StsEmulator;
  let imds: ImdsEmulator;
  let pod: ContainerCredentialsEmulator;
  let savedEnv: NodeJS.ProcessEnv;
  let n = 0;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'llmproxy-chain-'));
    userA = accounts.addUser('keys-a');
    userB = accounts.addUser('env-b');
    userC = accounts.addUser('default-profile-c');
    profileUser = accounts.addUser('profile-other');
    irsaToken = webIdentityToken({ sub: 'system:serviceaccount:gateway:llm-proxy' });
    podToken = webIdentityToken({ aud: 'pods.eks.amazonaws.com' });
    irsaRole = accounts.addRole('irsa', { webIdentityTokens: [irsaToken] });
    // Trusts nobody's token: AssumeRoleWithWebIdentity answers AccessDenied.
    untrustingRole = accounts.addRole('untrusting');
    imdsRole = accounts.addRole('instance-profile');
    podRole = accounts.addRole('pod-identity');
    bedrock = await new BedrockEmulator({ accounts, region: REGION }).start();
    sts = await new StsEmulator({ accounts, region: REGION }).start();
    imds = await new ImdsEmulator({ accounts, roleArn: imdsRole.arn }).start();
    pod = await new ContainerCredentialsEmulator({ accounts, roleArn: podRole.arn, tokens: [podToken] }).start();
  });
  after(async () => {
    await Promise.all([bedrock?.close(), sts?.close(), imds?.close(), pod?.close()]);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  beforeEach(async () => {
    savedEnv = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    process.env['AWS_CONFIG_FILE'] = join(scratch, 'no-such-dir', 'config');
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = join(scratch, 'no-such-dir', 'credentials');
    process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
    bedrock.reset();
    sts.reset();
    sts.ttlSeconds = undefined;
    await sts.setDown(false);
  });
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
    Object.assign(process.env, savedEnv);
  });

  /** Sets (or, with undefined, removes) variables on top of the isolated AWS environment. */
  function setEnv(vars: Record<string, string | undefined>): void {
    for (const [name, value] of Object.entries(vars)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }

  /** A file of its own in the scratch folder, holding `text`. */
  function scratchFile(name: string, text: string): string {
    const path = join(scratch, `${++n}-${name}`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  function bedrockInstance(authentication: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { type: 'bedrock', region: REGION, endpoint: bedrock.url, control_endpoint: bedrock.url, authentication, ...extra };
  }

  async function gatewayWith(instances: Record<string, Record<string, unknown>>): Promise<{ gw: TestGateway; key: string }> {
    const gw = await startGateway({ instances });
    return { gw, key: await gw.key({ name: 'chain' }) };
  }

  /** Converse through `/transparent/{instance}/...`; `text` marks the request so Bedrock's record can be told apart. */
  async function converse(gw: TestGateway, key: string, instance: string, text = instance): Promise<{ status: number; body: string }> {
    const res = await fetch(`${gw.url}/transparent/${instance}/${MODEL_PATH}`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text }] }] }),
    });
    return { status: res.status, body: await res.text() };
  }

  /** The text a recorded Bedrock request carried (see {@link converse}). */
  function markOf(r: BedrockRecordedRequest): string {
    return (JSON.parse(r.body.toString('utf8')) as { messages: Array<{ content: Array<{ text: string }> }> }).messages[0]!.content[0]!.text;
  }

  const asUser = (u: IamUser) => ({ scheme: 'sigv4' as const, kind: 'user' as const, accessKeyId: u.accessKeyId, arn: u.arn, userName: u.name });

  function assertCaller(actual: VerifiedCaller | undefined, expected: ExpectedCaller, what: string): void {
    assert.ok(actual, `${what}: Bedrock authenticated the request`);
    for (const [k, v] of Object.entries(expected)) {
      assert.equal((actual as Record<string, unknown>)[k], v, `${what}: caller.${k} (${JSON.stringify(actual)})`);
    }
  }

  /** `WebIdentityToken` of a recorded AssumeRoleWithWebIdentity (form-encoded body). */
  const tokenSent = (r: StsRecordedRequest) => new URLSearchParams(r.body.toString('utf8')).get('WebIdentityToken');

  describe('default_credentials picks up each source of the chain', () => {
    const cases: ChainCase[] = [
      {
        name: 'environment keys (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)',
        env: () => ({ AWS_ACCESS_KEY_ID: userB.accessKeyId, AWS_SECRET_ACCESS_KEY: userB.secretAccessKey }),
        expected: () => asUser(userB),
      },
      {
        name: 'EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)',
        env: () => ({ AWS_CONTAINER_CREDENTIALS_FULL_URI: pod.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: scratchFile('pod-token', podToken) }),
        expected: () => ({ kind: 'session', roleArn: podRole.arn, issuedBy: 'container:eks' }),
      },
      {
        name: 'EC2 IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT), no other source',
        env: () => ({ AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }),
        expected: () => ({ kind: 'session', roleArn: imdsRole.arn, issuedBy: 'imds' }),
      },
      {
        name: 'web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, STS at AWS_ENDPOINT_URL_STS)',
        env: () => ({ AWS_ROLE_ARN: irsaRole.arn, AWS_WEB_IDENTITY_TOKEN_FILE: scratchFile('irsa-token', irsaToken), AWS_ENDPOINT_URL_STS: sts.url }),
        expected: () => ({ kind: 'session', roleArn: irsaRole.arn, issuedBy: 'sts:AssumeRoleWithWebIdentity' }),
      },
      {
        // The chain's order: environment keys come before IMDS, which is then never asked.
        name: 'environment keys win over an available IMDS',
        env: () => ({ AWS_ACCESS_KEY_ID: userB.accessKeyId, AWS_SECRET_ACCESS_KEY: userB.secretAccessKey, AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }),
        expected: () => asUser(userB),
      },
      {
        // On EKS with both IRSA and Pod Identity injected, the SDK takes IRSA.
        name: 'web identity wins over container credentials',
        env: () => ({
          AWS_ROLE_ARN: irsaRole.arn, AWS_WEB_IDENTITY_TOKEN_FILE: scratchFile('irsa-token', irsaToken), AWS_ENDPOINT_URL_STS: sts.url,
          AWS_CONTAINER_CREDENTIALS_FULL_URI: pod.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: scratchFile('pod-token', podToken),
        }),
        expected: () => ({ kind: 'session', roleArn: irsaRole.arn, issuedBy: 'sts:AssumeRoleWithWebIdentity' }),
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        setEnv(c.env());
        const imdsBefore = imds.credentialRequests;
        const podBefore = pod.credentialRequests;
        const { gw, key } = await gatewayWith({ chain: bedrockInstance({ type: 'default_credentials' }) });
        try {
          const res = await converse(gw, key, 'chain');
          assert.equal(res.status, 200, res.body);
          const expected = c.expected();
          assertCaller(bedrock.last.caller, expected, c.name);
          // Only the source that signed was asked.
          assert.equal(imds.credentialRequests - imdsBefore, expected.issuedBy === 'imds' ? 1 : 0, 'IMDS credential requests');
          assert.equal(pod.credentialRequests - podBefore, expected.issuedBy === 'container:eks' ? 1 : 0, 'container credential requests');
        } finally {
          await gw.close();
        }
      });
    }
  });

  test('a shared-config profile: `profile: other` signs with [other] of AWS_SHARED_CREDENTIALS_FILE, not with the environment keys', async () => {
    const credentials = scratchFile('credentials', [
      '[default]',
      `aws_access_key_id = ${userC.accessKeyId}`,
      `aws_secret_access_key = ${userC.secretAccessKey}`,
      '',
      '[other]',
      `aws_access_key_id = ${profileUser.accessKeyId}`,
      `aws_secret_access_key = ${profileUser.secretAccessKey}`,
      '',
    ].join('\n'));
    setEnv({ AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_ACCESS_KEY_ID: userB.accessKeyId, AWS_SECRET_ACCESS_KEY: userB.secretAccessKey });
    const { gw, key } = await gatewayWith({
      profiled: bedrockInstance({ type: 'default_credentials', profile: 'other' }),
      unprofiled: bedrockInstance({ type: 'default_credentials' }),
    });
    try {
      const profiled = await converse(gw, key, 'profiled');
      assert.equal(profiled.status, 200, profiled.body);
      assertCaller(bedrock.last.caller, asUser(profileUser), 'profile other');
      // The same environment without a profile: the environment keys come first.
      const unprofiled = await converse(gw, key, 'unprofiled');
      assert.equal(unprofiled.status, 200, unprofiled.body);
      assertCaller(bedrock.last.caller, asUser(userB), 'no profile');
    } finally {
      await gw.close();
    }
  });

  test('isolation: access_keys instances sign as their own user while the environment holds another, and never fall back to it', async () => {
    setEnv({ AWS_ACCESS_KEY_ID: userB.accessKeyId, AWS_SECRET_ACCESS_KEY: userB.secretAccessKey, CHAIN_TEST_SECRET_A: userA.secretAccessKey });
    const secretFile = scratchFile('secret-a', `${userA.secretAccessKey}\n`);
    const { gw, key } = await gatewayWith({
      keys_env: bedrockInstance({ type: 'access_keys', access_key_id: userA.accessKeyId, secret_access_key: '${env:CHAIN_TEST_SECRET_A}' }),
      keys_file: bedrockInstance({ type: 'access_keys', access_key_id: userA.accessKeyId, secret_access_key: `\${file:${secretFile}}`, refresh_interval: '100ms' }),
      chain: bedrockInstance({ type: 'default_credentials' }),
    });
    try {
      // Interleaved and concurrent: each request is signed by its own instance's principal.
      const expected: Record<string, IamUser> = { keys_env: userA, keys_file: userA, chain: userB };
      const instances = Object.keys(expected);
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => converse(gw, key, instances[i % instances.length]!)));
      for (const r of results) assert.equal(r.status, 200, r.body);
      assert.equal(bedrock.requests.length, 12);
      for (const r of bedrock.requests) {
        const instance = markOf(r);
        assertCaller(r.caller, asUser(expected[instance]!), instance);
      }

      // The secret file disappears: the instance keeps its last good secret, it does not
      // borrow the environment's keys.
      unlinkSync(secretFile);
      const warned = await pollUntil(async () => gw.logs.some((l) => l.includes('secret refresh failed') && l.includes(secretFile)), 3000);
      assert.ok(warned, 'the failed secret refresh was logged');
      const res = await converse(gw, key, 'keys_file');
      assert.equal(res.status, 200, res.body);
      assertCaller(bedrock.last.caller, asUser(userA), 'keys_file after its secret file vanished');
    } finally {
      await gw.close();
    }
  });

  test('access_keys: an access_key_id given as a secret reference is resolved, not sent as the literal reference', async () => {
    setEnv({ CHAIN_TEST_KEY_ID_A: userA.accessKeyId, CHAIN_TEST_SECRET_A: userA.secretAccessKey });
    const { gw, key } = await gatewayWith({
      keys_ref: bedrockInstance({ type: 'access_keys', access_key_id: '${env:CHAIN_TEST_KEY_ID_A}', secret_access_key: '${env:CHAIN_TEST_SECRET_A}' }),
    });
    try {
      const res = await converse(gw, key, 'keys_ref');
      assert.equal(res.status, 200, res.body);
      assertCaller(bedrock.last.caller, asUser(userA), 'keys_ref');
    } finally {
      await gw.close();
    }
  });

  test('workload_identity (aws_irsa) from EKS\'s environment; the rotated token file is re-read at the next refresh', async () => {
    const tokenFile = scratchFile('irsa-token', irsaToken);
    setEnv({ AWS_ROLE_ARN: irsaRole.arn, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ENDPOINT_URL_STS: sts.url });
    // Credentials live 3 s and are refreshed in their last 2 s: a refresh about every second.
    sts.ttlSeconds = 3;
    const { gw, key } = await gatewayWith({
      irsa: bedrockInstance({ type: 'workload_identity', provider: 'aws_irsa' }, { credential_refresh_window: '2s' }),
    });
    const oldToken = irsaToken;
    const newToken = webIdentityToken({ sub: 'system:serviceaccount:gateway:llm-proxy' });
    try {
      const first = await converse(gw, key, 'irsa');
      assert.equal(first.status, 200, first.body);
      assertCaller(bedrock.last.caller, { kind: 'session', roleArn: irsaRole.arn, issuedBy: 'sts:AssumeRoleWithWebIdentity', sessionName: 'llmproxy' }, 'irsa');
      assert.ok(sts.requests.length > 0 && sts.requests.every((r) => tokenSent(r) === oldToken), 'STS saw the first token');

      // The kubelet rotates the projected token: the new one is valid, then written (atomically,
      // as the kubelet does), and the old one is no longer accepted.
      const rotatedAt = sts.requests.length;
      irsaRole.webIdentityTokens.add(newToken);
      writeFileSync(`${tokenFile}.tmp`, newToken);
      renameSync(`${tokenFile}.tmp`, tokenFile);
      irsaRole.webIdentityTokens.delete(oldToken);

      const withNewToken = () => sts.requests.slice(rotatedAt).filter((r) => tokenSent(r) === newToken && r.issued !== undefined);
      assert.ok(await pollUntil(async () => withNewToken().length > 0, 5000), 'a refresh presented the new token to STS');
      let last = { status: 0, body: '' };
      const served = await pollUntil(async () => {
        last = await converse(gw, key, 'irsa');
        const minted = new Set(withNewToken().map((r) => r.issued!.accessKeyId));
        return last.status === 200 && bedrock.last.caller?.scheme === 'sigv4' && minted.has(bedrock.last.caller.accessKeyId);
      }, 5000);
      assert.ok(served, `requests are signed with credentials minted for the new token (last: ${last.status} ${last.body})`);
      assert.ok(!gw.logs.join('\n').includes(newToken) && !gw.logs.join('\n').includes(oldToken), 'no token in the logs');
    } finally {
      await gw.close();
      irsaRole.webIdentityTokens.add(oldToken);
    }
  });

  describe('llmproxy config check', () => {
    test('a working and a refused web_identity instance: exit 1, one row each with method and status, no token or secret', async () => {
      const dir = mkdtempSync(join(scratch, 'check-'));
      writeFileSync(join(dir, 'token'), irsaToken);
      const config = join(dir, 'llmproxy.yaml');
      writeFileSync(config, [
        'storage: { sqlite: { path: ./data/check.db } }',
        'instances:',
        ...[['good', irsaRole], ['refused', untrustingRole]].flatMap(([name, role]) => [
          `  ${(name as string)}:`,
          '    type: bedrock',
          `    region: ${REGION}`,
          `    endpoint: ${bedrock.url}`,
          `    authentication: { type: web_identity, role_arn: "${(role as IamRole).arn}", token_file: ./token }`,
        ]),
        '',
      ].join('\n'));
      sts.ttlSeconds = 900;
      const started = Date.now();
      const r = await runCli(['config', 'check', '--config', config, '--json'], { cwd: dir, env: { AWS_ENDPOINT_URL_STS: sts.url } });
      const finished = Date.now();
      assert.equal(r.code, 1, r.stderr);
      const report = JSON.parse(r.stdout) as { ok: boolean; instances: Array<{ instance: string; type: string; method: string; status: string; expires_at: string | null; error: string | null }> };
      assert.equal(report.ok, false);
      const [good, refused] = report.instances;
      assert.deepEqual(report.instances.map((i) => [i.instance, i.type, i.method, i.status]), [
        ['good', 'bedrock', 'web_identity', 'ok'],
        ['refused', 'bedrock', 'web_identity', 'error'],
      ]);
      assert.equal(good!.error, null);
      assert.match(good!.expires_at!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const expiresAt = Date.parse(good!.expires_at!);
      assert.ok(expiresAt > started && expiresAt <= finished + 900_000, `expires_at ${good!.expires_at} within the STS TTL`);
      assert.equal(refused!.expires_at, null);
      assert.match(refused!.error!, /AccessDenied/);
      assert.match(refused!.error!, /Not authorized to perform sts:AssumeRoleWithWebIdentity/);
      const minted = accounts.issued.filter((c) => c.issuedAt.getTime() >= started - 1000);
      assert.ok(minted.length >= 1);
      for (const secret of [irsaToken, ...minted.flatMap((c) => [c.secretAccessKey, c.sessionToken])]) {
        assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'config check printed a token or secret');
      }
    });

    test('invalid AWS authentication fields: exit 1 with a message naming the field\'s path', async () => {
      const dir = mkdtempSync(join(scratch, 'check-'));
      const cases: Array<[string, string]> = [
        ['{ type: web_identity, role_arn: "arn:aws:iam::12345:user/not-a-role", token_file: ./token }', 'instances.x.authentication.role_arn: must be an IAM role ARN'],
        ['{ type: access_keys, access_key_id: "${nosuchstore:key-id}", secret_access_key: "${env:CHAIN_TEST_SECRET_A}" }', 'instances.x.authentication.access_key_id: unsupported secret store "nosuchstore"'],
        ['{ type: access_keys, access_key_id: AKIASHORT, secret_access_key: "${env:CHAIN_TEST_SECRET_A}" }', 'instances.x.authentication.access_key_id: must be an access key id'],
      ];
      for (const [[authentication, expected], i] of cases.map((c, i) => [c, i] as const)) {
        const config = join(dir, `llmproxy-${i}.yaml`);
        writeFileSync(config, ['instances:', '  x:', '    type: bedrock', `    region: ${REGION}`, `    authentication: ${authentication}`, ''].join('\n'));
        const r = await runCli(['config', 'check', '--config', config, '--json'], { cwd: dir });
        assert.equal(r.code, 1, r.stderr);
        // --json: the problems come as JSON on stdout.
        assert.equal(r.stderr, '');
        const verdict = JSON.parse(r.stdout) as { ok: boolean; errors: string[] };
        assert.equal(verdict.ok, false);
        assert.ok(verdict.errors.some((l) => l.startsWith(expected)), `expected "${expected}" in\n${r.stdout}`);
      }
    });
  });

  test('startup with an unobtainable credential: StartupError naming each instance and method, without secrets', async () => {
    const tokenFile = scratchFile('irsa-token', irsaToken);
    setEnv({ AWS_ENDPOINT_URL_STS: sts.url, CHAIN_TEST_SECRET_A: userA.secretAccessKey });
    await sts.setDown('refuse');
    const dir = mkdtempSync(join(scratch, 'gw-'));
    const err = await startGateway({
      instances: {
        keys: bedrockInstance({ type: 'access_keys', access_key_id: userA.accessKeyId, secret_access_key: '${env:CHAIN_TEST_SECRET_A}' }),
        sts_down: bedrockInstance({ type: 'web_identity', role_arn: irsaRole.arn, token_file: tokenFile }),
        // The isolated environment offers nothing: no keys, files, web identity, container or IMDS.
        no_source: bedrockInstance({ type: 'default_credentials' }),
      },
    }, { dir }).then(
      async (gw) => {
        await gw.close();
        assert.fail('the gateway started');
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof StartupError, String(err));
    assert.match(err.message, /^cannot obtain provider credentials:/);
    const lines = err.message.split('\n').slice(1).map((l) => l.trim());
    assert.equal(lines.length, 2, err.message);
    assert.ok(lines.some((l) => l.startsWith('instances.sts_down (web_identity): ')), err.message);
    assert.ok(lines.some((l) => l.startsWith('instances.no_source (default_credentials): ') && /Could not load credentials from any providers/.test(l)), err.message);
    assert.ok(!err.message.includes('instances.keys'), 'the working instance is not blamed');
    for (const secret of [irsaToken, userA.secretAccessKey]) assert.ok(!err.message.includes(secret), 'no secret in the startup error');
    assert.ok(sts.requests.length === 0, 'STS refused connections');
  });
});
