import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { BenchProcesses, cpuTime, fileLimits, freePort, gatewayMetrics, log, onCore, openFds, positiveInt, processMemory, PROVIDER_KEY, round, waitForHealth } from './processes.js';

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
 * Each short request through the gateway is split, from the gateway's log line for it, into the
 * gateway's own time and its upstream's (upstream_ms: sent to answer head); and the CPU time of
 * the gateway, the emulators and this load side, run and waiting on a run queue (schedstat), per
 * phase: a process that waits long for a CPU is slowed by other load on its core, not by itself.
 * And whether each goal of issue 15 is met, the latency goals judged while held: all complete,
 * no errors, RSS ≤ 1 GB, event-loop delay p99 ≤ 50 ms, short-request p99 ≤ 50 ms. BENCH_JSON=1
 * prints the figures as JSON.
 *
 * File descriptors: over HTTP/1 the gateway holds two per stream (the client's connection and
 * its own to the upstream). Node cannot raise its limit, so the script re-runs itself under
 * `ulimit -n` (up to 65536, or the hard limit when lower); the gateway and emulators inherit it.
 *
 * Client mode, BENCH_STREAMS_CLIENT: `h1` opens each stream on its own HTTP/1.1 connection (as
 * most SDKs do); `h2` opens them STREAMS_PER_SESSION to an HTTP/2 session (h2c with prior
 * knowledge, which the gateway serves on the same port), so the gateway holds one descriptor per
 * stream (its upstream connection) and a few client connections. Default: h1 when the gateway's
 * limit holds two descriptors per stream, else h2 — on a machine whose hard limit cannot be raised
 * (a deployment raises it), h2 is how the full count runs. When even that cannot hold every
 * stream, the run opens as many as fit and says so.
 *
 * Placement: the gateway on core 0, the emulators and this load side (node:http or node:http2)
 * on core 1. Bounded: opening stops after OPEN_MS, streams are cut at their own
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
/** Descriptors the gateway needs besides its per-stream ones: short requests, the store, its log, slack. */
const FD_MARGIN = 64;
/**
 * HTTP/2 client mode: streams per session. Neither node's client nor the gateway's server limits
 * concurrent streams per session (SETTINGS_MAX_CONCURRENT_STREAMS 2^32-1); 100 is the limit most
 * HTTP/2 servers announce (nginx: 128), and node's 10 MB per-session memory cap (maxSessionMemory)
 * is far from reached by 100 slow streams.
 */
const STREAMS_PER_SESSION = 100;
const GOALS = { rssMb: 1024, eventLoopP99Ms: 50, shortP99Ms: 50 };
/** Run-queue wait (ms per second) above which a process is reported as slowed by other load on its core. */
const CONTENDED_WAIT_MS = 100;
type ClientMode = 'h1' | 'h2';
const CLIENT_MODE = clientModeAsked();

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
const gatewaySpare = fds.gatewayLimit - fds.gatewayAtStart - FD_MARGIN;
const ownSpare = fds.ownLimit - openFds(process.pid) - FD_MARGIN;
const client = clientMode();
log(`client mode ${client.mode}: ${client.why}`);
const fitting = fittingStreams(client.mode);
const streams = Math.min(STREAMS, fitting);
const limitedBy =
  streams < STREAMS
    ? `open-file limit: the gateway may open ${fds.gatewayLimit} descriptors (hard limit, ulimit -Hn: ${fds.gatewayHardLimit}), holds ${fds.gatewayAtStart} and needs ${client.mode === 'h1' ? 'two per stream (client and upstream)' : `one per stream (upstream) and one per ${STREAMS_PER_SESSION} (client session)`} plus ${FD_MARGIN}`
    : undefined;
if (limitedBy) log(`CANNOT open ${STREAMS} streams: ${limitedBy}. Opening ${streams}.`);
const rssBefore = processMemory(gateway.pid!).now;

await eventLoopDelay(); // from here
const run = await openStreams(client.mode, streams);
const memory = processMemory(gateway.pid!);
await Promise.all([shortGateway.close(), shortDirect.close()]);
// The log is read once the gateway has exited: it flushes its last lines then.
procs.stop();
await Promise.race([once(gateway, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
const logged = loggedTimes(procs.gatewayLog);
const shortRequests = {
  ...run.short,
  gatewaySplit: { whileOpening: gatewaySplit(run.shortSent.opening.gateway, logged), whileHolding: gatewaySplit(run.shortSent.holding.gateway, logged) },
};

const completed = run.outcomes['ok'] ?? 0;
const errors = streams - completed + run.short.gateway.errors;
const result = {
  requested: STREAMS,
  streams,
  client,
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
  shortRequests,
  cpuMsPerSecond: run.cpu,
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

// ---------------------------------------------------------------------------------------------

interface ShortLatencies {
  sent: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** A short request that got the emulator's answer: its latency, and the gateway's request id (X-LLMProxy-Request-Id). */
type ShortResult = { ms: number; id: string | undefined } | undefined;

/** Run and run-queue wait (ms per second of the phase) of the gateway, the emulators and this process. */
type CpuShares = Record<'gateway' | 'emulators' | 'loadSide', { run: number; wait: number }>;

/**
 * Opens `count` streams, OPENING_AT_ONCE at a time, and holds them to their end while sending
 * short requests and sampling the gateway's memory and descriptors every second.
 */
async function openStreams(mode: ClientMode, count: number) {
  const client = streamClient(mode, count);
  const live: StreamHooks['live'] = new Set();
  const outcomes: Record<string, number> = {};
  let open = 0;
  let peakOpen = 0;
  const hooks: StreamHooks = { live, opened: () => (peakOpen = Math.max(peakOpen, ++open)), closed: () => open-- };
  let peakRssMb = 0;
  let peakFds = 0;
  // Short requests by phase: while the streams are being opened (a connection storm), then while they are held.
  type Sent = Array<Promise<ShortResult>>;
  const short = { opening: { gateway: [] as Sent, direct: [] as Sent }, holding: { gateway: [] as Sent, direct: [] as Sent } };
  let phase: keyof typeof short = 'opening';
  const started = performance.now();
  const cpu = [cpuSample()];
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
      const index = next;
      if (++next % 1000 === 0) log(`${next} streams started after ${((performance.now() - started) / 1000).toFixed(1)} s, ${open} open`);
      const s = client.open(index, hooks);
      finished.push(s.finished);
      await s.headed;
    }
  };
  log(`opening ${count} streams of ${STREAM_SECONDS} s through the gateway`);
  await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, count) }, opener));
  const openedInMs = round(performance.now() - started);
  phase = 'holding';
  cpu.push(cpuSample());
  const whileOpening = await eventLoopDelay();
  log(`${next} streams opened in ${(openedInMs / 1000).toFixed(1)} s; holding them to the end`);
  for (const outcome of await Promise.all(finished)) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  if (next < count) outcomes['not opened in time'] = count - next;
  const wallMs = performance.now() - started;
  cpu.push(cpuSample());
  const whileHolding = await eventLoopDelay();
  clearInterval(shortTimer);
  clearInterval(sampler);
  clearTimeout(streamDeadline);
  client.close();
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
    cpu: { whileOpening: cpuShares(cpu[0]!, cpu[1]!), whileHolding: cpuShares(cpu[1]!, cpu[2]!) },
    shortSent: { opening, holding },
    short: {
      gateway: latencies([...opening.gateway, ...holding.gateway]),
      direct: latencies([...opening.direct, ...holding.direct]),
      whileOpening: { gateway: latencies(opening.gateway), direct: latencies(opening.direct) },
      whileHolding: { gateway: latencies(holding.gateway), direct: latencies(holding.direct) },
    },
  };
}

/** What the load side knows of one stream while it runs. */
interface StreamHooks {
  /** Streams not yet ended, which the stream deadline cuts. */
  live: Set<{ destroy(error?: Error): unknown }>;
  /** Its 200 head arrived. */
  opened(): void;
  /** It ended, after opened(). */
  closed(): void;
}

/**
 * One streamed chat completion. `headed` settles when its response head arrives (or it fails);
 * `finished` with "ok" when the stream was a 200 carrying every event and `data: [DONE]` last,
 * else with what went wrong.
 */
interface OpenedStream {
  headed: Promise<void>;
  finished: Promise<string>;
}

/** How the streams reach the gateway: one connection each (h1), or STREAMS_PER_SESSION to an HTTP/2 session (h2). */
interface StreamClient {
  open(index: number, hooks: StreamHooks): OpenedStream;
  /** Ends every connection still open. */
  close(): void;
}

/** The client mode asked for (BENCH_STREAMS_CLIENT), else h1 when the gateway's descriptor limit holds it; and why. */
function clientMode(): { mode: ClientMode; why: string } {
  if (CLIENT_MODE !== undefined) return { mode: CLIENT_MODE, why: `BENCH_STREAMS_CLIENT=${CLIENT_MODE}` };
  if (fittingStreams('h1') >= STREAMS) return { mode: 'h1', why: `one HTTP/1.1 connection per stream; the gateway's descriptor limit (${fds.gatewayLimit}) holds two per stream` };
  return {
    mode: 'h2',
    why:
      `the gateway's descriptor limit (${fds.gatewayLimit}, hard limit ${fds.gatewayHardLimit}: not raisable here) cannot hold two per stream over HTTP/1.1 ` +
      `(client and upstream connection), so the streams share HTTP/2 sessions (h2c), ${STREAMS_PER_SESSION} to a session, and the gateway holds one per stream. ` +
      'A deployment raises the limit (ulimit -n, systemd LimitNOFILE, the container\'s nofile) and serves one connection per stream; on this machine h2 is how the full count runs',
  };
}

/** Streams that fit the descriptor limits in `mode`: the gateway's (h1: two per stream; h2: one, plus one per session) and this process's. */
function fittingStreams(mode: ClientMode): number {
  if (mode === 'h1') return Math.min(Math.floor(gatewaySpare / 2), ownSpare);
  return Math.min(Math.floor((gatewaySpare * STREAMS_PER_SESSION) / (STREAMS_PER_SESSION + 1)), ownSpare * STREAMS_PER_SESSION);
}

function streamClient(mode: ClientMode, count: number): StreamClient {
  if (mode === 'h1') {
    const agent = new http.Agent({ keepAlive: false, maxSockets: count });
    return { open: (_index, hooks) => h1Stream(agent, hooks), close: () => agent.destroy() };
  }
  const sessions: http2.ClientHttp2Session[] = [];
  return {
    open: (index, hooks) => h2Stream((sessions[Math.floor(index / STREAMS_PER_SESSION)] ??= h2Session()), hooks),
    close: () => {
      for (const s of sessions) s.destroy();
    },
  };
}

/** Runs `start` with `head` (the response head arrived) and `settle` (the outcome: also settles the head). */
function openedStream(start: (head: () => void, settle: (outcome: string) => void) => void): OpenedStream {
  let head!: () => void;
  const headed = new Promise<void>((r) => (head = r));
  const finished = new Promise<string>((resolve) =>
    start(head, (outcome) => {
      head();
      resolve(outcome);
    }),
  );
  return { headed, finished };
}

/** A stream on its own HTTP/1.1 connection. */
function h1Stream(agent: http.Agent, hooks: StreamHooks): OpenedStream {
  return openedStream((head, settle) => {
    const req = http.request({ agent, host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(streamBody) } });
    hooks.live.add(req);
    const done = (outcome: string) => {
      hooks.live.delete(req);
      settle(outcome);
    };
    req.on('error', (err) => done(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.on('response', (res) => {
      head();
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', () => done(`status ${res.statusCode}`));
        return;
      }
      hooks.opened();
      const events = eventCount();
      res.on('data', (chunk: Buffer) => events.push(chunk));
      res.on('error', () => undefined); // 'close' below reports it
      res.on('close', () => {
        hooks.closed();
        done(events.verdict(res.complete));
      });
    });
    req.end(streamBody);
  });
}

/** An HTTP/2 session to the gateway (h2c, prior knowledge); a session failure reaches its streams as theirs. */
function h2Session(): http2.ClientHttp2Session {
  const session = http2.connect(gatewayUrl);
  session.on('error', () => undefined);
  return session;
}

/** A stream on a shared HTTP/2 session. */
function h2Stream(session: http2.ClientHttp2Session, hooks: StreamHooks): OpenedStream {
  return openedStream((head, settle) => {
    const stream = session.request({ ':method': 'POST', ':path': path, ...headers, 'content-length': Buffer.byteLength(streamBody) });
    hooks.live.add(stream);
    const events = eventCount();
    let status: number | undefined;
    let error: string | undefined;
    stream.on('response', (h) => {
      head();
      status = Number(h[':status']);
      if (status !== 200) {
        stream.resume();
        return;
      }
      hooks.opened();
      stream.on('data', (chunk: Buffer) => events.push(chunk));
    });
    stream.on('error', (err) => (error ??= `error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    stream.on('close', () => {
      hooks.live.delete(stream);
      if (status === 200) hooks.closed();
      if (status === undefined) settle(error ?? 'error: closed before its response');
      else if (status !== 200) settle(`status ${status}`);
      // A whole stream ends with END_STREAM; a reset (the gateway cutting it) carries an error code.
      else settle(events.verdict(stream.readableEnded && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR));
    });
    stream.end(streamBody);
  });
}

/**
 * Counts a stream's SSE events as its chunks arrive and keeps its last bytes, to judge it whole
 * once it ends. (A function, not a class: the top-level run calls it before a class declared
 * here would be initialised.)
 */
function eventCount(): { push(chunk: Buffer): void; verdict(complete: boolean): string } {
  let events = 0;
  let lastByte = 0;
  let tail = Buffer.alloc(0);
  return {
    push(chunk) {
      // Events end with a blank line; one may straddle two chunks.
      if (lastByte === 10 && chunk[0] === 10) events++;
      for (let i = chunk.indexOf('\n\n'); i !== -1; i = chunk.indexOf('\n\n', i + 2)) events++;
      lastByte = chunk[chunk.length - 1] ?? lastByte;
      tail = Buffer.concat([tail.subarray(-DONE.length), chunk.subarray(-DONE.length)]).subarray(-DONE.length);
    },
    /** "ok", or what is wrong with the stream; `complete`: its end arrived (not a reset or a cut connection). */
    verdict(complete) {
      if (!complete) return 'cut short';
      if (events !== EVENTS || !tail.equals(DONE)) return `incomplete (${events} of ${EVENTS} events)`;
      return 'ok';
    },
  };
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

/** One non-streaming chat completion: its latency in ms and the gateway's id for it, or undefined when it failed or was not the emulator's answer. */
async function shortRequest(pool: Pool, requestPath: string, requestHeaders: Record<string, string>): Promise<ShortResult> {
  const start = performance.now();
  try {
    const res = await pool.request({ method: 'POST', path: requestPath, headers: requestHeaders, body: shortBody });
    const text = await res.body.text();
    const id = res.headers['x-llmproxy-request-id'];
    return res.statusCode === 200 && text.includes(SHORT_EXPECT) ? { ms: performance.now() - start, id: typeof id === 'string' ? id : undefined } : undefined;
  } catch {
    return undefined;
  }
}

/** duration_ms and upstream_ms of every request in the gateway's log, by request id. */
function loggedTimes(logPath: string): Map<string, { durationMs: number; upstreamMs: number | undefined }> {
  const times = new Map<string, { durationMs: number; upstreamMs: number | undefined }>();
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.includes('"duration_ms"')) continue;
    try {
      const l = JSON.parse(line) as { request_id?: string; duration_ms?: number; upstream_ms?: number };
      if (l.request_id !== undefined && l.duration_ms !== undefined) times.set(l.request_id, { durationMs: l.duration_ms, upstreamMs: l.upstream_ms });
    } catch {
      // not a log line (output of BENCH_GATEWAY_NODE_ARGS such as --trace-gc)
    }
  }
  return times;
}

/**
 * The short requests through the gateway split by its log: its own time (duration_ms less
 * upstream_ms) and its upstream's (sent to answer head), for those logged with both.
 */
function gatewaySplit(results: ShortResult[], logged: ReturnType<typeof loggedTimes>): { own: ShortLatencies; upstream: ShortLatencies } {
  const own: number[] = [];
  const upstream: number[] = [];
  for (const r of results) {
    const t = r?.id === undefined ? undefined : logged.get(r.id);
    if (t?.upstreamMs === undefined) continue;
    own.push(Math.max(0, t.durationMs - t.upstreamMs));
    upstream.push(t.upstreamMs);
  }
  return { own: spread(own, 0), upstream: spread(upstream, 0) };
}

function cpuSample(): { at: number } & Record<keyof CpuShares, { runMs: number; waitMs: number }> {
  return { at: performance.now(), gateway: cpuTime(gateway.pid!), emulators: cpuTime(emulators.pid), loadSide: cpuTime(process.pid) };
}

function cpuShares(from: ReturnType<typeof cpuSample>, to: ReturnType<typeof cpuSample>): CpuShares {
  const seconds = (to.at - from.at) / 1000;
  const share = (k: keyof CpuShares) => ({ run: Math.round((to[k].runMs - from[k].runMs) / seconds), wait: Math.round((to[k].waitMs - from[k].waitMs) / seconds) });
  return { gateway: share('gateway'), emulators: share('emulators'), loadSide: share('loadSide') };
}

function clientModeAsked(): ClientMode | undefined {
  const asked = process.env['BENCH_STREAMS_CLIENT'] || undefined;
  if (asked !== undefined && asked !== 'h1' && asked !== 'h2') throw new Error('BENCH_STREAMS_CLIENT must be h1 or h2');
  return asked;
}

function latencies(results: ShortResult[]): ShortLatencies {
  const samples = results.flatMap((r) => (r === undefined ? [] : [r.ms]));
  return spread(samples, results.length - samples.length);
}

function spread(values: number[], errors: number): ShortLatencies {
  const samples = [...values].sort((a, b) => a - b);
  const at = (p: number) => (samples.length === 0 ? null : round(samples[Math.min(samples.length - 1, Math.floor(samples.length * p))]!, 2));
  return { sent: samples.length + errors, errors, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: samples.length === 0 ? null : round(samples[samples.length - 1]!, 2) };
}

/** A warning when a process waited long for a CPU while the streams were held: other load on its core, not its own work, then shapes the latencies. */
function contention(c: CpuShares): string[] {
  const waited = (['gateway', 'emulators', 'loadSide'] as const).filter((k) => c[k].wait > CONTENDED_WAIT_MS);
  if (waited.length === 0) return [];
  const names = { gateway: 'the gateway', emulators: 'the emulators', loadSide: 'this load side' };
  return [
    `  CONTENDED: ${waited.map((k) => `${names[k]} waited ${c[k].wait} ms a second for a CPU (ran ${c[k].run})`).join('; ')} while held: other processes load the core, and the latencies above carry that wait. The split by the gateway's log shows its own part.`,
  ];
}

function printReport(r: typeof result): void {
  const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const ms = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2)).padStart(8);
  const short = (label: string, s: ShortLatencies) => `    ${label.padEnd(28)} ${String(s.sent).padStart(5)} ${String(s.errors).padStart(7)} ${ms(s.p50Ms)} ${ms(s.p99Ms)} ${ms(s.maxMs)}`;
  const sr = r.shortRequests;
  const lag = (l: { p50: number; p99: number; max: number }) => `${l.p50} / ${l.p99} / ${l.max} ms`;
  const cpu = (c: CpuShares) => `gateway ${c.gateway.run} / ${c.gateway.wait}, emulators ${c.emulators.run} / ${c.emulators.wait}, load side ${c.loadSide.run} / ${c.loadSide.wait}`;
  const lines = [
    '',
    `open streams: ${r.streams} concurrent SSE streams of ${r.eventsPerStream} events, one a second, through the gateway (transparent, API-key auth)`,
    `  client: ${r.client.mode === 'h1' ? 'HTTP/1.1, a connection per stream' : `HTTP/2 (h2c), ${STREAMS_PER_SESSION} streams per session`} (${r.client.why})`,
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
    short("  gateway's own (its log)", sr.gatewaySplit.whileOpening.own),
    short('  its upstream (its log)', sr.gatewaySplit.whileOpening.upstream),
    short('via gateway, while held', sr.whileHolding.gateway),
    short("  gateway's own (its log)", sr.gatewaySplit.whileHolding.own),
    short('  its upstream (its log)', sr.gatewaySplit.whileHolding.upstream),
    short('direct, whole run', sr.direct),
    short('direct, while opening', sr.whileOpening.direct),
    short('direct, while held', sr.whileHolding.direct),
    `  CPU, ms per second ran / waited on a run queue (schedstat): while opening ${cpu(r.cpuMsPerSecond.whileOpening)}; while held ${cpu(r.cpuMsPerSecond.whileHolding)}`,
    ...contention(r.cpuMsPerSecond.whileHolding),
    `  goals (latency while held): all open at once ${mark(r.goals.allOpenAtOnce)}; all complete ${mark(r.goals.allComplete)}; no errors ${mark(r.goals.noErrors)}; peak RSS <= ${GOALS.rssMb} MB ${mark(r.goals.rss)}; event-loop delay p99 <= ${GOALS.eventLoopP99Ms} ms ${mark(r.goals.eventLoopP99)}; short-request p99 <= ${GOALS.shortP99Ms} ms ${mark(r.goals.shortP99)}`,
    '',
  ];
  console.log(lines.join('\n'));
}
