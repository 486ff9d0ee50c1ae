import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { generateKey } from '../../src/clientauth/api-key/format.js';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { FIRST_LINE_PREFIX, readTask } from '../emulators/claude-script.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Claude Code (`claude -p`, @anthropic-ai/claude-code) through the gateway, configured as its
 * docs tell a user (https://code.claude.com/docs/en/llm-gateway): base URL and gateway key in
 * the environment, no patches. The task makes the model call Claude Code's Read tool on a file
 * whose first line is random; the emulators (claude-script.ts) learn that line only from the
 * tool_result Claude Code sends back, so finding it in the answer proves the tool round trip.
 *
 * Claude Code runs offline: a temp HOME and CLAUDE_CONFIG_DIR (never the user's ~/.claude), an
 * environment holding nothing but PATH and the settings below, telemetry, error reporting,
 * auto-update and other non-essential traffic off. HTTPS_PROXY and HTTP_PROXY point at a
 * loopback {@link ProxyTrap} (loopback itself exempt through NO_PROXY), so any attempt to reach
 * an outside host is recorded and fails the test; without the non-essential-traffic settings
 * Claude Code does try (CONNECT api.anthropic.com:443).
 */

const PROVIDER_KEY = 'sk-ant-provider-claude-code-0123456789';
/** A model the Bedrock emulator serves through a US inference profile. */
const BEDROCK_MODEL = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
/** A Claude model on Vertex (Claude Code names Vertex models `<id>@<date>`). */
const VERTEX_MODEL = 'claude-sonnet-4-5@20250929';
const VERTEX_TOKEN = 'ya29.a0-claude-code-vertex-token';
const VERTEX_PROJECT = 'proj-claude-code';
const VERTEX_LOCATION = 'us-east5';
/** Each run is a few Messages calls on loopback (about a second); the bound is for a hung child. */
const RUN_TIMEOUT_MS = 60_000;

/**
 * Where Claude Code's ANTHROPIC_BASE_URL points for an Anthropic instance (it appends
 * `/v1/messages?beta=true` itself): the Messages API route, which sends Claude on to the
 * instance's host as written.
 */
function anthropicBaseUrl(gw: TestGateway, instance: string): string {
  return `${gw.url}/anthropic/${instance}`;
}

/**
 * An HTTP proxy that forwards nothing: it records every request (CONNECT host:port for HTTPS,
 * the absolute URL for HTTP) and refuses it with a 403.
 */
class ProxyTrap {
  readonly attempts: string[] = [];
  readonly #server: Server;
  #url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      this.attempts.push(`${req.method ?? ''} ${req.url ?? ''}`);
      res.writeHead(403).end();
    });
    this.#server.on('connect', (req, socket) => {
      this.attempts.push(`CONNECT ${req.url ?? ''}`);
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

const trap = new ProxyTrap();

/** The native binary the package's `claude` bin names (placed by its postinstall). */
function claudeBinary(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@anthropic-ai/claude-code/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: { claude: string } };
  return join(dirname(manifest), bin.claude);
}

interface ClaudeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed (`--output-format json` prints one result object). */
  result: ClaudeResult | undefined;
}

/** The fields of Claude Code's `--output-format json` result the tests read. */
interface ClaudeResult {
  type: string;
  is_error: boolean;
  result: string;
  num_turns: number;
  api_error_status?: number | null;
}

/** A temp workspace: `home` (HOME and CLAUDE_CONFIG_DIR) and `cwd` with note.txt whose first line is random. */
interface Workspace {
  root: string;
  home: string;
  cwd: string;
  note: string;
  line: string;
}

function workspace(): Workspace {
  const root = mkdtempSync(join(tmpdir(), 'llmproxy-claude-code-'));
  const home = join(root, 'home');
  const cwd = join(root, 'project');
  mkdirSync(join(home, '.claude'), { recursive: true });
  mkdirSync(cwd);
  const line = `gateway round trip ${randomBytes(8).toString('hex')}`;
  const note = join(cwd, 'note.txt');
  writeFileSync(note, `${line}\nsecond line\n`);
  return { root, home, cwd, note, line };
}

/**
 * Runs `claude -p <prompt> --output-format json` in the workspace with only `env` (plus PATH,
 * HOME, CLAUDE_CONFIG_DIR and the offline settings); killed after {@link RUN_TIMEOUT_MS}.
 */
function runClaude(ws: Workspace, prompt: string, env: Record<string, string>, extraArgs: string[] = []): Promise<ClaudeRun> {
  assert.ok(trap.url, 'the proxy trap is listening');
  const args = ['-p', prompt, '--output-format', 'json', '--max-turns', '3', '--allowedTools', 'Read', ...extraArgs];
  const childEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: ws.home,
    CLAUDE_CONFIG_DIR: join(ws.home, '.claude'),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    HTTPS_PROXY: trap.url,
    HTTP_PROXY: trap.url,
    NO_PROXY: '127.0.0.1,localhost',
    ...env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(claudeBinary(), args, { cwd: ws.cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let result: ClaudeResult | undefined;
      try {
        result = JSON.parse(stdout) as ClaudeResult;
      } catch {
        result = undefined;
      }
      resolve({ code, signal, stdout, stderr, result });
    });
  });
}

function describeRun(run: ClaudeRun): string {
  return `exit ${run.code} ${run.signal ?? ''}\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr.slice(0, 2000)}`;
}

/** The run answered with the file's first line, which only the tool_result carried. */
function assertToolRoundTrip(run: ClaudeRun, ws: Workspace): void {
  assert.equal(run.code, 0, describeRun(run));
  assert.ok(run.result, describeRun(run));
  assert.equal(run.result.is_error, false, describeRun(run));
  assert.ok(run.result.result.includes(`${FIRST_LINE_PREFIX}${ws.line}`), describeRun(run));
  assert.equal(run.result.num_turns, 2, 'one tool call, then the answer');
}

/** Messages bodies the emulator received, parsed. */
function bodies(requests: ReadonlyArray<{ body: Buffer }>): Array<{ messages?: Array<{ role: string; content: unknown }> }> {
  return requests.map((r) => JSON.parse(r.body.toString('utf8')) as { messages?: Array<{ role: string; content: unknown }> });
}

/** Whether a Messages body carries a tool_result holding `line` (what Read returned). */
function carriesToolResult(body: { messages?: Array<{ role: string; content: unknown }> }, line: string): boolean {
  return (body.messages ?? []).some((m) => m.role === 'user' && Array.isArray(m.content)
    && (m.content as Array<{ type?: string }>).some((c) => c.type === 'tool_result' && JSON.stringify(c).includes(line)));
}

/** Tokens the scripted model reports per turn (claude-script.ts): what the gateway must account. */
const TURN_USAGE = { input: 30, output: 12 };

/** The key's row in the gateway's usage report (admin API), after the finished requests are written. */
async function usageOf(gw: TestGateway, keyId: string): Promise<{ requests: number; input_tokens: number; output_tokens: number }> {
  await gw.settle();
  const admin = await gw.key({ name: 'usage-reader', role: 'admin' });
  const res = await fetch(`${gw.url}/admin/v1/usage?by=key&since=1h`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(res.status, 200);
  const rows = ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
  const row = rows.find((r) => r['group'] === keyId);
  assert.ok(row, `a usage row for the key: ${JSON.stringify(rows)}`);
  return row as { requests: number; input_tokens: number; output_tokens: number };
}

/**
 * Claude Code retries a 401 with backoff (10 times by default, minutes in all) unless the answer
 * says `x-should-retry: false`, which the gateway's refusals do: the Anthropic and Bedrock
 * wrong-key runs keep Claude Code's default retries and must still end within RUN_TIMEOUT_MS.
 * On Vertex it retries the 401 all the same (seen: the run outlives RUN_TIMEOUT_MS), so that run
 * sets its documented retry count to 0.
 */
const NO_RETRIES = { CLAUDE_CODE_MAX_RETRIES: '0' };

/** The wrong-key run failed with the gateway's authentication error, without echoing the key. */
function assertAuthFailure(run: ClaudeRun, wrongKey: string): void {
  assert.notEqual(run.code, 0, describeRun(run));
  assert.equal(run.signal, null, describeRun(run));
  assert.ok(run.result, describeRun(run));
  assert.equal(run.result.is_error, true, describeRun(run));
  assert.equal(run.result.api_error_status, 401, describeRun(run));
  // Claude Code words a 401 as "Failed to authenticate. API Error: 401 <the answer's message>"
  // (as "Not logged in · Please run /login" when that message mentions x-api-key, which the
  // gateway's does not).
  assert.match(run.result.result, /^Failed to authenticate\. API Error: 401 .*Authentication failed: send a valid gateway credential/s, describeRun(run));
  assert.ok(!run.stdout.includes(wrongKey) && !run.stderr.includes(wrongKey), 'the key is not echoed');
  assert.ok(!run.stdout.includes(wrongKey.slice(-16)), 'not even its tail');
}

describe('Claude Code (claude -p) through the gateway', () => {
  before(() => trap.start());
  after(() => trap.close());
  // Checked after every run, failures included.
  afterEach(() => assert.deepEqual(trap.attempts.splice(0), [], 'Claude Code tried to reach a host beyond loopback'));

  describe('on an Anthropic instance', () => {
    let emu: AnthropicEmulator;
    let gw: TestGateway;
    let ws: Workspace;

    before(async () => {
      emu = await new AnthropicEmulator([PROVIDER_KEY]).start();
      process.env['CLAUDE_CODE_TEST_ANTHROPIC_KEY'] = PROVIDER_KEY;
      gw = await startGateway({
        instances: {
          claude: { type: 'anthropic', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:CLAUDE_CODE_TEST_ANTHROPIC_KEY}' } },
        },
      });
      ws = workspace();
    });
    after(async () => {
      await gw?.close();
      await emu?.close();
      if (ws) rmSync(ws.root, { recursive: true, force: true });
    });

    for (const [how, variable] of [['Authorization: Bearer (ANTHROPIC_AUTH_TOKEN)', 'ANTHROPIC_AUTH_TOKEN'], ['x-api-key (ANTHROPIC_API_KEY)', 'ANTHROPIC_API_KEY']] as const) {
      test(`a Read tool call and its result go through the gateway; key in ${how}`, async () => {
        emu.reset();
        const { key, id } = await gw.issued({ name: `claude-code-${variable}` });
        const run = await runClaude(ws, readTask(ws.note), { ANTHROPIC_BASE_URL: anthropicBaseUrl(gw, 'claude'), [variable]: key });
        assertToolRoundTrip(run, ws);

        const messages = emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');
        assert.ok(messages.length >= 2, `the tool_use turn and the answer turn: ${emu.requests.map((r) => `${r.method} ${r.path}`).join(', ')}`);
        assert.ok(bodies(messages).some((b) => carriesToolResult(b, ws.line)), 'the tool_result reached the provider');
        for (const r of emu.requests) {
          assert.equal(r.headers['x-api-key'], PROVIDER_KEY, 'the gateway put its provider key');
          assert.equal(r.headers.authorization, undefined, 'the client credential is gone');
          assert.ok(!JSON.stringify(r.headers).includes(key), 'the gateway key never reaches the provider');
        }
        // Claude Code's betas and version pass through unchanged (transparent mode).
        assert.match(String(messages[0]!.headers['anthropic-beta']), /claude-code-\d{8}/);
        assert.equal(messages[0]!.headers['anthropic-version'], '2023-06-01');
        // Both turns are accounted to the key, with the tokens the streams reported.
        const usage = await usageOf(gw, id);
        assert.equal(usage.requests, messages.length);
        assert.equal(usage.input_tokens, TURN_USAGE.input * messages.length);
        assert.equal(usage.output_tokens, TURN_USAGE.output * messages.length);
      });
    }

    test('a wrong key: Claude Code reports the authentication error, the key is not echoed, nothing reaches the provider', async () => {
      emu.reset();
      const wrong = generateKey().key;
      const run = await runClaude(ws, readTask(ws.note), { ANTHROPIC_BASE_URL: anthropicBaseUrl(gw, 'claude'), ANTHROPIC_AUTH_TOKEN: wrong});
      assertAuthFailure(run, wrong);
      assert.equal(emu.requests.length, 0, 'refused at the gateway');
    });
  });

  describe('on a Bedrock instance', () => {
    const accounts = new AwsAccounts();
    let user: IamUser;
    let runtime: BedrockEmulator;
    let control: BedrockEmulator;
    let gw: TestGateway;
    let ws: Workspace;

    /**
     * Claude Code's Bedrock settings: the gateway as the Bedrock endpoint (its root, for the default
     * Bedrock instance, or `/transparent/<instance>`), the gateway key as a Bedrock API key.
     */
    const bedrockEnv = (apiKey: string, base = gw.url): Record<string, string> => ({
      CLAUDE_CODE_USE_BEDROCK: '1',
      ANTHROPIC_BEDROCK_BASE_URL: base,
      AWS_REGION: 'us-east-1',
      AWS_BEARER_TOKEN_BEDROCK: apiKey,
    });

    before(async () => {
      user = accounts.addUser('gateway');
      runtime = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
      control = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
      process.env['CLAUDE_CODE_TEST_BEDROCK_SECRET'] = user.secretAccessKey;
      gw = await startGateway({
        instances: {
          bedrock_us1: {
            type: 'bedrock',
            region: 'us-east-1',
            default: true,
            endpoint: runtime.url,
            control_endpoint: control.url,
            authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:CLAUDE_CODE_TEST_BEDROCK_SECRET}' },
          },
        },
      });
      ws = workspace();
    });
    after(async () => {
      await gw?.close();
      await Promise.all([runtime?.close(), control?.close()]);
      if (ws) rmSync(ws.root, { recursive: true, force: true });
    });

    for (const where of ['root', 'transparent'] as const) {
      test(`a Read tool call and its result go through InvokeModelWithResponseStream, signed by the gateway (${where})`, async () => {
        runtime.reset();
        control.reset();
        const base = where === 'root' ? gw.url : `${gw.url}/transparent/bedrock_us1`;
        const { key, id } = await gw.issued({ name: `claude-code-bedrock-${where}` });
        const run = await runClaude(ws, readTask(ws.note), bedrockEnv(key, base), ['--model', BEDROCK_MODEL]);
        assertToolRoundTrip(run, ws);

        const streams = runtime.requests.filter((r) => r.path === `/model/${encodeURIComponent(BEDROCK_MODEL)}/invoke-with-response-stream` || r.path === `/model/${BEDROCK_MODEL}/invoke-with-response-stream`);
        assert.ok(streams.length >= 2, `the tool_use turn and the answer turn: ${runtime.requests.map((r) => `${r.method} ${r.path}`).join(', ')}`);
        assert.ok(bodies(streams).some((b) => carriesToolResult(b, ws.line)), 'the tool_result reached Bedrock');
        for (const r of [...runtime.requests, ...control.requests]) {
          assert.equal(r.caller?.scheme === 'sigv4' ? r.caller.arn : r.caller?.scheme, user.arn, `${r.method} ${r.path}: signed with the gateway's AWS keys`);
          assert.ok(!JSON.stringify(r.headers).includes(key), 'the gateway key never reaches AWS');
        }
        assert.equal(runtime.signatureFailures + control.signatureFailures, 0);
        // Every call is accounted to the key; the two streamed turns' tokens at least (Claude Code's
        // 1-token availability probes add theirs).
        const usage = await usageOf(gw, id);
        assert.equal(usage.requests, runtime.requests.length + control.requests.length);
        assert.ok(usage.input_tokens >= TURN_USAGE.input * streams.length, JSON.stringify(usage));
        assert.ok(usage.output_tokens >= TURN_USAGE.output * streams.length, JSON.stringify(usage));
      });
    }

    test('a wrong key: Claude Code reports the authentication error, the key is not echoed, nothing reaches Bedrock', async () => {
      runtime.reset();
      control.reset();
      const wrong = generateKey().key;
      const run = await runClaude(ws, readTask(ws.note), { ...bedrockEnv(wrong)}, ['--model', BEDROCK_MODEL]);
      assertAuthFailure(run, wrong);
      assert.equal(runtime.requests.length + control.requests.length, 0, 'refused at the gateway');
    });
  });

  describe('on a Vertex instance (transparent)', () => {
    let emu: VertexEmulator;
    let gw: TestGateway;
    let ws: Workspace;

    /**
     * Claude Code's Vertex settings for a gateway: the transparent prefix plus `/v1` as the Vertex
     * base URL, Google auth skipped (the gateway adds its token), the gateway key as
     * ANTHROPIC_AUTH_TOKEN (sent as Authorization: Bearer).
     */
    const vertexEnv = (apiKey: string): Record<string, string> => ({
      CLAUDE_CODE_USE_VERTEX: '1',
      CLAUDE_CODE_SKIP_VERTEX_AUTH: '1',
      ANTHROPIC_VERTEX_BASE_URL: `${gw.url}/transparent/vtx/v1`,
      ANTHROPIC_VERTEX_PROJECT_ID: VERTEX_PROJECT,
      CLOUD_ML_REGION: VERTEX_LOCATION,
      ANTHROPIC_AUTH_TOKEN: apiKey,
    });

    before(async () => {
      emu = await new VertexEmulator([VERTEX_TOKEN], { project: VERTEX_PROJECT, location: VERTEX_LOCATION }).start();
      process.env['CLAUDE_CODE_TEST_VERTEX_TOKEN'] = VERTEX_TOKEN;
      gw = await startGateway({
        instances: {
          vtx: { type: 'vertex', project: VERTEX_PROJECT, location: VERTEX_LOCATION, endpoint: emu.url, authentication: { type: 'access_token', token: '${env:CLAUDE_CODE_TEST_VERTEX_TOKEN}' } },
        },
      });
      ws = workspace();
    });
    after(async () => {
      await gw?.close();
      await emu?.close();
      if (ws) rmSync(ws.root, { recursive: true, force: true });
    });

    test('a Read tool call and its result go through streamRawPredict with the gateway\'s Google token', async () => {
      emu.reset();
      const { key, id } = await gw.issued({ name: 'claude-code-vertex-run' });
      const run = await runClaude(ws, readTask(ws.note), vertexEnv(key), ['--model', VERTEX_MODEL]);
      assertToolRoundTrip(run, ws);

      const path = `/v1/projects/${VERTEX_PROJECT}/locations/${VERTEX_LOCATION}/publishers/anthropic/models/${VERTEX_MODEL}:streamRawPredict`;
      const streams = emu.requests.filter((r) => r.path === path);
      assert.ok(streams.length >= 2, `the tool_use turn and the answer turn: ${emu.requests.map((r) => `${r.method} ${r.path}`).join(', ')}`);
      assert.ok(bodies(streams).some((b) => carriesToolResult(b, ws.line)), 'the tool_result reached Vertex');
      for (const r of emu.requests) {
        assert.equal(r.headers.authorization, `Bearer ${VERTEX_TOKEN}`, `${r.method} ${r.path}: the gateway's token`);
        assert.ok(!JSON.stringify(r.headers).includes(key), 'the gateway key never reaches Google');
      }
      const usage = await usageOf(gw, id);
      assert.equal(usage.requests, streams.length);
      assert.equal(usage.input_tokens, TURN_USAGE.input * streams.length);
      assert.equal(usage.output_tokens, TURN_USAGE.output * streams.length);
    });

    test('a wrong key: Claude Code reports the authentication error, the key is not echoed, nothing reaches Vertex', async () => {
      emu.reset();
      const wrong = generateKey().key;
      const run = await runClaude(ws, readTask(ws.note), { ...vertexEnv(wrong), ...NO_RETRIES }, ['--model', VERTEX_MODEL]);
      assertAuthFailure(run, wrong);
      assert.equal(emu.requests.length, 0, 'refused at the gateway');
    });
  });
});
