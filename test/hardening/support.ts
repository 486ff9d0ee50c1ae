import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostileUpstream, type HostileRecord } from '../emulators/hostile.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Shared machinery of the hardening corpus: one hostile upstream and one gateway per category
 * file, a raw HTTP/1.1 client (nothing normalises what an attacker sends), the table-driven
 * case runner, the checks on what the upstream received, and the leak audit every category
 * ends with.
 */

// ---------------------------------------------------------------------------------------------
// Secrets and configuration

/** Per-process random provider keys (each category file runs in its own process). */
const hex = (n: number) => randomBytes(n).toString('hex');
export const OAI_KEY = `sk-hardening-openai-${hex(16)}`;
export const ANT_KEY = `sk-ant-hardening-${hex(16)}`;
/** A longer registered secret contains each provider key: `<key><ECHO_SUFFIX>`. */
export const ECHO_SUFFIX = `-rotated-${hex(8)}`;
export const TOTP_ENCRYPTION_KEY = `totp-encryption-${hex(16)}`;

process.env['HARDENING_OAI_KEY'] = OAI_KEY;
process.env['HARDENING_OAI_LONG_KEY'] = OAI_KEY + ECHO_SUFFIX;
process.env['HARDENING_ANT_KEY'] = ANT_KEY;
process.env['HARDENING_ANT_LONG_KEY'] = ANT_KEY + ECHO_SUFFIX;
process.env['HARDENING_TOTP_KEY'] = TOTP_ENCRYPTION_KEY;

/** Every provider-side secret, named (a failed leak check names the secret, never prints it). */
export const PROVIDER_SECRETS: ReadonlyArray<[string, string]> = [
  ['openai provider key', OAI_KEY],
  ['anthropic provider key', ANT_KEY],
  ['longer openai secret', OAI_KEY + ECHO_SUFFIX],
  ['longer anthropic secret', ANT_KEY + ECHO_SUFFIX],
  ['tail of the longer secrets', ECHO_SUFFIX],
  ['TOTP encryption key', TOTP_ENCRYPTION_KEY],
];

const apiKey = (env: string) => ({ type: 'api_key', api_key: `\${env:${env}}` });

/**
 * The gateway config every category starts from: short timeouts (so slow-client cases take
 * seconds), a small stream line limit, openai- and anthropic-type instances on the hostile
 * upstream (plus `*_long` instances whose keys only exist to be registered secrets), an instance
 * limited to 1 MB bodies, and aliases for `/v1`.
 */
export function baseConfig(upstream: string, overrides: { server?: object; auth?: object; limits?: object } = {}): Record<string, unknown> {
  const timeouts = { first_byte: '700ms', idle: '700ms' };
  return {
    server: {
      headers_timeout: '1s',
      request_timeout: '2s',
      keep_alive_timeout: '2s',
      shutdown_timeout: '3s',
      stream_line_limit: '64kb',
      body_limit: '3mb',
      ...overrides.server,
    },
    auth: {
      api_keys: { bootstrap_admin: false, revocation_poll: '100ms' },
      failed_attempts: { limit: 1_000_000, max_concurrent_per_client: 64, max_concurrent: 64 },
      ...overrides.auth,
    },
    ...(overrides.limits ? { limits: overrides.limits } : {}),
    instances: {
      oai: { type: 'openai', endpoint: `${upstream}/openai`, timeouts, authentication: apiKey('HARDENING_OAI_KEY') },
      oai_long: { type: 'openai', endpoint: `${upstream}/openai`, timeouts, authentication: apiKey('HARDENING_OAI_LONG_KEY') },
      claude: { type: 'anthropic', endpoint: `${upstream}/anthropic`, timeouts, authentication: apiKey('HARDENING_ANT_KEY') },
      claude_long: { type: 'anthropic', endpoint: `${upstream}/anthropic`, timeouts, authentication: apiKey('HARDENING_ANT_LONG_KEY') },
      small: { type: 'openai', endpoint: `${upstream}/openai`, body_limit: '1mb', timeouts, authentication: apiKey('HARDENING_OAI_KEY') },
    },
    model_aliases: { 'alias-oai': 'oai/gpt-4o', 'alias-claude': 'claude/claude-sonnet-4-5', 'alias-small': 'small/gpt-4o' },
  };
}

/** One category's world: the hostile upstream, the gateway, the secrets made, every response seen. */
export interface Arena {
  gw: TestGateway;
  upstream: HostileUpstream;
  /** Named secrets the leak audit looks for (provider keys plus whatever the category made). */
  secrets: Array<[string, string]>;
  /** Raw bytes of every response a case received. */
  seen: Buffer[];
  /** A developer key for cases that need a valid credential. */
  key: string;
}

/** Starts the upstream and a gateway with `config(upstreamUrl)`, and issues a developer key. */
export async function openArena(config: (upstreamUrl: string) => Record<string, unknown>): Promise<Arena> {
  const upstream = await new HostileUpstream({ openai: OAI_KEY, anthropic: ANT_KEY }, ECHO_SUFFIX).start();
  const gw = await startGateway(config(upstream.url));
  const arena: Arena = { gw, upstream, secrets: [...PROVIDER_SECRETS], seen: [], key: '' };
  arena.key = await issueKey(arena, 'hardening');
  return arena;
}

export async function closeArena(arena: Arena | undefined): Promise<void> {
  if (!arena) return;
  await arena.gw.close();
  await arena.upstream.close();
}

/** Issues a key and registers it (whole, and its secret part) with the leak audit. */
export async function issueKey(arena: Arena, name: string, spec: Parameters<TestGateway['issued']>[0] = {}): Promise<string> {
  const { key } = await arena.gw.issued({ name, ...spec });
  arena.secrets.push([`client key ${name}`, key], [`secret part of client key ${name}`, key.slice(18)]);
  return key;
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client

export interface RawAnswer {
  /** 0 when no status line arrived. */
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  headerList: Array<[string, string]>;
  body: Buffer;
  text: string;
  /** The body arrived whole (Content-Length reached, last chunk seen, or EOF without framing). */
  complete: boolean;
  /** Everything received. */
  raw: Buffer;
  /** The gateway closed the connection (EOF or reset) before our deadline. */
  closed: boolean;
  /** Milliseconds from the last byte sent to the close (or the deadline). */
  closedAfterMs: number;
  /** Milliseconds from the connection's start to the close (or the deadline). */
  elapsedMs: number;
}

export interface RawOptions {
  /** Give up (and destroy the socket) after this long; default 10 s. */
  timeoutMs?: number;
  /** Pieces of the payload are written this far apart (payload given as an array). */
  gapMs?: number;
  /** Stop reading once one whole response is in, without waiting for the close. */
  untilResponse?: boolean;
}

/** Sends `payload` (one string, or pieces written `gapMs` apart) on a new connection and reads the answer. */
export function rawHttp(port: number, payload: string | Buffer | Array<string | Buffer>, options: RawOptions = {}): Promise<RawAnswer> {
  const pieces = Array.isArray(payload) ? payload : [payload];
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const startedAt = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let sentAt = Date.now();
    let done = false;
    let gap: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(gap);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(received), closed), closed, closedAfterMs: Date.now() - sentAt, elapsedMs: Date.now() - startedAt });
    };
    const deadline = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      received.push(d);
      if (options.untilResponse && parseResponse(Buffer.concat(received), false).complete) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('end', () => finish(true));
    let i = 0;
    const writeNext = () => {
      if (done || socket.destroyed) return;
      const piece = pieces[i++];
      if (piece === undefined) return;
      socket.write(piece);
      sentAt = Date.now();
      if (i < pieces.length) gap = setTimeout(writeNext, options.gapMs ?? 0);
    };
    socket.once('connect', writeNext);
  });
}

/** Parses the first HTTP/1.x response in `raw` (bodies framed by Content-Length, chunked, or EOF). */
export function parseResponse(raw: Buffer, closed: boolean): Omit<RawAnswer, 'closed' | 'closedAfterMs' | 'elapsedMs'> {
  const empty = { status: 0, headers: {}, headerList: [], body: Buffer.alloc(0), text: '', complete: false, raw };
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return empty;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headerList: Array<[string, string]> = [];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headerList.push([name, value]);
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let rest = raw.subarray(end + 4);
  let body: Buffer;
  let complete: boolean;
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = [];
    complete = false;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd === -1) break;
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) break;
      if (size === 0) {
        complete = true;
        break;
      }
      if (rest.length < lineEnd + 2 + size) {
        chunks.push(rest.subarray(lineEnd + 2));
        break;
      }
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(chunks);
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    body = rest.subarray(0, length);
    complete = rest.length >= length;
  } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
    complete = true;
  } else {
    body = rest;
    complete = closed;
  }
  return { status, headers, headerList, body, text: body.toString('utf8'), complete, raw };
}

/** The error object of a JSON error answer; undefined when the body is not one. */
export function errorOf(answer: { text: string }): { code?: unknown; param?: unknown; message?: unknown; type?: unknown } | undefined {
  try {
    const parsed = JSON.parse(answer.text) as { error?: unknown };
    return parsed.error !== null && typeof parsed.error === 'object' ? (parsed.error as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface RequestSpec {
  method: string;
  /** The request target exactly as sent. */
  path: string;
  headers?: Record<string, string> | Array<[string, string]>;
  body?: string | Buffer;
  /** Request-line version; default HTTP/1.1. */
  version?: string;
}

/** A request as bytes: `host` and `connection: close` first (unless given), Content-Length for a body. */
export function requestBytes(spec: RequestSpec): Buffer {
  const list: Array<[string, string]> = Array.isArray(spec.headers) ? spec.headers : Object.entries(spec.headers ?? {});
  const names = new Set(list.map(([n]) => n.toLowerCase()));
  const head: Array<[string, string]> = [];
  if (!names.has('host')) head.push(['host', '127.0.0.1']);
  if (!names.has('connection')) head.push(['connection', 'close']);
  const body = spec.body === undefined ? undefined : Buffer.isBuffer(spec.body) ? spec.body : Buffer.from(spec.body, 'utf8');
  if (body !== undefined && !names.has('content-length') && !names.has('transfer-encoding')) head.push(['content-length', String(body.length)]);
  const text = `${spec.method} ${spec.path} ${spec.version ?? 'HTTP/1.1'}\r\n${[...head, ...list].map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return body === undefined ? Buffer.from(text, 'latin1') : Buffer.concat([Buffer.from(text, 'latin1'), body]);
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
export const JSON_HEADERS = { 'content-type': 'application/json' };

// ---------------------------------------------------------------------------------------------
// What the upstream received

const CLIENT_ONLY_HEADERS = ['api-key', 'x-goog-api-key', 'x-totp-code', 'cookie', 'proxy-authorization', 'x-llmproxy-instance'];

/**
 * Everything the upstream received carries the gateway's provider credential only: no client
 * credential header, no TOTP code, and no `llmp_` (a gateway key) in headers, path, query
 * (raw or decoded) or body.
 */
export function assertUpstreamClean(records: readonly HostileRecord[]): void {
  for (const r of records) {
    const where = `${r.method} ${r.path}`;
    const auth = r.headers.authorization;
    if (auth !== undefined) assert.equal(auth, `Bearer ${OAI_KEY}`, `${where}: only the provider's Authorization goes upstream`);
    const xApiKey = r.headers['x-api-key'];
    if (xApiKey !== undefined) assert.equal(xApiKey, ANT_KEY, `${where}: only the provider's x-api-key goes upstream`);
    for (const name of CLIENT_ONLY_HEADERS) assert.equal(r.headers[name], undefined, `${where}: ${name} must not be forwarded`);
    const everything = [r.path, r.query, decodeLoosely(r.path), decodeLoosely(r.query), ...r.rawHeaders, r.body.toString('latin1')].join('\n');
    assert.ok(!everything.includes('llmp_'), `${where}: a gateway key shape (llmp_) reached the upstream`);
  }
}

function decodeLoosely(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s.replace(/%5f/gi, '_');
  }
}

// ---------------------------------------------------------------------------------------------
// Table-driven cases

export interface Expect {
  status: number;
  /** The JSON error `code`; omitted when the answer is not the gateway's JSON (Node's own 400/431). */
  code?: string;
  /** The JSON error `param`: exact, or a pattern. */
  param?: string | RegExp | null;
  /** How many requests the upstream must receive. */
  forwarded: number;
  /** Further checks on the answer and on what the upstream received. */
  check?: (answer: RawAnswer, received: readonly HostileRecord[]) => void | Promise<void>;
}

export interface HttpCase {
  name: string;
  request: RequestSpec | (() => RequestSpec | Buffer);
  expect: Expect;
  /** Pieces written apart, for framing cases (overrides `request`); built at run time. */
  pieces?: () => Array<string | Buffer>;
  gapMs?: number;
}

/** Sends one case, records the answer for the leak audit, and asserts the expectation. */
export async function runCase(arena: Arena, c: HttpCase): Promise<RawAnswer> {
  arena.upstream.reset();
  const built = typeof c.request === 'function' ? c.request() : c.request;
  const payload = c.pieces?.() ?? (Buffer.isBuffer(built) ? built : requestBytes(built));
  const answer = await rawHttp(arena.gw.port, payload, { gapMs: c.gapMs ?? 0, timeoutMs: 15_000 });
  arena.seen.push(answer.raw);
  await assertAnswer(answer, c.expect, arena.upstream.requests);
  return answer;
}

/** The common assertions: status (never 500), error code and param, upstream count and cleanliness. */
export async function assertAnswer(answer: RawAnswer, expect: Expect, received: readonly HostileRecord[]): Promise<void> {
  const detail = `answer: ${answer.raw.subarray(0, 600).toString('latin1')}`;
  // Never 500, unless the case is a provider's own 500 passed through in transparent mode.
  if (expect.status !== 500) assert.notEqual(answer.status, 500, `never 500; ${detail}`);
  assert.equal(answer.status, expect.status, detail);
  if (expect.code !== undefined) {
    const error = errorOf(answer);
    assert.ok(error, `a JSON error object is expected; ${detail}`);
    assert.equal(error.code, expect.code, detail);
    if (expect.param instanceof RegExp) assert.match(String(error.param), expect.param, detail);
    else if (expect.param !== undefined) assert.equal(error.param, expect.param, detail);
  }
  assert.equal(received.length, expect.forwarded, `requests received by the upstream; ${detail}`);
  assertUpstreamClean(received);
  await expect.check?.(answer, received);
}

/** Registers one node:test test per case (run in order, one at a time). */
export function caseTests(arena: () => Arena, cases: readonly HttpCase[]): void {
  const names = new Set<string>();
  for (const c of cases) {
    assert.ok(!names.has(c.name), `duplicate case name ${c.name}`);
    names.add(c.name);
    test(c.name, async () => {
      await runCase(arena(), c);
    });
  }
}

/**
 * A category: its own upstream and gateway, its cases (`body` registers them), and after them
 * the leak audit over everything the category produced.
 */
export function category(name: string, config: (upstreamUrl: string) => Record<string, unknown>, body: (arena: () => Arena) => void, setup?: (arena: Arena) => Promise<void>): void {
  describe(`hardening: ${name}`, () => {
    let arena: Arena | undefined;
    const get = () => {
      if (!arena) throw new Error('arena not started');
      return arena;
    };
    before(async () => {
      arena = await openArena(config);
      await setup?.(arena);
    });
    after(async () => {
      await closeArena(arena);
    });
    body(get);
    test(`${name}: no secret in any response, log line, metric, audit row or stored file`, async () => {
      await assertNoLeaks(get());
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The leak audit

/** Files under `dir`, recursively (bounded). */
function filesUnder(dir: string, out: string[] = [], depth = 0): string[] {
  if (depth > 4) return out;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) filesUnder(path, out, depth + 1);
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/**
 * No registered secret appears in any response the category received, any log line, the
 * /metrics text, any audit row, or the bytes of any file in the gateway's temp folder.
 */
export async function assertNoLeaks(arena: Arena): Promise<void> {
  const { gw } = arena;
  await gw.settle();
  const metrics = await rawHttp(gw.port, requestBytes({ method: 'GET', path: '/metrics' }));
  assert.equal(metrics.status, 200, 'GET /metrics');
  const audit = await gw.app.store.audit.query({ limit: 1_000_000 });
  const places: Array<[string, Buffer]> = [
    ['responses', Buffer.concat(arena.seen)],
    ['logs', Buffer.from(gw.logs.join('\n'), 'utf8')],
    ['/metrics', metrics.body],
    ['audit rows', Buffer.from(JSON.stringify(audit), 'utf8')],
    ...filesUnder(gw.dir).map((f): [string, Buffer] => [`file ${f.slice(gw.dir.length + 1)}`, readFileSync(f)]),
  ];
  assert.ok(audit.length > 0 || arena.seen.length > 0, 'the audit looked at something');
  const leaks: string[] = [];
  for (const [label, secret] of arena.secrets) {
    assert.ok(secret.length >= 8, `secret ${label} is long enough to search for`);
    const needle = Buffer.from(secret, 'utf8');
    for (const [place, bytes] of places) if (bytes.includes(needle)) leaks.push(`${label} in ${place}`);
  }
  assert.deepEqual(leaks, [], 'secrets found');
}

// ---------------------------------------------------------------------------------------------
// Small helpers

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A chat body for protocol and transparent chat routes. */
export function chat(model: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 16, ...extra });
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim());
}

/** The value of `name` (no labels) in a Prometheus text; undefined when absent. */
export function gauge(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  return undefined;
}

/** Polls `/metrics` until `llmproxy_inflight_requests` (minus the /metrics request itself) is `value`; returns the last reading. */
export async function inflightSettlesAt(port: number, value: number, timeoutMs = 4000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await rawHttp(port, requestBytes({ method: 'GET', path: '/metrics' }), { timeoutMs: 3000 });
    const reading = gauge(m.text, 'llmproxy_inflight_requests');
    // The /metrics request is itself in flight while it is answered.
    const others = reading === undefined ? undefined : reading - 1;
    if (others === value || Date.now() > deadline) return others;
    await sleep(50);
  }
}
