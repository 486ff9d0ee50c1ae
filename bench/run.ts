import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { signSigV4 } from '../src/signing/sigv4.js';
import { latencySeries, pickLoadGenerator, streamSeries, throughput, type Latencies, type StreamTimes, type Target, type Throughput } from './load.js';

/**
 * `npm run bench`: added latency and throughput of the gateway (API-key auth on, transparent
 * mode) against calling the emulator directly, on loopback, for two paths: an OpenAI chat
 * completion (the provider key as a header) and a Bedrock Converse call (SigV4: the gateway
 * signs every request; the direct calls replay one request signed up front, valid 5 minutes).
 *
 * Placement on this 2-core machine: the gateway alone on core 0 (taskset), the emulator and the
 * load generator on core 1. Every phase is bounded in time and in count.
 *
 * Knobs (environment): BENCH_SECONDS (per throughput run, default 10), BENCH_LATENCY_COUNT
 * (default 5000), BENCH_LOADGEN=wrk|autocannon (default wrk when installed), BENCH_JSON=1,
 * BENCH_GATEWAY_NODE_ARGS (extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=prof").
 */

const SECONDS = positiveInt('BENCH_SECONDS', 10);
const LATENCY_COUNT = positiveInt('BENCH_LATENCY_COUNT', 5000);
const CONCURRENCY = [16, 64];
const STREAM_DELTAS = positiveInt('BENCH_STREAM_DELTAS', 200);
const STREAM_COUNT = positiveInt('BENCH_STREAM_COUNT', 300);
const PROVIDER_KEY = 'sk-bench-provider-key-0000000000000000';
const AWS_KEY = { accessKeyId: 'AKIABENCHBENCHBENCH0', secretAccessKey: 'bench/secret/access/key/0000000000000000' };
const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'dist/src/cli/main.js');

// cpus(), not availableParallelism(): the re-run below is itself pinned to one core.
const pinning = cpus().length >= 2 && !spawnSync('taskset', ['-c', '0', 'true']).error;
if (pinning && process.env['BENCH_PINNED'] !== '1') {
  // Re-run this script on core 1 so the load generator stays off the gateway's core.
  const child = spawnSync('taskset', ['-c', '1', process.execPath, fileURLToPath(import.meta.url)], { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } });
  process.exit(child.status ?? 1);
}

const scratch = mkdtempSync(join(tmpdir(), 'llmproxy-bench-'));
const children: ChildProcess[] = [];
let stopping = false;
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
};
process.once('exit', cleanup);
process.once('SIGINT', () => process.exit(130));

const gen = pickLoadGenerator();
const env = { ...process.env, BENCH_PROVIDER_KEY: PROVIDER_KEY, BENCH_AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId, BENCH_AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey };
const emulators = await startEmulators();
const port = await freePort();
const config = join(scratch, 'llmproxy.yaml');
writeFileSync(
  config,
  [
    `server: { host: 127.0.0.1, port: ${port} }`,
    `storage: { sqlite: { path: ${JSON.stringify(join(scratch, 'llmproxy.db'))} } }`,
    'auth: { api_keys: { bootstrap_admin: false } }',
    'instances:',
    '  openai:',
    '    type: openai',
    `    endpoint: ${emulators.openai}`,
    '    authentication: { type: api_key, api_key: "${env:BENCH_PROVIDER_KEY}" }',
    '  bedrock:',
    '    type: bedrock',
    '    region: us-east-1',
    `    endpoint: ${emulators.bedrock}`,
    `    control_endpoint: ${emulators.bedrock}`,
    `    authentication: { type: access_keys, access_key_id: ${AWS_KEY.accessKeyId}, secret_access_key: "\${env:BENCH_AWS_SECRET_ACCESS_KEY}" }`,
    '',
  ].join('\n'),
);
const created = spawnSync(process.execPath, [cli, 'keys', 'create', '--config', config, '--name', 'bench', '--json'], { encoding: 'utf8', env });
if (created.status !== 0) throw new Error(`keys create failed: ${created.stderr}`);
const gatewayKey = (JSON.parse(created.stdout) as { key: string }).key;
const gateway = startGateway();
const gatewayUrl = `http://127.0.0.1:${port}`;
await waitForHealth(gatewayUrl);

const openaiBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 });
const bedrockBody = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Say hello.' }] }], inferenceConfig: { maxTokens: 16 } });
const bedrockPath = `/model/${encodeURIComponent('anthropic.claude-3-haiku-20240307-v1:0')}/converse`;
const scenarios: Array<{ name: string; direct: Target; viaGateway: Target }> = [
  {
    name: 'openai',
    direct: { label: 'direct', url: emulators.openai, path: '/v1/chat/completions', headers: { authorization: `Bearer ${PROVIDER_KEY}`, 'content-type': 'application/json' }, body: openaiBody },
    viaGateway: { label: 'gateway', url: gatewayUrl, path: '/transparent/openai/v1/chat/completions', headers: { authorization: `Bearer ${gatewayKey}`, 'content-type': 'application/json' }, body: openaiBody },
  },
  {
    name: 'bedrock',
    direct: { label: 'direct', url: emulators.bedrock, path: bedrockPath, headers: presigned(emulators.bedrock, bedrockPath, bedrockBody), body: bedrockBody },
    viaGateway: { label: 'gateway', url: gatewayUrl, path: `/transparent/bedrock${bedrockPath}`, headers: { authorization: `Bearer ${gatewayKey}`, 'content-type': 'application/json' }, body: bedrockBody },
  },
];

log(`load generator: ${gen}; gateway pinned to core 0: ${pinning ? 'yes' : 'no (taskset or a second core missing)'}; ${SECONDS}s per throughput run`);
const results: Record<string, ReturnType<typeof summarise>> = {};
for (const s of scenarios) {
  // Sign the direct Bedrock request now: it is replayed for this scenario only (< 5 minutes).
  if (s.name === 'bedrock') s.direct.headers = presigned(emulators.bedrock, bedrockPath, bedrockBody);
  results[s.name] = await runScenario(s.name, s.direct, s.viaGateway);
}
const streaming = await runStreaming();
const memory = { ...gatewayMemory(gateway.pid!), ...(await gatewayHeap(gatewayUrl)) };
const result = { loadGenerator: gen, pinned: pinning, scenarios: results, streaming, gatewayRssMb: memory };

if (process.env['BENCH_JSON'] === '1') console.log(JSON.stringify(result, null, 2));
else printTable(result);
stopping = true;
gateway.kill('SIGTERM');
// The emulators' stdout pipe would keep this process alive: stop them too.
for (const c of children) if (c !== gateway) c.kill('SIGTERM');

// ---------------------------------------------------------------------------------------------

async function runScenario(name: string, direct: Target, viaGateway: Target) {
  log(`${name}: warming up`);
  for (const t of [direct, viaGateway]) await throughput(gen, t, 16, 3, scratch);
  log(`${name}: concurrency 1, ${LATENCY_COUNT} sequential requests each`);
  const lat: Record<string, Latencies> = {};
  for (const t of [direct, viaGateway]) lat[t.label] = await latencySeries(t, LATENCY_COUNT, 60_000);
  const tput: Record<string, Record<string, Throughput>> = {};
  for (const c of CONCURRENCY) {
    log(`${name}: concurrency ${c}, ${SECONDS}s each`);
    tput[c] = {};
    for (const t of [direct, viaGateway]) tput[c]![t.label] = await throughput(gen, t, c, SECONDS, scratch);
  }
  return summarise(lat, tput);
}

function summarise(lat: Record<string, Latencies>, tput: Record<string, Record<string, Throughput>>) {
  return {
    latencyC1: {
      directP50Us: lat['direct']!.p50Us,
      gatewayP50Us: lat['gateway']!.p50Us,
      addedP50Us: lat['gateway']!.p50Us - lat['direct']!.p50Us,
      directP99Us: lat['direct']!.p99Us,
      gatewayP99Us: lat['gateway']!.p99Us,
      addedP99Us: lat['gateway']!.p99Us - lat['direct']!.p99Us,
      requests: lat['gateway']!.count,
    },
    throughput: Object.fromEntries(
      CONCURRENCY.map((c) => {
        const d = tput[c]!['direct']!;
        const g = tput[c]!['gateway']!;
        return [c, { directRps: round(d.rps), gatewayRps: round(g.rps), ratio: round(g.rps / d.rps, 3), addedP50Ms: round(g.p50Ms - d.p50Ms, 2), addedP99Ms: round(g.p99Ms - d.p99Ms, 2), errors: d.errors + g.errors }];
      }),
    ),
  };
}

/**
 * The streaming case: a ConverseStream answer of STREAM_DELTAS text deltas, read directly (raw
 * event stream), through the gateway in transparent mode (the same bytes), and through protocol
 * mode (each event translated to an OpenAI SSE chunk). Sequential, one connection each.
 */
async function runStreaming() {
  const path = `/model/${encodeURIComponent('anthropic.claude-3-haiku-20240307-v1:0')}/converse-stream`;
  const chat = JSON.stringify({ model: 'anthropic.claude-3-haiku-20240307-v1:0', stream: true, messages: [{ role: 'user', content: 'Say hello.' }] });
  const gatewayHeaders = { authorization: `Bearer ${gatewayKey}`, 'content-type': 'application/json' };
  const targets: Target[] = [
    { label: 'direct', url: emulators.bedrock, path, headers: presigned(emulators.bedrock, path, bedrockBody), body: bedrockBody },
    { label: 'transparent', url: gatewayUrl, path: `/transparent/bedrock${path}`, headers: gatewayHeaders, body: bedrockBody },
    { label: 'protocol', url: gatewayUrl, path: '/openai/bedrock/chat/completions', headers: gatewayHeaders, body: chat },
  ];
  log(`streaming: ${STREAM_COUNT} ConverseStream answers of ${STREAM_DELTAS} deltas each, per path`);
  const times: Record<string, StreamTimes> = {};
  for (const t of targets) {
    await streamSeries(t, 20, 10_000); // warm-up
    times[t.label] = await streamSeries(t, STREAM_COUNT, 60_000);
  }
  const direct = times['direct']!;
  const per = (t: StreamTimes) => ({
    firstByteP50Us: round(t.firstByteP50Us),
    totalP50Us: round(t.totalP50Us),
    addedFirstByteUs: round(t.firstByteP50Us - direct.firstByteP50Us),
    addedPerChunkUs: round((t.totalP50Us - direct.totalP50Us) / STREAM_DELTAS, 2),
    bytes: t.bytes,
  });
  return { deltas: STREAM_DELTAS, streams: direct.count, direct: per(direct), transparent: per(times['transparent']!), protocol: per(times['protocol']!) };
}

/** Headers of a Converse request signed now for the Bedrock emulator (replayable for 5 minutes). */
function presigned(url: string, path: string, body: string): Record<string, string> {
  const req = { method: 'POST', path, headers: { 'content-type': 'application/json' } as Record<string, string>, body: Buffer.from(body) };
  return signSigV4(req, { type: 'aws', ...AWS_KEY }, { region: 'us-east-1', service: 'bedrock', host: new URL(url).host }).headers;
}

function printTable(r: typeof result): void {
  const us = (n: number) => `${(n / 1000).toFixed(3)} ms`;
  const lines: string[] = [];
  for (const [name, s] of Object.entries(r.scenarios)) {
    lines.push(
      '',
      `${name}: concurrency 1 (sequential, one keep-alive connection)`,
      `  direct   p50 ${us(s.latencyC1.directP50Us)}   p99 ${us(s.latencyC1.directP99Us)}`,
      `  gateway  p50 ${us(s.latencyC1.gatewayP50Us)}   p99 ${us(s.latencyC1.gatewayP99Us)}`,
      `  added    p50 ${us(s.latencyC1.addedP50Us)}   p99 ${us(s.latencyC1.addedP99Us)}`,
      '',
      `${name}: concurrency | direct req/s | gateway req/s | ratio | added p50 | added p99 | errors`,
      ...Object.entries(s.throughput).map(([c, t]) => `${c.padStart(name.length + 13)} | ${String(t.directRps).padStart(12)} | ${String(t.gatewayRps).padStart(13)} | ${t.ratio.toFixed(3)} | ${t.addedP50Ms.toFixed(2)} ms | ${t.addedP99Ms.toFixed(2)} ms | ${t.errors}`),
    );
  }
  const st = r.streaming;
  const ms = (n: number) => `${(n / 1000).toFixed(3)} ms`;
  lines.push(
    '',
    `streaming: ConverseStream with ${st.deltas} deltas, ${st.streams} sequential streams per path (medians)`,
    ...(['direct', 'transparent', 'protocol'] as const).map((k) => `  ${k.padEnd(11)} first byte ${ms(st[k].firstByteP50Us)} (added ${ms(st[k].addedFirstByteUs)})   whole stream ${ms(st[k].totalP50Us)} (added ${st[k].addedPerChunkUs.toFixed(2)} µs per chunk)   ${st[k].bytes} bytes`),
  );
  lines.push('', `gateway memory: peak RSS ${r.gatewayRssMb.peak} MB, RSS at end ${r.gatewayRssMb.now} MB (V8 heap ${r.gatewayRssMb.heapTotal} MB, external ${r.gatewayRssMb.external} MB)`, '');
  console.log(lines.join('\n'));
}

async function startEmulators(): Promise<{ openai: string; bedrock: string }> {
  const args = [join(root, 'dist/bench/emulator-process.js')];
  const child = pinning ? spawn('taskset', ['-c', '1', process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) return JSON.parse(line) as { openai: string; bedrock: string };
  throw new Error('the emulators exited before printing their URLs');
}

function startGateway(): ChildProcess {
  // Its JSON log goes to a file, as in production; a pipe back here would load core 1.
  const logFd = openSync(join(scratch, 'gateway.log'), 'a');
  const nodeArgs = process.env['BENCH_GATEWAY_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
  const args = [...nodeArgs, cli, 'serve', '--config', config];
  const child = pinning ? spawn('taskset', ['-c', '0', process.execPath, ...args], { env, stdio: ['ignore', logFd, logFd] }) : spawn(process.execPath, args, { env, stdio: ['ignore', logFd, logFd] });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`gateway exited early (${code ?? signal}); its log:\n${readFileSync(join(scratch, 'gateway.log'), 'utf8').slice(-4000)}`);
      process.exit(1);
    }
  });
  return child;
}

async function waitForHealth(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the gateway did not become healthy within 20 s');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Peak (VmHWM) and current (VmRSS) resident memory of the gateway's node process, in MB. */
function gatewayMemory(pid: number): { peak: number; now: number } {
  // With taskset, `pid` is taskset's, which execs node in place: same pid.
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: round(kb('VmHWM') / 1024, 1), now: round(kb('VmRSS') / 1024, 1) };
}

/** V8's heap and external memory as the gateway reports them on /metrics, in MB. */
async function gatewayHeap(url: string): Promise<{ heapTotal: number; external: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^llmproxy_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1024 / 1024;
  return { heapTotal: round(gauge('nodejs_heap_size_total_bytes'), 1), external: round(gauge('nodejs_external_memory_bytes'), 1) };
}

function positiveInt(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}
