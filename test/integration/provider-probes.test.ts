import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { WatsonxEmulator } from '../emulators/watsonx.js';
import { removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { closedPort } from '../helpers/net.js';

/**
 * Item 4 of issue 17: a provider key the provider refuses is caught before traffic, by
 * `llmproxy config check --probe` and by `/ready` with `readiness.probe_providers`, each instance
 * reported on its own and never with a secret. The emulators check credentials as the services do.
 */

const OPENAI_KEY = 'sk-probe-good-4c1d9e2f7a3b5c6d8e9f';
const ANTHROPIC_KEY = 'sk-ant-probe-good-0a9b8c7d6e5f4a3b';
const WRONG_OPENAI_KEY = 'sk-probe-wrong-1f2e3d4c5b6a7980aa';
const WRONG_ANTHROPIC_KEY = 'sk-ant-probe-wrong-77aa88bb99cc00dd';
const VERTEX_TOKEN = 'ya29.probe-vertex-token-5e6f7a8b9c0d';
const WATSONX_TOKEN = 'ibm-iam-probe-token-3c4d5e6f7a8b9c0d';
const AZURE_KEY = 'azure-probe-key-6d7e8f9a0b1c2d3e';
const WRONG_SECRET = 'wrongAwsSecretKey0000000000000000000000000';

interface ProbeRow {
  instance: string;
  status: 'ok' | 'error';
  probe: { status: string; http_status: number | null; detail: string | null };
}

describe('provider credential probes', () => {
  const accounts = new AwsAccounts();
  let user: IamUser;
  let openai: OpenAIEmulator;
  let anthropic: AnthropicEmulator;
  let bedrock: BedrockEmulator;
  let vertex: VertexEmulator;
  let watsonx: WatsonxEmulator;
  let azure: AzureOpenAIEmulator;
  let root: string;
  let down: number;
  let env: Record<string, string>;

  before(async () => {
    user = accounts.addUser('prober');
    openai = await new OpenAIEmulator([OPENAI_KEY]).start();
    anthropic = await new AnthropicEmulator([ANTHROPIC_KEY]).start();
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    vertex = await new VertexEmulator([VERTEX_TOKEN], { project: 'probe-project', location: 'us-central1' }).start();
    watsonx = await new WatsonxEmulator([WATSONX_TOKEN], { projects: ['probe-project'] }).start();
    azure = await new AzureOpenAIEmulator([AZURE_KEY], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
    root = tempDir('llmproxy-probes-');
    down = await closedPort();
    env = {
      PROBE_OPENAI_KEY: OPENAI_KEY,
      PROBE_WRONG_OPENAI_KEY: WRONG_OPENAI_KEY,
      PROBE_ANTHROPIC_KEY: ANTHROPIC_KEY,
      PROBE_WRONG_ANTHROPIC_KEY: WRONG_ANTHROPIC_KEY,
      PROBE_AWS_SECRET: user.secretAccessKey,
      PROBE_WRONG_AWS_SECRET: WRONG_SECRET,
      PROBE_VERTEX_TOKEN: VERTEX_TOKEN,
      PROBE_WATSONX_TOKEN: WATSONX_TOKEN,
      PROBE_AZURE_KEY: AZURE_KEY,
    };
  });
  after(async () => {
    await Promise.all([openai, anthropic, bedrock, vertex, watsonx, azure].map((e) => e?.close()));
    if (root) removeDir(root);
  });

  /** Every secret value of the test: none may appear in any output. */
  const secrets = () => [OPENAI_KEY, ANTHROPIC_KEY, WRONG_OPENAI_KEY, WRONG_ANTHROPIC_KEY, VERTEX_TOKEN, WATSONX_TOKEN, AZURE_KEY, WRONG_SECRET, user.secretAccessKey];

  function writeConfig(name: string): string {
    const path = join(root, `${name}.yaml`);
    const lines = [
      `storage: { sqlite: { path: ./data/${name}.db } }`,
      'instances:',
      '  openai_good:',
      '    type: openai',
      `    endpoint: ${openai.url}`,
      '    authentication: { type: api_key, api_key: "${env:PROBE_OPENAI_KEY}" }',
      '  openai_wrong:',
      '    type: openai',
      `    endpoint: ${openai.url}`,
      '    authentication: { type: api_key, api_key: "${env:PROBE_WRONG_OPENAI_KEY}" }',
      '  claude_good:',
      '    type: anthropic',
      `    endpoint: ${anthropic.url}`,
      '    authentication: { type: api_key, api_key: "${env:PROBE_ANTHROPIC_KEY}" }',
      '  claude_wrong:',
      '    type: anthropic',
      `    endpoint: ${anthropic.url}`,
      '    authentication: { type: api_key, api_key: "${env:PROBE_WRONG_ANTHROPIC_KEY}" }',
      '  bedrock_good:',
      '    type: bedrock',
      '    region: us-east-1',
      `    endpoint: ${bedrock.url}`,
      `    control_endpoint: ${bedrock.url}`,
      `    authentication: { type: access_keys, access_key_id: ${user.accessKeyId}, secret_access_key: "\${env:PROBE_AWS_SECRET}" }`,
      '  bedrock_wrong:',
      '    type: bedrock',
      '    region: us-east-1',
      `    endpoint: ${bedrock.url}`,
      `    control_endpoint: ${bedrock.url}`,
      `    authentication: { type: access_keys, access_key_id: ${user.accessKeyId}, secret_access_key: "\${env:PROBE_WRONG_AWS_SECRET}" }`,
      '  vertex_good:',
      '    type: vertex',
      '    project: probe-project',
      '    location: us-central1',
      `    endpoint: ${vertex.url}`,
      '    authentication: { type: access_token, token: "${env:PROBE_VERTEX_TOKEN}" }',
      // The token is good, but not for this project: Vertex answers 403.
      '  vertex_other_project:',
      '    type: vertex',
      '    project: someone-elses',
      '    location: us-central1',
      `    endpoint: ${vertex.url}`,
      '    authentication: { type: access_token, token: "${env:PROBE_VERTEX_TOKEN}" }',
      '  watsonx_good:',
      '    type: watsonx',
      '    region: us-south',
      '    project_id: probe-project',
      `    endpoint: ${watsonx.url}`,
      '    authentication: { type: bearer_token, token: "${env:PROBE_WATSONX_TOKEN}" }',
      '  azure_good:',
      '    type: azure',
      `    endpoint: ${azure.url}`,
      '    authentication: { type: api_key, api_key: "${env:PROBE_AZURE_KEY}" }',
      // The right key, but a data-plane version the resource does not serve: a 400, not a refusal.
      '  azure_bad_version:',
      '    type: azure',
      `    endpoint: ${azure.url}`,
      '    api_version: 2019-01-01',
      '    authentication: { type: api_key, api_key: "${env:PROBE_AZURE_KEY}" }',
      '  openai_down:',
      '    type: openai',
      `    endpoint: http://127.0.0.1:${down}`,
      '    authentication: { type: api_key, api_key: "${env:PROBE_OPENAI_KEY}" }',
      '',
    ];
    writeFileSync(path, lines.join('\n'));
    return path;
  }

  async function check(args: string[]) {
    const r = await runCli(['config', 'check', ...args], { cwd: root, env });
    for (const s of secrets()) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'config check printed a secret value');
    return r;
  }

  test('config check --probe --json: each instance ok, rejected or unreachable; exit 1; no secret printed', async () => {
    const config = writeConfig('check');
    // Without --probe every credential resolves: the wrong keys are not found.
    const plain = await check(['--config', config, '--json']);
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.ok((JSON.parse(plain.stdout) as { instances: Array<Record<string, unknown>> }).instances.every((r) => !('probe' in r)));

    const r = await check(['--config', config, '--probe', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as { ok: boolean; instances: ProbeRow[] };
    assert.equal(report.ok, false);
    const probe = Object.fromEntries(report.instances.map((row) => [row.instance, row.probe]));
    for (const name of ['openai_good', 'claude_good', 'bedrock_good', 'vertex_good', 'watsonx_good', 'azure_good']) {
      assert.deepEqual(probe[name], { status: 'ok', http_status: 200, detail: null }, name);
    }
    // OpenAI's and Anthropic's 401 for a wrong key; Bedrock's signature refused after a refresh; Vertex's 403 for another project.
    assert.deepEqual(probe['openai_wrong'], { status: 'rejected', http_status: 401, detail: 'the provider refused the credential (401)' });
    assert.deepEqual(probe['claude_wrong'], { status: 'rejected', http_status: 401, detail: 'the provider refused the credential (401)' });
    assert.equal(probe['bedrock_wrong']!.status, 'rejected');
    assert.deepEqual(probe['vertex_other_project'], { status: 'rejected', http_status: 403, detail: 'the provider refused the credential (403)' });
    assert.deepEqual(probe['azure_bad_version'], { status: 'error', http_status: 400, detail: 'the provider answered 400 to GET openai/models' });
    assert.ok(azure.requests.some((q) => q.path === '/openai/models' && q.headers['api-key'] === AZURE_KEY));
    assert.equal(probe['openai_down']!.status, 'unreachable');
    assert.match(probe['openai_down']!.detail!, /could not be reached \(ECONNREFUSED\)/);
    // The credentials themselves resolved: the probe is what failed.
    assert.ok(report.instances.every((row) => row.status === 'ok'));
    // The emulators saw the probes, each authenticated as the instance is.
    assert.ok(openai.requests.some((q) => q.path === '/v1/models' && q.headers.authorization === `Bearer ${OPENAI_KEY}`));
    assert.ok(anthropic.requests.some((q) => q.path === '/v1/models' && q.headers['x-api-key'] === ANTHROPIC_KEY));
    assert.ok(bedrock.requests.some((q) => q.path === '/foundation-models' && q.caller?.scheme === 'sigv4'));
    assert.ok(bedrock.authFailures['InvalidSignatureException']! >= 1);
  });

  test('config check --probe, human output: a PROBE column saying what was found', async () => {
    const r = await check(['--config', writeConfig('human'), '--probe']);
    assert.equal(r.code, 1);
    const lines = r.stdout.split('\n');
    assert.match(lines.find((l) => l.startsWith('INSTANCE'))!, /^INSTANCE\s+TYPE\s+METHOD\s+STATUS\s+PROBE\s+EXPIRES\s+ERROR$/);
    assert.match(lines.find((l) => l.startsWith('openai_good '))!, /^openai_good\s+openai\s+api_key\s+ok\s+ok\s+never\s*$/);
    assert.match(lines.find((l) => l.startsWith('claude_wrong '))!, /^claude_wrong\s+anthropic\s+api_key\s+ok\s+rejected \(401\)\s+never\s+the provider refused the credential \(401\)$/);
    assert.match(lines.find((l) => l.startsWith('vertex_other_project '))!, /\srejected \(403\)\s/);
    assert.match(lines.find((l) => l.startsWith('openai_down '))!, /\sunreachable\s/);
    assert.equal(lines.at(-2), 'configuration has problems');
  });

  describe('/ready with readiness.probe_providers', () => {
    let gw: TestGateway;
    before(async () => {
      process.env['READY_PROBE_OPENAI_KEY'] = OPENAI_KEY;
      process.env['READY_PROBE_ANTHROPIC_KEY'] = WRONG_ANTHROPIC_KEY;
      gw = await startGateway({
        readiness: { probe_providers: true, probe_interval: '5s' },
        instances: {
          openai: { type: 'openai', endpoint: openai.url, authentication: { type: 'api_key', api_key: '${env:READY_PROBE_OPENAI_KEY}' } },
          claude: { type: 'anthropic', endpoint: anthropic.url, authentication: { type: 'api_key', api_key: '${env:READY_PROBE_ANTHROPIC_KEY}' } },
          down: { type: 'openai', endpoint: `http://127.0.0.1:${down}`, authentication: { type: 'api_key', api_key: '${env:READY_PROBE_OPENAI_KEY}' } },
        },
      });
    });
    after(async () => {
      await gw?.close();
      anthropic.acceptedKeys.delete(WRONG_ANTHROPIC_KEY);
      delete process.env['READY_PROBE_OPENAI_KEY'];
      delete process.env['READY_PROBE_ANTHROPIC_KEY'];
    });

    async function ready(): Promise<{ status: number; body: { status: string; checks: Record<string, string> } }> {
      const res = await fetch(`${gw.url}/ready`);
      return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
    }

    test('a refused credential fails readiness, naming the instance; the probes run in the background, not per call', async () => {
      let r = await ready();
      const deadline = Date.now() + 10_000;
      while (Object.values(r.body.checks).includes('pending') && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
        r = await ready();
      }
      assert.equal(r.status, 503);
      assert.equal(r.body.status, 'not_ready');
      assert.equal(r.body.checks['probe:claude'], 'credential rejected (401)');
      assert.equal(r.body.checks['probe:openai'], 'ok');
      // An unreachable provider is shown but is not this replica's fault.
      assert.equal(r.body.checks['probe:down'], 'unreachable');
      assert.equal(r.body.checks['instance:claude'], 'ok', 'the credential itself resolved');
      assert.ok(!JSON.stringify(r.body).includes(WRONG_ANTHROPIC_KEY));

      const probesSoFar = anthropic.requests.filter((q) => q.path === '/v1/models').length;
      for (let i = 0; i < 5; i++) assert.equal((await ready()).status, 503);
      assert.equal(anthropic.requests.filter((q) => q.path === '/v1/models').length, probesSoFar, '/ready reads the last result');
      const logged = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['instance'] === 'claude' && l['probe'] === 'rejected');
      assert.ok(logged, 'the rejection is logged');
      assert.ok(!gw.logs.join('\n').includes(WRONG_ANTHROPIC_KEY));
    });

    test('once the provider accepts the key, the next round makes the gateway ready', async () => {
      anthropic.acceptedKeys.add(WRONG_ANTHROPIC_KEY);
      const deadline = Date.now() + 12_000;
      let r = await ready();
      while (r.status !== 200 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 200));
        r = await ready();
      }
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.checks['probe:claude'], 'ok');
      assert.equal(r.body.checks['probe:down'], 'unreachable');
    });
  });
});
