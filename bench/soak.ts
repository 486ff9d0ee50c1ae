import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { AnthropicEmulator } from '../test/emulators/anthropic.js';
import { AwsAccounts } from '../test/emulators/aws-accounts.js';
import { BedrockEmulator } from '../test/emulators/bedrock.js';
import { IbmIamEmulator } from '../test/emulators/ibm-iam.js';
import { OpenAIEmulator } from '../test/emulators/openai.js';
import { WatsonxEmulator } from '../test/emulators/watsonx.js';
import type { ProbeReport } from './soak-probe.js';

/**
 * `npm run soak` (not part of `npm test`): a real gateway (`dist/src/cli/main.js serve`, with a
 * generated config) under mixed traffic with injected faults, for `--minutes N` (or
 * SOAK_MINUTES; default 30). Everything runs on 127.0.0.1.
 *
 * Traffic: SOAK_CLIENTS concurrent clients (default 8), each sending one request at a time,
 * picked at random: transparent and protocol mode, JSON and streaming, against OpenAI, Anthropic,
 * Bedrock (SigV4, event streams) and watsonx emulators; bad client credentials (from addresses
 * given in X-Forwarded-For, the gateway trusting 127.0.0.1 as a proxy, so they throttle only
 * themselves); and an upstream that misbehaves on request: connection resets before and during
 * the answer, first byte and mid-stream stalls past the instance's timeouts, streams cut short,
 * an SSE line past `server.stream_line_limit`, a 200 that is not JSON, 503s. IBM IAM, the
 * watsonx token endpoint, goes down for 80 s out of every 240 s (answering 503, or resetting).
 *
 * Every minute it prints the gateway's RSS, heap used, event-loop delay (p50/p99/max, from
 * perf_hooks.monitorEventLoopDelay inside the gateway: bench/soak-probe.ts), open handles
 * (process.getActiveResourcesInfo), request counts by outcome, and unexpected errors: any 500,
 * any outcome a scenario does not allow, any `unhandled error` log line, any unhandled rejection
 * or uncaught exception. At the end: a summary, and exit 1 if anything unexpected happened.
 */

const MINUTES = positiveNumber(argValue('--minutes') ?? process.env['SOAK_MINUTES'], 30);
const CLIENTS = positiveNumber(process.env['SOAK_CLIENTS'], 8);
const REPORT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 20_000;
const LINE_LIMIT = 256 * 1024;
const PROVIDER_KEY = 'sk-soak-provider-key-000000000000000';
const ANTHROPIC_KEY = 'sk-ant-soak-provider-key-0000000000';
const IBM_API_KEY = 'ibm-soak-api-key-0123456789abcdefghij';
const WX_PROJECT = '8d3c6f2e-1111-4a4b-9c9d-0123456789ab';
const AWS_KEY = { accessKeyId: 'AKIASOAKSOAKSOAKSOAK', secretAccessKey: 'soak/secret/access/key/00000000000000000' };
const BEDROCK_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'dist/src/cli/main.js');
const probe = pathToFileURL(join(root, 'dist/bench/soak-probe.js')).href;

// ---------------------------------------------------------------------------------------------
// Upstreams

/**
 * An OpenAI-shaped upstream that misbehaves as the request's `model` says. Timers are cleared
 * when the gateway hangs up, so nothing lingers.
 */
class FaultyUpstream {
  readonly server: Server = createServer((req, res) => void this.#serve(req, res));

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let model = '';
    try {
      model = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model?: unknown }).model);
    } catch {
      // not JSON: answered as an unknown model
    }
    const chunk = (content: string) => `data: ${JSON.stringify({ id: 'chatcmpl-f', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] })}\n\n`;
    const sse = () => res.writeHead(200, { 'content-type': 'text/event-stream' });
    switch (model) {
      case 'fault-reset':
        req.socket.destroy();
        return;
      case 'fault-reset-mid':
        sse();
        res.write(chunk('Hello'));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      case 'fault-slow':
        // Past the instance's first_byte timeout (1 s).
        this.#later(res, 2500, () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
        return;
      case 'fault-stall-mid':
        // Past the instance's idle timeout (1 s) after the first event.
        sse();
        res.write(chunk('Hello'));
        this.#later(res, 2500, () => res.end('data: [DONE]\n\n'));
        return;
      case 'fault-truncated':
        sse();
        res.end(chunk('Hello') + chunk(' world'));
        return;
      case 'fault-long-line':
        sse();
        res.write(chunk('Hello'));
        res.write(`data: ${'x'.repeat(LINE_LIMIT)}`);
        this.#later(res, 10, () => res.end('x\n\ndata: [DONE]\n\n'));
        return;
      case 'fault-bad-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "chatcmpl-f", "choices": [');
        return;
      case 'fault-503':
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}');
        return;
      default:
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"unknown fault","type":"invalid_request_error","param":null,"code":null}}');
    }
  }

  #later(res: ServerResponse, ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      if (!res.destroyed) run();
    }, ms);
    res.once('close', () => clearTimeout(timer));
  }
}

interface Upstreams {
  openai: OpenAIEmulator;
  anthropic: AnthropicEmulator;
  bedrock: BedrockEmulator;
  watsonx: WatsonxEmulator;
  iam: IbmIamEmulator;
  faulty: FaultyUpstream;
  faultyUrl: string;
}

async function startUpstreams(): Promise<Upstreams> {
  const openai = new OpenAIEmulator([PROVIDER_KEY]);
  const anthropic = new AnthropicEmulator([ANTHROPIC_KEY]);
  const accounts = new AwsAccounts();
  accounts.addUser('soak', AWS_KEY);
  const bedrock = new BedrockEmulator({ accounts, region: 'us-east-1' });
  const watsonx = new WatsonxEmulator([], { projects: [WX_PROJECT] });
  const iam = new IbmIamEmulator({ apiKeys: [IBM_API_KEY], validTokens: watsonx.acceptedKeys });
  // Tokens live 90 s, so an 80 s outage can outlast the token in hand.
  iam.ttlSeconds = 90;
  for (const e of [openai, anthropic, bedrock, watsonx, iam]) e.recording = false;
  await Promise.all([openai.start(), anthropic.start(), bedrock.start(), watsonx.start(), iam.start()]);
  const faulty = new FaultyUpstream();
  return { openai, anthropic, bedrock, watsonx, iam, faulty, faultyUrl: await faulty.start() };
}

function configYaml(up: Upstreams, port: number, scratch: string): string {
  return [
    'server:',
    '  host: 127.0.0.1',
    `  port: ${port}`,
    '  trusted_proxies: [127.0.0.1/32]',
    `  stream_line_limit: ${LINE_LIMIT}`,
    '  shutdown_timeout: 10s',
    `storage: { sqlite: { path: ${JSON.stringify(join(scratch, 'llmproxy.db'))} } }`,
    'auth: { api_keys: { bootstrap_admin: false } }',
    'instances:',
    '  openai:',
    '    type: openai',
    `    endpoint: ${up.openai.url}`,
    '    authentication: { type: api_key, api_key: "${env:SOAK_PROVIDER_KEY}" }',
    '  anthropic:',
    '    type: anthropic',
    `    endpoint: ${up.anthropic.url}`,
    '    authentication: { type: api_key, api_key: "${env:SOAK_ANTHROPIC_KEY}" }',
    '  bedrock:',
    '    type: bedrock',
    '    region: us-east-1',
    `    endpoint: ${up.bedrock.url}`,
    `    control_endpoint: ${up.bedrock.url}`,
    `    authentication: { type: access_keys, access_key_id: ${AWS_KEY.accessKeyId}, secret_access_key: "\${env:SOAK_AWS_SECRET_ACCESS_KEY}" }`,
    '  watsonx:',
    '    type: watsonx',
    '    region: us-south',
    `    endpoint: ${up.watsonx.url}`,
    `    project_id: ${WX_PROJECT}`,
    '    credential_refresh_window: 30s',
    `    authentication: { type: api_key, api_key: "\${env:SOAK_IBM_API_KEY}", iam_url: ${up.iam.url} }`,
    '  faulty:',
    '    type: openai',
    `    endpoint: ${up.faultyUrl}`,
    '    timeouts: { first_byte: 1s, idle: 1s }',
    '    authentication: { type: api_key, api_key: "${env:SOAK_PROVIDER_KEY}" }',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Traffic

interface Call {
  path: string;
  body: unknown;
  headers?: Record<string, string>;
  /** The answer is an OpenAI SSE stream translated by the gateway (checked for [DONE] or an error object). */
  protocolStream?: boolean;
}

interface Scenario {
  name: string;
  weight: number;
  /** Outcomes that are fine for this scenario; anything else is unexpected. */
  expected: readonly string[];
  call(key: string): Call;
}

const chat = (model: string, stream: boolean) => ({ model, stream, messages: [{ role: 'user', content: 'Say hello.' }], ...(stream ? { stream_options: { include_usage: true } } : {}) });
const converse = { messages: [{ role: 'user', content: [{ text: 'Say hello.' }] }], inferenceConfig: { maxTokens: 16 } };
const bedrockPath = (op: string) => `/transparent/bedrock/model/${encodeURIComponent(BEDROCK_MODEL)}/${op}`;
const faultP = (model: string, stream = true): Call => ({ path: '/openai/faulty/chat/completions', body: chat(model, stream), protocolStream: stream });
const faultT = (model: string): Call => ({ path: '/transparent/faulty/v1/chat/completions', body: chat(model, true) });
const OK = ['200'] as const;

const SCENARIOS: Scenario[] = [
  { name: 'openai transparent json', weight: 6, expected: OK, call: () => ({ path: '/transparent/openai/v1/chat/completions', body: chat('gpt-4o', false) }) },
  { name: 'openai transparent stream', weight: 6, expected: OK, call: () => ({ path: '/transparent/openai/v1/chat/completions', body: chat('gpt-4o', true) }) },
  { name: 'openai protocol json', weight: 6, expected: OK, call: () => ({ path: '/openai/openai/chat/completions', body: chat('gpt-4o', false) }) },
  { name: 'openai protocol stream', weight: 6, expected: OK, call: () => ({ path: '/openai/openai/chat/completions', body: chat('gpt-4o', true), protocolStream: true }) },
  { name: 'anthropic transparent json', weight: 4, expected: OK, call: () => ({ path: '/transparent/anthropic/v1/messages', body: { model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: 'Say hello.' }] }, headers: { 'anthropic-version': '2023-06-01' } }) },
  { name: 'anthropic protocol stream', weight: 4, expected: OK, call: () => ({ path: '/openai/anthropic/chat/completions', body: chat('claude-sonnet-4-5', true), protocolStream: true }) },
  { name: 'bedrock transparent converse', weight: 3, expected: OK, call: () => ({ path: bedrockPath('converse'), body: converse }) },
  { name: 'bedrock transparent converse-stream', weight: 3, expected: OK, call: () => ({ path: bedrockPath('converse-stream'), body: converse }) },
  { name: 'bedrock protocol stream', weight: 4, expected: OK, call: () => ({ path: '/openai/bedrock/chat/completions', body: chat(BEDROCK_MODEL, true), protocolStream: true }) },
  // IAM outages can outlast the token in hand: then 503 credential_unavailable.
  { name: 'watsonx protocol (IAM outages)', weight: 4, expected: ['200', '503'], call: () => ({ path: '/openai/watsonx/chat/completions', body: chat('ibm/granite-3-8b-instruct', true), protocolStream: true }) },
  {
    name: 'bad client credential',
    weight: 4,
    expected: ['401', '429'],
    call: (key) => ({ path: '/transparent/openai/v1/chat/completions', body: chat('gpt-4o', false), headers: { authorization: `Bearer ${badCredential(key)}`, 'x-forwarded-for': `10.66.${rand(4)}.${1 + rand(250)}` } }),
  },
  { name: 'fault: reset before answering', weight: 1, expected: ['502'], call: () => (rand(2) ? faultP('fault-reset') : faultT('fault-reset')) },
  { name: 'fault: reset mid-stream (protocol)', weight: 1, expected: ['200+error-event'], call: () => faultP('fault-reset-mid') },
  { name: 'fault: reset mid-stream (transparent)', weight: 1, expected: ['aborted'], call: () => faultT('fault-reset-mid') },
  { name: 'fault: no first byte in time', weight: 1, expected: ['504'], call: () => (rand(2) ? faultP('fault-slow') : faultT('fault-slow')) },
  { name: 'fault: stall mid-stream (protocol)', weight: 1, expected: ['200+error-event'], call: () => faultP('fault-stall-mid') },
  { name: 'fault: stall mid-stream (transparent)', weight: 1, expected: ['aborted'], call: () => faultT('fault-stall-mid') },
  { name: 'fault: truncated stream (protocol)', weight: 1, expected: ['200+error-event'], call: () => faultP('fault-truncated') },
  { name: 'fault: truncated stream (transparent, passed as is)', weight: 1, expected: ['200'], call: () => faultT('fault-truncated') },
  { name: 'fault: line past the limit (protocol)', weight: 1, expected: ['200+error-event'], call: () => faultP('fault-long-line') },
  { name: 'fault: line past the limit (transparent)', weight: 1, expected: ['aborted'], call: () => faultT('fault-long-line') },
  { name: 'fault: 200 that is not JSON (protocol)', weight: 1, expected: ['502'], call: () => faultP('fault-bad-json', false) },
  { name: 'fault: upstream 503', weight: 1, expected: ['502', '503'], call: () => (rand(2) ? faultP('fault-503') : faultT('fault-503')) },
];
const TOTAL_WEIGHT = SCENARIOS.reduce((n, s) => n + s.weight, 0);

function pickScenario(): Scenario {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const s of SCENARIOS) {
    r -= s.weight;
    if (r < 0) return s;
  }
  return SCENARIOS[0]!;
}

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

/** A wrong credential: garbage, a malformed key, or the real key with its secret changed. */
function badCredential(key: string): string {
  switch (rand(3)) {
    case 0:
      return 'not-a-gateway-key';
    case 1:
      return `llmp_${key.slice(5, 12)}`;
    default: {
      const last = key.at(-1) === 'A' ? 'B' : 'A';
      return key.slice(0, -1) + last;
    }
  }
}

const dispatcher = new Agent({ connections: CLIENTS * 2, keepAliveTimeout: 10_000 });

/** Sends one call; its outcome: the status, `aborted` (the answer was cut), `200+error-event`, `no-answer: <code>`... */
async function send(base: string, key: string, call: Call): Promise<string> {
  let status: number;
  let body: string;
  try {
    const res = await request(`${base}${call.path}`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...call.headers },
      body: JSON.stringify(call.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    status = res.statusCode;
    try {
      body = await res.body.text();
    } catch {
      return 'aborted';
    }
  } catch (err) {
    return `no-answer: ${(err as { code?: string }).code ?? (err as Error).name}`;
  }
  if (status !== 200 || !call.protocolStream) return String(status);
  if (body.endsWith('data: [DONE]\n\n')) return '200';
  if (/^data: \{"error":/m.test(body)) return '200+error-event';
  return '200+incomplete';
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

interface Minute {
  probe: ProbeReport;
  requests: number;
}

class Tally {
  readonly outcomes = new Map<string, number>();
  readonly unexpected = new Map<string, number>();
  requests = 0;
  errorLogs = 0;
  unhandledLogs = 0;
  readonly samples: string[] = [];

  note(s: Scenario, outcome: string): void {
    this.requests++;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (outcome === '500' || !s.expected.includes(outcome)) {
      const k = `${s.name} → ${outcome}`;
      this.unexpected.set(k, (this.unexpected.get(k) ?? 0) + 1);
    }
  }

  get unexpectedCount(): number {
    let n = 0;
    for (const v of this.unexpected.values()) n += v;
    return n;
  }
}

const tally = new Tally();

/** Reads the gateway's JSON log: counts `unhandled error` lines (and keeps a few), and every log line at error level. */
function watchLog(child: ChildProcess, logPath: string): void {
  const file = createWriteStream(logPath);
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    file.write(`${line}\n`);
    if (!/"level":("error"|"fatal"|5\d|6\d)/.test(line) && !line.includes('unhandled error')) return;
    try {
      const entry = JSON.parse(line) as { level?: number | string; msg?: string };
      if (entry.msg === 'unhandled error') {
        tally.unhandledLogs++;
        if (tally.samples.length < 5) tally.samples.push(line.slice(0, 2000));
      } else if (entry.level === 'error' || entry.level === 'fatal' || (typeof entry.level === 'number' && entry.level >= 50)) {
        tally.errorLogs++;
        if (tally.samples.length < 5) tally.samples.push(line.slice(0, 2000));
      }
    } catch {
      // not a JSON line (the bootstrap banner, say)
    }
  });
  child.stderr!.on('data', (c: Buffer) => {
    file.write(c);
    process.stderr.write(c);
  });
}

function askProbe(child: ChildProcess): Promise<ProbeReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not answer the probe within 10 s')), 10_000);
    const onMessage = (msg: unknown) => {
      if ((msg as { type?: unknown } | null)?.type !== 'probe') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg as ProbeReport);
    };
    child.on('message', onMessage);
    child.send({ type: 'report' });
  });
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

function printMinute(n: number, m: Minute): void {
  const p = m.probe;
  const outcomes = [...tally.outcomes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ');
  console.log(
    [
      `[minute ${n}] rss ${mb(p.rssBytes)}, heap used ${mb(p.heapUsedBytes)}, event-loop delay (1 ms sampling included) p50 ${p.loopP50Ms} ms p99 ${p.loopP99Ms} ms max ${p.loopMaxMs} ms, open handles ${p.handles}`,
      `  requests: ${m.requests} this minute, ${tally.requests} in all (${outcomes})`,
      `  unexpected: ${tally.unexpectedCount} outcomes, ${tally.unhandledLogs} 'unhandled error' logs, ${tally.errorLogs} other error logs, ${p.unhandledRejections} unhandled rejections, ${p.uncaughtExceptions} uncaught exceptions`,
      ...[...tally.unexpected.entries()].map(([k, v]) => `    ${k}: ${v}`),
    ].join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// Run

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitHealthy(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway exited at startup (${child.exitCode})`);
    try {
      const res = await request(`${base}/health`, { dispatcher });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the gateway did not become healthy within 30 s');
}

/** IAM down from 40 s to 120 s of every 240 s, alternately answering 503 and resetting connections. */
function scheduleIamOutages(iam: IbmIamEmulator, startedAt: number): NodeJS.Timeout {
  let cycle = -1;
  return setInterval(() => {
    const t = (Date.now() - startedAt) / 1000;
    const phase = t % 240;
    const down = phase >= 40 && phase < 120;
    const n = Math.floor(t / 240);
    if (down && cycle !== n) {
      cycle = n;
      iam.setDown(n % 2 === 0 ? 'unavailable' : 'reset');
      console.log(`  (IAM down: ${n % 2 === 0 ? '503' : 'connection resets'}, t=${Math.round(t)} s)`);
    } else if (!down && cycle === n) {
      cycle = -2;
      iam.setDown(false);
      console.log(`  (IAM back, t=${Math.round(t)} s)`);
    }
  }, 1000);
}

async function main(): Promise<number> {
  const scratch = mkdtempSync(join(tmpdir(), 'llmproxy-soak-'));
  const upstreams = await startUpstreams();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = join(scratch, 'llmproxy.yaml');
  writeFileSync(config, configYaml(upstreams, port, scratch));
  const env = { ...process.env, SOAK_PROVIDER_KEY: PROVIDER_KEY, SOAK_ANTHROPIC_KEY: ANTHROPIC_KEY, SOAK_AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey, SOAK_IBM_API_KEY: IBM_API_KEY };
  const created = spawnSync(process.execPath, [cli, 'keys', 'create', '--config', config, '--name', 'soak', '--json'], { encoding: 'utf8', env });
  if (created.status !== 0) throw new Error(`keys create failed: ${created.stderr}`);
  const key = (JSON.parse(created.stdout) as { key: string }).key;

  console.log(`soak: ${MINUTES} min, ${CLIENTS} clients, gateway ${base}, scratch ${scratch}`);
  const gateway = spawn(process.execPath, ['--import', probe, cli, 'serve', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let gatewayExit: string | undefined;
  // Interrupted (Ctrl-C, a CI timeout): take the gateway along rather than leave it running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      gateway.kill('SIGTERM');
      process.exit(130);
    });
  }
  let stopping = false;
  gateway.once('exit', (code, signal) => {
    gatewayExit = `${code ?? signal}`;
    if (!stopping) console.error(`the gateway exited during the soak (${gatewayExit})`);
  });
  watchLog(gateway, join(scratch, 'gateway.log'));
  await waitHealthy(base, gateway);
  await askProbe(gateway); // resets the delay histogram: startup (module loading, migrations) is not the soak's

  const startedAt = Date.now();
  const deadline = startedAt + MINUTES * 60_000;
  const outages = scheduleIamOutages(upstreams.iam, startedAt);
  const minutes: Minute[] = [];
  let lastCount = 0;
  const reporter = setInterval(() => {
    void askProbe(gateway).then(
      (p) => {
        minutes.push({ probe: p, requests: tally.requests - lastCount });
        lastCount = tally.requests;
        printMinute(minutes.length, minutes.at(-1)!);
      },
      (err: unknown) => console.error(`probe: ${String(err)}`),
    );
  }, REPORT_MS);

  const client = async () => {
    while (Date.now() < deadline && gatewayExit === undefined) {
      const s = pickScenario();
      tally.note(s, await send(base, key, s.call(key)));
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  clearInterval(reporter);
  clearInterval(outages);
  await new Promise((r) => setTimeout(r, 500)); // the last log lines
  const final = gatewayExit === undefined ? await askProbe(gateway) : undefined;
  if (final && (minutes.length === 0 || Date.now() - startedAt > minutes.length * REPORT_MS + 5000)) {
    minutes.push({ probe: final, requests: tally.requests - lastCount });
    printMinute(minutes.length, minutes.at(-1)!);
  }

  stopping = true;
  let shutdownCode: number | null = null;
  if (gatewayExit === undefined) {
    const exited = new Promise<number | null>((r) => gateway.once('exit', (code) => r(code)));
    gateway.kill('SIGTERM');
    shutdownCode = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
    if (shutdownCode === null) gateway.kill('SIGKILL');
  }
  await Promise.all([upstreams.openai.close(), upstreams.anthropic.close(), upstreams.bedrock.close(), upstreams.watsonx.close(), upstreams.iam.close(), upstreams.faulty.close()]);
  await dispatcher.close();

  const first = minutes[0]?.probe;
  const last = minutes.at(-1)?.probe;
  const rejections = last ? last.unhandledRejections + last.uncaughtExceptions : 0;
  const failures = tally.unexpectedCount + tally.unhandledLogs + tally.errorLogs + rejections + (gatewayExit !== undefined && !stopping ? 1 : 0) + (shutdownCode === 0 ? 0 : 1);
  const status500 = tally.outcomes.get('500') ?? 0;
  console.log(
    [
      '',
      `soak summary: ${((Date.now() - startedAt) / 60_000).toFixed(1)} min, ${tally.requests} requests, ${CLIENTS} clients`,
      first && last ? `  RSS      first minute ${mb(first.rssBytes)}, last minute ${mb(last.rssBytes)}` : '  (no probe reports)',
      first && last ? `  heap     first minute ${mb(first.heapUsedBytes)}, last minute ${mb(last.heapUsedBytes)}` : '',
      `  event-loop delay: max p99 ${Math.max(0, ...minutes.map((m) => m.probe.loopP99Ms))} ms, max ${Math.max(0, ...minutes.map((m) => m.probe.loopMaxMs))} ms`,
      first && last ? `  open handles: first minute ${first.handles}, last minute ${last.handles}` : '',
      `  outcomes: ${[...tally.outcomes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ')}`,
      `  unexpected: ${tally.unexpectedCount} outcomes (${status500} × 500), ${tally.unhandledLogs} 'unhandled error' logs, ${tally.errorLogs} other error logs, ${rejections} unhandled rejections/exceptions`,
      ...[...tally.unexpected.entries()].map(([k, v]) => `    ${k}: ${v}`),
      ...tally.samples.map((s) => `    log: ${s}`),
      `  gateway shutdown on SIGTERM: exit ${shutdownCode ?? gatewayExit ?? 'none (killed)'}`,
      failures === 0 ? 'PASS: no unexpected errors' : `FAIL: ${failures} unexpected errors (gateway log: ${join(scratch, 'gateway.log')})`,
    ]
      .filter((l) => l !== '')
      .join('\n'),
  );
  if (failures === 0) rmSync(scratch, { recursive: true, force: true });
  return failures === 0 ? 0 : 1;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i !== -1) return process.argv[i + 1];
  const prefixed = process.argv.find((a) => a.startsWith(`${name}=`));
  return prefixed?.slice(name.length + 1);
}

function positiveNumber(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected a positive number, got "${value}"`);
  return n;
}

process.exitCode = await main();
