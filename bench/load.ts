import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Pool } from 'undici';

/** One kind of request sent over and over: where, with which headers, with which body. */
export interface Target {
  label: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Text every good answer's body contains (a 200 without it counts as an error). */
  expect: string;
}

export interface Latencies {
  count: number;
  p50Us: number;
  p99Us: number;
  /** Answers that were not a 200 with the expected body. */
  errors: number;
}

export interface Throughput {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/**
 * Sequential requests over one keep-alive connection, each timed with the monotonic clock to the
 * microsecond (autocannon's histogram keeps whole milliseconds, too coarse for an added 0.1 ms),
 * each answer checked. Bounded by `count` and by `maxMs`.
 */
export async function latencySeries(target: Target, count: number, maxMs: number): Promise<Latencies> {
  const pool = new Pool(target.url, { connections: 1, pipelining: 1 });
  const samples: number[] = [];
  let errors = 0;
  const deadline = performance.now() + maxMs;
  try {
    while (samples.length + errors < count && performance.now() < deadline) {
      const start = performance.now();
      try {
        const res = await pool.request({ method: 'POST', path: target.path, headers: target.headers, body: target.body });
        const text = await res.body.text();
        const elapsedUs = (performance.now() - start) * 1000;
        if (res.statusCode === 200 && text.includes(target.expect)) samples.push(elapsedUs);
        else errors++;
      } catch {
        errors++;
      }
    }
  } finally {
    await pool.close();
  }
  samples.sort((a, b) => a - b);
  return { count: samples.length, p50Us: percentile(samples, 0.5), p99Us: percentile(samples, 0.99), errors };
}

export interface StreamTimes {
  count: number;
  /** Time to the first body byte, median. */
  firstByteP50Us: number;
  /** Time to the end of the stream, median. */
  totalP50Us: number;
  /** Body bytes of one stream. */
  bytes: number;
}

/**
 * Sequential streamed requests over one keep-alive connection: time to the first body byte and
 * to the end of the body. Bounded by `count` and by `maxMs`.
 */
export async function streamSeries(target: Target, count: number, maxMs: number): Promise<StreamTimes> {
  const pool = new Pool(target.url, { connections: 1, pipelining: 1 });
  const first: number[] = [];
  const total: number[] = [];
  let bytes = 0;
  const deadline = performance.now() + maxMs;
  try {
    while (total.length < count && performance.now() < deadline) {
      const start = performance.now();
      const res = await pool.request({ method: 'POST', path: target.path, headers: target.headers, body: target.body });
      if (res.statusCode !== 200) throw new Error(`${target.label}: status ${res.statusCode}: ${await res.body.text()}`);
      let firstAt = 0;
      bytes = 0;
      for await (const chunk of res.body) {
        if (firstAt === 0) firstAt = performance.now();
        bytes += (chunk as Buffer).length;
      }
      const end = performance.now();
      first.push((firstAt - start) * 1000);
      total.push((end - start) * 1000);
    }
  } finally {
    await pool.close();
  }
  first.sort((a, b) => a - b);
  total.sort((a, b) => a - b);
  return { count: total.length, firstByteP50Us: percentile(first, 0.5), totalP50Us: percentile(total, 0.5), bytes };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

export type LoadGenerator = 'wrk' | 'autocannon';

/** wrk when Debian's package is installed (it leaves more of the shared core to the emulator), else autocannon. */
export function pickLoadGenerator(): LoadGenerator {
  const wanted = process.env['BENCH_LOADGEN'];
  if (wanted === 'wrk' || wanted === 'autocannon') return wanted;
  return spawnSync('wrk', ['--version']).error ? 'autocannon' : 'wrk';
}

/**
 * `connections` concurrent keep-alive connections for `seconds`, with the chosen load generator.
 * Every answer is checked: `errors` counts those that were not a 200 with the expected body,
 * besides connection errors and timeouts.
 */
export async function throughput(gen: LoadGenerator, target: Target, connections: number, seconds: number, scratch: string): Promise<Throughput> {
  return gen === 'wrk' ? wrk(target, connections, seconds, scratch) : cannon(target, connections, seconds);
}

async function cannon(target: Target, connections: number, seconds: number): Promise<Throughput> {
  const expect = target.expect;
  const r = await autocannon({ url: target.url + target.path, method: 'POST', headers: target.headers, body: target.body, connections, duration: seconds, verifyBody: (body) => body.includes(expect) });
  return { rps: r.requests.total / seconds, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx + r.mismatches };
}

function wrk(target: Target, connections: number, seconds: number, scratch: string): Throughput {
  const script = join(scratch, `${target.label}.lua`);
  writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(target.body)}`,
      ...Object.entries(target.headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
      `local expect = ${JSON.stringify(target.expect)}`,
      // Each wrk thread has its own Lua state: count bad answers there, add them up in done().
      'local threads = {}',
      'setup = function(thread) table.insert(threads, thread) end',
      'init = function() bad = 0 end',
      'response = function(status, headers, body)',
      '  if status ~= 200 or not string.find(body, expect, 1, true) then bad = bad + 1 end',
      'end',
      'done = function(summary, latency, requests)',
      '  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout',
      '  for _, t in ipairs(threads) do errors = errors + t:get("bad") end',
      '  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors))',
      'end',
    ].join('\n'),
  );
  const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, target.url + target.path], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const line = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out.stdout);
  if (!line) throw new Error(`wrk gave no result: ${out.stderr || out.stdout}`);
  const [requests, durationUs, p50Us, p99Us, errors] = line.slice(1).map(Number) as [number, number, number, number, number];
  return { rps: requests / (durationUs / 1e6), p50Ms: p50Us / 1000, p99Ms: p99Us / 1000, errors };
}
