import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { BenchProcesses, fileLimits, freePort, gatewayMetrics, log, onCore, openFds, positiveInt, processMemory, PROVIDER_KEY, round, waitForHealth } from './processes.js';

/**
 * `node dist/bench/streams.js` (run by `npm run bench` after run.js): BENCH_STREAMS (default
 * 10000) SSE streams held open at once through one gateway, in transparent mode with API-key
 * auth, from a slow model — the OpenAI emulator sending one event a second for
 * BENCH_STREAM_SECONDS (default 20). Meanwhile, ten short non-streaming chat completions a
 * second go through the gateway (and, for comparison, straight to the emulator).
 *
 * Reported: how many streams completed whole (a 200, every event, `data: [DONE]` last) and why
 * the others did not; the gateway's peak RSS (VmHWM) and its RSS with every stream open; its
 * event-loop delay p50/p99/max (eventLoopDelay()) and the short requests' p50/p99/max, each in
 * two phases: while the streams are being opened (OPENING_AT_ONCE waiting at a time: a
 * connection storm) and while they are held, from the last one opened to the last one ended.
 * And whether each goal of issue 15 is met, the latency goals judged while held: all complete,
 * no errors, RSS ≤ 1 GB, event-loop delay p99 ≤ 50 ms, short-request p99 ≤ 50 ms. BENCH_JSON=1
 * prints the figures as JSON.
 *
 * File descriptors: the gateway holds two per stream (the client's connection and its own to
 * the upstream). Node cannot raise its limit, so the script re-runs itself under
 * `ulimit -n` (up to 65536, or the hard limit when lower); the gateway and emulators inherit it.
 * When the limit still cannot hold every stream, the run opens as many as fit and says so.
 *
 * Placement: the gateway on core 0, the emulators and this load side (node:http, one socket per
 * stream) on core 1. Bounded: opening stops after OPEN_MS, streams are cut at their own
 * deadline, and the whole run is killed at DEADLINE_MS.
 */

const STREAMS = positiveInt('BENCH_STREAMS', 10_000);
const STREAM_SECONDS = positiveInt('BENCH_STREAM_SECONDS', 20);
/** Content deltas so that the stream lasts STREAM_SECONDS: the role and finish events and [DONE] add three, one second apart. */
const DELTAS = Math.max(0, STREAM_SECONDS - 2);
const EVENTS = DELTAS + 3;
const SHORT_PER_SECOND = 10;
/** Streams waiting for their response head at once while opening: as fast as the gateway accepts, without a SYN flood. */
const OPENING_AT_ONCE = 64;
const OPEN_MS = 120_000;
const STREAM_DEADLINE_MS = OPEN_MS + (STREAM_SECONDS + 30) * 1000;
const DEADLINE_MS = 60_000 + STREAM_DEADLINE_MS;
const FD_WANTED = 65_536;
/** Descriptors the gateway needs besides two per stream: short requests, the store, its log, slack. */
const FD_MARGIN = 64;
const GOALS = { rssMb: 1024, eventLoopP99Ms: 50, shortP99Ms: 50 };

if (process.env['BENCH_STREAMS_CHILD'] !== '1') {
  // Re-run under a raised descriptor limit (node has no setrlimit), on core 1.
  const { hard } = fileLimits('self');
  const soft = Math.min(FD_WANTED, hard);
  const [cmd, args] = onCore(1, [fileURLToPath(import.meta.url)]);
  const child = spawnSync('bash', ['-c', 'ulimit -n "$0" && exec "$@"', String(soft), cmd, ...args], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_STREAMS_CHILD: '1' },
    // The child kills its gateway and emulators at its own deadline; this is the last resort.
    timeout: DEADLINE_MS + 30_000,
    killSignal: 'SIGTERM',
  });
  process.exit(child.status ?? 1);
}

const procs = new BenchProcesses();
const deadline = setTimeout(() => {
  console.error(`bench: the open-streams run passed its ${DEADLINE_MS / 1000} s deadline: stopped`);
  process.exit(2);
}, DEADLINE_MS);

const emulators = await procs.startEmulators({ BENCH_OPENAI_STREAM_DELTAS: String(DELTAS), BENCH_OPENAI_CHUNK_DELAY_MS: '1000' });
const port = await freePort();
// The defaults allow 512 connections per client address: every stream here comes from 127.0.0.1.
const connectionLimits = `max_connections: ${STREAMS + 1000}, max_connections_per_client: ${STREAMS + 1000}`;
const { config, key } = procs.configureGateway(port, connectionLimits, [
  '  openai:',
  '    type: openai',
  `    endpoint: ${emulators.openai}`,
  '    authentication: { type: api_key, api_key: "${env:BENCH_PROVIDER_KEY}" }',
]);
const gateway = procs.startGateway(config, process.env['BENCH_GATEWAY_NODE_ARGS']?.split(' ').filter(Boolean));
const gatewayUrl = `http://127.0.0.1:${port}`;
await waitForHealth(gatewayUrl);

const path = '/transparent/openai/v1/chat/completions';
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 };
const streamBody = JSON.stringify({ ...chat, stream: true });
const shortBody = JSON.stringify(chat);
const SHORT_EXPECT = '"content":"Hello from the OpenAI emulator."';
const DONE = Buffer.from('data: [DONE]\n\n');

const shortGateway = new Pool(gatewayUrl, { connections: 8, headersTimeout: 5000, bodyTimeout: 5000 });
const shortDirect = new Pool(emulators.openai, { connections: 8, headersTimeout: 5000, bodyTimeout: 5000 });
// Counted before the warm-up: the upstream connections it leaves in the gateway's pool are reused by the streams.
const fds = { gatewayLimit: fileLimits(gateway.pid!).soft, gatewayHardLimit: fileLimits(gateway.pid!).hard, gatewayAtStart: openFds(gateway.pid!), ownLimit: fileLimits('self').soft };
// Warm-up: short requests, and streams read to their first event.
for (let i = 0; i < 50; i++) await shortRequest(shortGateway, path, headers);
await Promise.all(Array.from({ length: 50 }, firstEvent));
// The gateway holds two descriptors per stream, this process and the emulators one each.
const fitting = Math.min(Math.floor((fds.gatewayLimit - fds.gatewayAtStart - FD_MARGIN) / 2), fds.ownLimit - openFds(process.pid) - FD_MARGIN);
const streams = Math.min(STREAMS, fitting);
const limitedBy =
  streams < STREAMS
    ? `open-file limit: the gateway may open ${fds.gatewayLimit} descriptors (hard limit, ulimit -Hn: ${fds.gatewayHardLimit}), holds ${fds.gatewayAtStart} and needs two per stream (client and upstream) plus ${FD_MARGIN}`
    : undefined;
if (limitedBy) log(`CANNOT open ${STREAMS} streams: ${limitedBy}. Opening ${streams}.`);
const rssBefore = processMemory(gateway.pid!).now;

await eventLoopDelay(); // from here
const run = await openStreams(streams);
const memory = processMemory(gateway.pid!);
await Promise.all([shortGateway.close(), shortDirect.close()]);

const completed = run.outcomes['ok'] ?? 0;
const errors = streams - completed + run.short.gateway.errors;
const result = {
  requested: STREAMS,
  streams,
  limitedBy: limitedBy ?? null,
  streamSeconds: STREAM_SECONDS,
  eventsPerStream: EVENTS,
  fileDescriptors: { ...fds, gatewayPeak: run.peakFds },
  openedInMs: run.openedInMs,
  peakOpen: run.peakOpen,
  completed,
  failures: Object.fromEntries(Object.entries(run.outcomes).filter(([k]) => k !== 'ok')),
  wallSeconds: round(run.wallMs / 1000, 1),
  gatewayRssMb: { beforeStreams: rssBefore, peakSampled: run.peakRssMb, peak: memory.peak, atEnd: memory.now },
  gatewayEventLoopDelayMs: run.eventLoop,
  shortRequests: run.short,
  /** The latency goals are judged while the streams are held; the opening figures are shown beside them. */
  goals: {
    allOpenAtOnce: run.peakOpen === STREAMS,
    allComplete: completed === STREAMS,
    noErrors: errors === 0,
    rss: memory.peak <= GOALS.rssMb,
    eventLoopP99: run.eventLoop.whileHolding.p99 <= GOALS.eventLoopP99Ms,
    shortP99: run.short.whileHolding.gateway.p99Ms !== null && run.short.whileHolding.gateway.p99Ms <= GOALS.shortP99Ms,
  },
};

if (process.env['BENCH_JSON'] === '1') console.log(JSON.stringify(result, null, 2));
else printReport(result);
clearTimeout(deadline);
procs.stop();

// ---------------------------------------------------------------------------------------------

interface ShortLatencies {
  sent: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/**
 * Opens `count` streams, OPENING_AT_ONCE at a time, and holds them to their end while sending
 * short requests and sampling the gateway's memory and descriptors every second.
 */
async function openStreams(count: number) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: count });
  const live = new Set<http.ClientRequest>();
  const outcomes: Record<string, number> = {};
  let open = 0;
  let peakOpen = 0;
  let peakRssMb = 0;
  let peakFds = 0;
  // Short requests by phase: while the streams are being opened (a connection storm), then while they are held.
  type Sent = Array<Promise<number | undefined>>;
  const short = { opening: { gateway: [] as Sent, direct: [] as Sent }, holding: { gateway: [] as Sent, direct: [] as Sent } };
  let phase: keyof typeof short = 'opening';
  const started = performance.now();
  const shortTimer = setInterval(() => {
    short[phase].gateway.push(shortRequest(shortGateway, path, headers));
    short[phase].direct.push(shortRequest(shortDirect, '/v1/chat/completions', { authorization: `Bearer ${PROVIDER_KEY}`, 'content-type': 'application/json' }));
  }, 1000 / SHORT_PER_SECOND);
  const sampler = setInterval(() => {
    peakRssMb = Math.max(peakRssMb, processMemory(gateway.pid!).now);
    peakFds = Math.max(peakFds, openFds(gateway.pid!));
  }, 1000);
  const streamDeadline = setTimeout(() => {
    for (const req of live) req.destroy(new Error('deadline'));
  }, STREAM_DEADLINE_MS);

  const finished: Array<Promise<string>> = [];
  let next = 0;
  const openUntil = performance.now() + OPEN_MS;
  const opener = async () => {
    while (next < count && performance.now() < openUntil) {
      if (++next % 1000 === 0) log(`${next} streams started after ${((performance.now() - started) / 1000).toFixed(1)} s, ${open} open`);
      const s = oneStream(agent, live, () => (peakOpen = Math.max(peakOpen, ++open)), () => open--);
      finished.push(s.finished);
      await s.headed;
    }
  };
  log(`opening ${count} streams of ${STREAM_SECONDS} s through the gateway`);
  await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, count) }, opener));
  const openedInMs = round(performance.now() - started);
  phase = 'holding';
  const whileOpening = await eventLoopDelay();
  log(`${next} streams opened in ${(openedInMs / 1000).toFixed(1)} s; holding them to the end`);
  for (const outcome of await Promise.all(finished)) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  if (next < count) outcomes['not opened in time'] = count - next;
  const wallMs = performance.now() - started;
  const whileHolding = await eventLoopDelay();
  clearInterval(shortTimer);
  clearInterval(sampler);
  clearTimeout(streamDeadline);
  agent.destroy();
  const settled = async (sent: { gateway: Sent; direct: Sent }) => ({ gateway: await Promise.all(sent.gateway), direct: await Promise.all(sent.direct) });
  const [opening, holding] = [await settled(short.opening), await settled(short.holding)];
  return {
    outcomes,
    openedInMs,
    peakOpen,
    peakRssMb,
    peakFds,
    wallMs,
    eventLoop: { whileOpening, whileHolding },
    short: {
      gateway: latencies([...opening.gateway, ...holding.gateway]),
      direct: latencies([...opening.direct, ...holding.direct]),
      whileOpening: { gateway: latencies(opening.gateway), direct: latencies(opening.direct) },
      whileHolding: { gateway: latencies(holding.gateway), direct: latencies(holding.direct) },
    },
  };
}

/**
 * One streamed chat completion. `headed` settles when its response head arrives (or it fails);
 * `finished` with "ok" when the stream was a 200 carrying every event and `data: [DONE]` last,
 * else with what went wrong.
 */
function oneStream(agent: http.Agent, live: Set<http.ClientRequest>, opened: () => void, closed: () => void): { headed: Promise<void>; finished: Promise<string> } {
  let head!: () => void;
  const headed = new Promise<void>((r) => (head = r));
  const finished = new Promise<string>((resolve) => {
    const req = http.request({ agent, host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(streamBody) } });
    live.add(req);
    const settle = (outcome: string) => {
      live.delete(req);
      head();
      resolve(outcome);
    };
    req.on('error', (err) => settle(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.on('response', (res) => {
      head();
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', () => settle(`status ${res.statusCode}`));
        return;
      }
      opened();
      let events = 0;
      let lastByte = 0;
      let tail = Buffer.alloc(0);
      res.on('data', (chunk: Buffer) => {
        // Events end with a blank line; one may straddle two chunks.
        if (lastByte === 10 && chunk[0] === 10) events++;
        for (let i = chunk.indexOf('\n\n'); i !== -1; i = chunk.indexOf('\n\n', i + 2)) events++;
        lastByte = chunk[chunk.length - 1] ?? lastByte;
        tail = Buffer.concat([tail.subarray(-DONE.length), chunk.subarray(-DONE.length)]).subarray(-DONE.length);
      });
      res.on('error', () => undefined); // 'close' below reports it
      res.on('close', () => {
        closed();
        if (!res.complete) settle('cut short');
        else if (events !== EVENTS || !tail.equals(DONE)) settle(`incomplete (${events} of ${EVENTS} events)`);
        else settle('ok');
      });
    });
    req.end(streamBody);
  });
  return { headed, finished };
}

/**
 * The gateway's event-loop delay p50/p99/max in ms since the previous call: prom-client's
 * monitorEventLoopDelay histogram on /metrics, which each scrape resets. It samples every 10 ms
 * and counts that interval in: an idle loop reads about 10.1 ms.
 */
async function eventLoopDelay(): Promise<{ p50: number; p99: number; max: number }> {
  const names = ['p50', 'p99', 'max'] as const;
  const m = await gatewayMetrics(gatewayUrl, names.map((n) => `llmproxy_nodejs_eventloop_lag_${n}_seconds`));
  const ms = (n: (typeof names)[number]) => round(m[`llmproxy_nodejs_eventloop_lag_${n}_seconds`]! * 1000, 1);
  return { p50: ms('p50'), p99: ms('p99'), max: ms('max') };
}

/** Opens a stream and hangs up after its first event (warm-up; gives up after 10 s). */
function firstEvent(): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers, timeout: 10_000 }, (res) => res.once('data', () => req.destroy()));
    req.on('close', resolve);
    req.on('timeout', () => req.destroy());
    req.on('error', () => undefined);
    req.end(streamBody);
  });
}

/** One non-streaming chat completion: its latency in ms, or undefined when it failed or was not the emulator's answer. */
async function shortRequest(pool: Pool, requestPath: string, requestHeaders: Record<string, string>): Promise<number | undefined> {
  const start = performance.now();
  try {
    const res = await pool.request({ method: 'POST', path: requestPath, headers: requestHeaders, body: shortBody });
    const text = await res.body.text();
    return res.statusCode === 200 && text.includes(SHORT_EXPECT) ? performance.now() - start : undefined;
  } catch {
    return undefined;
  }
}

function latencies(results: Array<number | undefined>): ShortLatencies {
  const samples = results.filter((ms) => ms !== undefined).sort((a, b) => a - b);
  const sent = results.length;
  const errors = sent - samples.length;
  const at = (p: number) => (samples.length === 0 ? null : round(samples[Math.min(samples.length - 1, Math.floor(samples.length * p))]!, 2));
  return { sent, errors, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: samples.length === 0 ? null : round(samples[samples.length - 1]!, 2) };
}

function printReport(r: typeof result): void {
  const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const ms = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2)).padStart(8);
  const short = (label: string, s: ShortLatencies) => `    ${label.padEnd(28)} ${String(s.sent).padStart(5)} ${String(s.errors).padStart(7)} ${ms(s.p50Ms)} ${ms(s.p99Ms)} ${ms(s.maxMs)}`;
  const sr = r.shortRequests;
  const lag = (l: { p50: number; p99: number; max: number }) => `${l.p50} / ${l.p99} / ${l.max} ms`;
  const lines = [
    '',
    `open streams: ${r.streams} concurrent SSE streams of ${r.eventsPerStream} events, one a second, through the gateway (transparent, API-key auth)`,
    ...(r.limitedBy ? [`  NOT the ${r.requested} asked for: ${r.limitedBy}`] : []),
    `  descriptors: gateway limit ${r.fileDescriptors.gatewayLimit}, ${r.fileDescriptors.gatewayAtStart} open before, ${r.fileDescriptors.gatewayPeak} at peak`,
    `  opened in ${(r.openedInMs / 1000).toFixed(1)} s, ${r.peakOpen} open at once at peak, all done after ${r.wallSeconds} s`,
    ...(r.peakOpen < r.streams ? ['  NOT all open at once: the first ended before the last opened (opening was slow); a longer BENCH_STREAM_SECONDS holds them all'] : []),
    `  completed ${r.completed} of ${r.streams}${Object.keys(r.failures).length ? `; failures: ${Object.entries(r.failures).map(([k, v]) => `${v} ${k}`).join(', ')}` : ''}`,
    `  gateway RSS: ${r.gatewayRssMb.beforeStreams} MB before, ${r.gatewayRssMb.peakSampled} MB at most while open (sampled each second), peak (VmHWM) ${r.gatewayRssMb.peak} MB, ${r.gatewayRssMb.atEnd} MB at end`,
    `  gateway event-loop delay (its /metrics; 10 ms sampling counted in, idle reads 10.1 ms), p50 / p99 / max:`,
    `    while opening ${lag(r.gatewayEventLoopDelayMs.whileOpening)}; while held ${lag(r.gatewayEventLoopDelayMs.whileHolding)}`,
    `  short requests meanwhile (${SHORT_PER_SECOND}/s, a non-streaming chat completion), ms:`,
    '                                  sent  errors      p50      p99      max',
    short('via gateway, whole run', sr.gateway),
    short('via gateway, while opening', sr.whileOpening.gateway),
    short('via gateway, while held', sr.whileHolding.gateway),
    short('direct, whole run', sr.direct),
    short('direct, while opening', sr.whileOpening.direct),
    short('direct, while held', sr.whileHolding.direct),
    `  goals (latency while held): all open at once ${mark(r.goals.allOpenAtOnce)}; all complete ${mark(r.goals.allComplete)}; no errors ${mark(r.goals.noErrors)}; peak RSS <= ${GOALS.rssMb} MB ${mark(r.goals.rss)}; event-loop delay p99 <= ${GOALS.eventLoopP99Ms} ms ${mark(r.goals.eventLoopP99)}; short-request p99 <= ${GOALS.shortP99Ms} ms ${mark(r.goals.shortP99)}`,
    '',
  ];
  console.log(lines.join('\n'));
}
