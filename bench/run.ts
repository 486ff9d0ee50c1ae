import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { signSigV4 } from '../src/signing/sigv4.js';
import { latencySeries, pickLoadGenerator, streamSeries, throughput, type Latencies, type StreamTimes, type Target, type Throughput } from './load.js';
import { AWS_KEY, BenchProcesses, freePort, gatewayMetrics, log, pinning, positiveInt, processMemory, PROVIDER_KEY, round, waitForHealth } from './processes.js';

/**
 * `npm run bench`: throughput and added latency of the gateway (API-key auth on, transparent
 * mode) beside the floor — floor-proxy.ts, the least a Node gateway can do — both measured
 * against calling the emulator directly, in the same run, on loopback. Three scenarios: an
 * OpenAI chat completion as JSON and as an SSE stream of 21 events (the provider key as a
 * header), and a Bedrock Converse call (SigV4: the gateway and the floor sign every request;
 * the direct calls replay one request signed up front, valid 5 minutes). Every answer is
 * checked (a 200 with the emulator's body); a run with bad answers is reported as errors, not
 * as a rate. Then a Bedrock ConverseStream of many deltas, direct, transparent and protocol mode.
 *
 * Placement on a 2-core machine: the gateway and the floor on core 0 (taskset; idle while the
 * other is measured), the emulators and the load generator on core 1. Every phase is bounded in
 * time and in count.
 *
 * Knobs (environment): BENCH_SECONDS (per throughput run, default 10), BENCH_LATENCY_COUNT
 * (default 5000), BENCH_LOADGEN=wrk|autocannon (default wrk when installed), BENCH_JSON=1,
 * BENCH_GATEWAY_NODE_ARGS (extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=prof"),
 * BENCH_STREAM_DELTAS and BENCH_STREAM_COUNT (the ConverseStream case).
 */

const SECONDS = positiveInt('BENCH_SECONDS', 10);
const LATENCY_COUNT = positiveInt('BENCH_LATENCY_COUNT', 5000);
const CONCURRENCY = [16, 64] as const;
const STREAM_DELTAS = positiveInt('BENCH_STREAM_DELTAS', 200);
const STREAM_COUNT = positiveInt('BENCH_STREAM_COUNT', 300);
/** Content deltas of the OpenAI SSE answer: with the role, finish and [DONE] events, 21 events. */
const SSE_DELTAS = 18;
const LABELS = ['direct', 'floor', 'gateway'] as const;
type Label = (typeof LABELS)[number];

if (pinning && process.env['BENCH_PINNED'] !== '1') {
  // Re-run this script on core 1 so the load generator stays off the gateway's core.
  const child = spawnSync('taskset', ['-c', '1', process.execPath, fileURLToPath(import.meta.url)], { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } });
  process.exit(child.status ?? 1);
}

const procs = new BenchProcesses();
const gen = pickLoadGenerator();
const emulators = await procs.startEmulators({ BENCH_STREAM_DELTAS: String(STREAM_DELTAS), BENCH_OPENAI_STREAM_DELTAS: String(SSE_DELTAS) });
const port = await freePort();
const { config, key: gatewayKey } = procs.configureGateway(port, '', [
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
]);
const gateway = procs.startGateway(config, process.env['BENCH_GATEWAY_NODE_ARGS']?.split(' ').filter(Boolean));
const gatewayUrl = `http://127.0.0.1:${port}`;
const floor = await procs.startFloor(emulators, gatewayKey);
await Promise.all([waitForHealth(gatewayUrl), waitForHealth(floor.url, 'the floor proxy')]);

const gatewayHeaders = { authorization: `Bearer ${gatewayKey}`, 'content-type': 'application/json' };
const openaiHeaders = { authorization: `Bearer ${PROVIDER_KEY}`, 'content-type': 'application/json' };
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 };
const bedrockBody = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Say hello.' }] }], inferenceConfig: { maxTokens: 16 } });
const bedrockPath = `/model/${encodeURIComponent('anthropic.claude-3-haiku-20240307-v1:0')}/converse`;
const scenarios = {
  'openai-json': targets('openai', emulators.openai, '/v1/chat/completions', openaiHeaders, JSON.stringify(chat), '"content":"Hello from the OpenAI emulator."'),
  'openai-stream': targets('openai', emulators.openai, '/v1/chat/completions', openaiHeaders, JSON.stringify({ ...chat, stream: true }), '"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'),
  // The direct headers are signed when the scenario starts: they are replayed for it only (< 5 minutes).
  'bedrock-json': targets('bedrock', emulators.bedrock, bedrockPath, {}, bedrockBody, '"stopReason":"end_turn"'),
};

log(`load generator: ${gen}; gateway and floor pinned to core 0: ${pinning ? 'yes' : 'no (taskset or a second core missing)'}; ${SECONDS}s per throughput run`);
const results: Record<string, ReturnType<typeof summarise>> = {};
for (const [name, s] of Object.entries(scenarios)) {
  if (name === 'bedrock-json') s.direct.headers = presigned(emulators.bedrock, bedrockPath, bedrockBody);
  results[name] = await runScenario(name, s);
}
const streaming = await runStreaming();
const result = {
  loadGenerator: gen,
  pinned: pinning,
  seconds: SECONDS,
  scenarios: results,
  streaming,
  gatewayRssMb: { ...processMemory(gateway.pid!), ...(await gatewayHeap(gatewayUrl)) },
  floorRssMb: processMemory(floor.pid),
};

if (process.env['BENCH_JSON'] === '1') console.log(JSON.stringify(result, null, 2));
else printTables(result);
procs.stop();

// ---------------------------------------------------------------------------------------------

/**
 * One request three ways: straight to the emulator, through the floor, through the gateway
 * (the floor serves the gateway's transparent paths, so only the origin differs).
 */
function targets(instance: string, upstream: string, path: string, directHeaders: Record<string, string>, body: string, expect: string): Record<Label, Target> {
  const proxied = `/transparent/${instance}${path}`;
  return {
    direct: { label: 'direct', url: upstream, path, headers: directHeaders, body, expect },
    floor: { label: 'floor', url: floor.url, path: proxied, headers: gatewayHeaders, body, expect },
    gateway: { label: 'gateway', url: gatewayUrl, path: proxied, headers: gatewayHeaders, body, expect },
  };
}

async function runScenario(name: string, s: Record<Label, Target>) {
  log(`${name}: warming up`);
  for (const l of LABELS) await throughput(gen, s[l], 16, 3, procs.scratch);
  log(`${name}: concurrency 1, ${LATENCY_COUNT} sequential requests each`);
  const lat = {} as Record<Label, Latencies>;
  for (const l of LABELS) lat[l] = await latencySeries(s[l], LATENCY_COUNT, 60_000);
  const tput: Record<number, Record<Label, Throughput>> = {};
  for (const c of CONCURRENCY) {
    log(`${name}: concurrency ${c}, ${SECONDS}s each`);
    const byLabel = {} as Record<Label, Throughput>;
    for (const l of LABELS) byLabel[l] = await throughput(gen, s[l], c, SECONDS, procs.scratch);
    tput[c] = byLabel;
  }
  return summarise(lat, tput);
}

interface C1 {
  p50Us: number | null;
  p99Us: number | null;
  /** Against direct (null for direct itself). */
  addedP50Us: number | null;
  addedP99Us: number | null;
  requests: number;
  errors: number;
}

interface Rate {
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Against direct at the same concurrency (null for direct itself). */
  addedP50Ms: number | null;
  addedP99Ms: number | null;
  errors: number;
}

/** Figures of runs with any bad answer are null: they are not throughput or latency. */
function summarise(lat: Record<Label, Latencies>, tput: Record<number, Record<Label, Throughput>>) {
  const diff = (a: number | null, b: number | null, digits: number) => (a === null || b === null ? null : round(a - b, digits));
  const c1 = (l: Label): C1 => {
    const good = lat[l].errors === 0 && lat[l].count > 0;
    const p50Us = good ? round(lat[l].p50Us) : null;
    const p99Us = good ? round(lat[l].p99Us) : null;
    const direct = l === 'direct' ? undefined : c1('direct');
    return { p50Us, p99Us, addedP50Us: direct ? diff(p50Us, direct.p50Us, 0) : null, addedP99Us: direct ? diff(p99Us, direct.p99Us, 0) : null, requests: lat[l].count, errors: lat[l].errors };
  };
  const rate = (t: Throughput, direct: Rate | undefined): Rate => {
    const good = t.errors === 0;
    const p50Ms = good ? round(t.p50Ms, 2) : null;
    const p99Ms = good ? round(t.p99Ms, 2) : null;
    return { rps: good ? round(t.rps) : null, p50Ms, p99Ms, addedP50Ms: direct ? diff(p50Ms, direct.p50Ms, 2) : null, addedP99Ms: direct ? diff(p99Ms, direct.p99Ms, 2) : null, errors: t.errors };
  };
  const ratio = (a: Rate, b: Rate) => (a.rps === null || b.rps === null ? null : round(a.rps / b.rps, 3));
  return {
    latencyC1: { direct: c1('direct'), floor: c1('floor'), gateway: c1('gateway') },
    throughput: Object.fromEntries(
      CONCURRENCY.map((c) => {
        const direct = rate(tput[c]!.direct, undefined);
        const floor = rate(tput[c]!.floor, direct);
        const gateway = rate(tput[c]!.gateway, direct);
        return [c, { direct, floor, gateway, gatewayToFloor: ratio(gateway, floor), gatewayToDirect: ratio(gateway, direct), floorToDirect: ratio(floor, direct) }];
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
  const chatBody = JSON.stringify({ model: 'anthropic.claude-3-haiku-20240307-v1:0', stream: true, messages: [{ role: 'user', content: 'Say hello.' }] });
  const streamTargets: Target[] = [
    { label: 'direct', url: emulators.bedrock, path, headers: presigned(emulators.bedrock, path, bedrockBody), body: bedrockBody, expect: '' },
    { label: 'transparent', url: gatewayUrl, path: `/transparent/bedrock${path}`, headers: gatewayHeaders, body: bedrockBody, expect: '' },
    { label: 'protocol', url: gatewayUrl, path: '/openai/bedrock/chat/completions', headers: gatewayHeaders, body: chatBody, expect: '' },
  ];
  log(`streaming: ${STREAM_COUNT} ConverseStream answers of ${STREAM_DELTAS} deltas each, per path`);
  const times: Record<string, StreamTimes> = {};
  for (const t of streamTargets) {
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

/** V8's heap and external memory as the gateway reports them on /metrics, in MB. */
async function gatewayHeap(url: string): Promise<{ heapTotal: number; external: number }> {
  const m = await gatewayMetrics(url, ['llmproxy_nodejs_heap_size_total_bytes', 'llmproxy_nodejs_external_memory_bytes']);
  const mb = (n: number | undefined) => round((n ?? NaN) / 1024 / 1024, 1);
  return { heapTotal: mb(m['llmproxy_nodejs_heap_size_total_bytes']), external: mb(m['llmproxy_nodejs_external_memory_bytes']) };
}

function printTables(r: typeof result): void {
  const ms = (us: number | null) => (us === null ? 'n/a' : `${(us / 1000).toFixed(3)} ms`);
  const plus = (n: number | null) => (n === null ? 'n/a' : `${n >= 0 ? '+' : ''}${n.toFixed(2)}`);
  const rps = (t: Rate) => (t.rps === null ? `${t.errors} ERRORS` : String(t.rps));
  const ratio = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2));
  const lines: string[] = [`load generator ${r.loadGenerator}, ${r.seconds} s per run; gateway and floor pinned to core 0: ${r.pinned ? 'yes' : 'no'}`];
  for (const [name, s] of Object.entries(r.scenarios)) {
    lines.push(
      '',
      `${name}, concurrency 1 (sequential, one keep-alive connection):`,
      '             p50        added p50   p99        added p99   errors',
      ...LABELS.map((l) => {
        const t = s.latencyC1[l];
        const added = (us: number | null) => (l === 'direct' ? '' : ms(us));
        return `  ${l.padEnd(10)} ${ms(t.p50Us).padEnd(10)} ${added(t.addedP50Us).padEnd(11)} ${ms(t.p99Us).padEnd(10)} ${added(t.addedP99Us).padEnd(11)} ${t.errors}`;
      }),
      `${name}, throughput (added latency against direct, ms):`,
      '  conc | direct req/s | floor req/s | gateway req/s | gateway/floor | gateway/direct | floor added p50 / p99 | gateway added p50 / p99',
      ...Object.entries(s.throughput).map(
        ([c, t]) =>
          `  ${c.padStart(4)} | ${rps(t.direct).padStart(12)} | ${rps(t.floor).padStart(11)} | ${rps(t.gateway).padStart(13)} | ${ratio(t.gatewayToFloor).padStart(13)} | ${ratio(t.gatewayToDirect).padStart(14)} | ${`${plus(t.floor.addedP50Ms)} / ${plus(t.floor.addedP99Ms)}`.padStart(21)} | ${`${plus(t.gateway.addedP50Ms)} / ${plus(t.gateway.addedP99Ms)}`.padStart(23)}`,
      ),
    );
  }
  const st = r.streaming;
  lines.push(
    '',
    `streaming: ConverseStream with ${st.deltas} deltas, ${st.streams} sequential streams per path (medians)`,
    ...(['direct', 'transparent', 'protocol'] as const).map((k) => `  ${k.padEnd(11)} first byte ${ms(st[k].firstByteP50Us)} (added ${ms(st[k].addedFirstByteUs)})   whole stream ${ms(st[k].totalP50Us)} (added ${st[k].addedPerChunkUs.toFixed(2)} µs per chunk)   ${st[k].bytes} bytes`),
    '',
    `gateway memory: peak RSS ${r.gatewayRssMb.peak} MB, RSS at end ${r.gatewayRssMb.now} MB (V8 heap ${r.gatewayRssMb.heapTotal} MB, external ${r.gatewayRssMb.external} MB)`,
    `floor memory: peak RSS ${r.floorRssMb.peak} MB, RSS at end ${r.floorRssMb.now} MB`,
    '',
  );
  console.log(lines.join('\n'));
}
