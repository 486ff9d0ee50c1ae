import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StartupError } from '../../src/app.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requestLogs, startGateway, type TestGateway } from '../helpers/gateway.js';
import { selfSignedCert } from '../helpers/net.js';

const PROVIDER_KEY = 'sk-provider-ops-test-9f8e7d6c5b4a3210';
process.env['OPS_TEST_OPENAI_KEY'] = PROVIDER_KEY;

const CHAT_PATH = '/transparent/primary/v1/chat/completions';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
const REPLY = OpenAIEmulator.REPLY.join('');

function instances(emuUrl: string) {
  return { primary: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${env:OPS_TEST_OPENAI_KEY}' } } };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function chat(gw: TestGateway, headers: Record<string, string>, path = CHAT_PATH): Promise<Answer> {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: CHAT_BODY });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** One sample of Prometheus text exposition: `name{l="v",...} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

function typeOf(text: string, name: string): string | undefined {
  return new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ text: string; samples: Sample[] }> {
  const r = await get(`${url}/metrics`, headers);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return { text: r.text, samples: parseMetrics(r.text) };
}

/** One request over an HTTP/2 session; the body is collected. */
function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 10_000);
    let responseHeaders: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, text: Buffer.concat(chunks).toString('utf8') });
    });
    if (body !== undefined) stream.end(body);
  });
}

function h2connect(url: string, options: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, options);
    session.once('connect', () => {
      session.off('error', reject);
      resolve(session);
    });
    session.once('error', reject);
  });
}

function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((r) => session.close(() => r()));
}

describe('ops routes: /health, /ready, /metrics', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({ instances: instances(emu.url) });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('GET /health answers 200 JSON without credentials; other methods get 405', async () => {
    const r = await get(`${gw.url}/health`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.deepEqual(JSON.parse(r.text), { status: 'ok' });
    assert.ok(r.headers.get('x-llmproxy-request-id'), 'ops answers carry the request id too');
    const post = await fetch(`${gw.url}/health`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.match(post.headers.get('allow') ?? '', /GET/);
  });

  test('GET /ready answers 200 with every check ok when config, store and instance credentials are usable', async () => {
    const r = await get(`${gw.url}/ready`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const body = JSON.parse(r.text) as { status: string; checks: Record<string, string> };
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.checks, { config: 'ok', store: 'ok', 'instance:primary': 'ok' });
    assert.ok(!r.text.includes(PROVIDER_KEY));
  });

  test('/metrics: every documented metric is exported, with labels from real 200, 401 and 403 requests, and no secret', async () => {
    const dev = await gw.issued({ name: 'metrics-dev', user: 'alice-metrics' });
    const viewer = await gw.issued({ name: 'metrics-viewer', role: 'viewer', user: 'bob-metrics' });
    const ok = await chat(gw, { authorization: `Bearer ${dev.key}` });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((JSON.parse(ok.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content, REPLY);
    assert.equal((await chat(gw, {})).status, 401);
    assert.equal((await chat(gw, { authorization: `Bearer ${dev.key.slice(0, -2)}xx` })).status, 401);
    assert.equal((await chat(gw, { 'x-api-key': viewer.key })).status, 403);

    const { text, samples } = await scrape(gw.url);
    // DESIGN.md §2 names and types.
    const expectedTypes: Record<string, string> = {
      llmproxy_requests_total: 'counter',
      llmproxy_request_duration_seconds: 'histogram',
      llmproxy_upstream_duration_seconds: 'histogram',
      llmproxy_auth_attempts_total: 'counter',
      llmproxy_tokens_total: 'counter',
      llmproxy_credential_refresh_total: 'counter',
      llmproxy_credential_age_seconds: 'gauge',
      llmproxy_credential_expiry_seconds: 'gauge',
      llmproxy_rate_limited_total: 'counter',
      llmproxy_inflight_requests: 'gauge',
    };
    for (const [name, type] of Object.entries(expectedTypes)) assert.equal(typeOf(text, name), type, `${name} must be exported as a ${type}`);

    const req = (labels: Record<string, string>) => sample(samples, 'llmproxy_requests_total', labels);
    assert.equal(req({ instance: 'primary', provider: 'openai', region: '', mode: 'transparent', status: '200' }), 1);
    // Authentication runs before the instance is looked up: the 401s carry no instance.
    assert.equal(req({ instance: '', provider: '', mode: 'transparent', status: '401' }), 2);
    assert.equal(req({ instance: 'primary', provider: 'openai', mode: 'transparent', status: '403' }), 1);

    assert.equal(sample(samples, 'llmproxy_request_duration_seconds_count', { instance: 'primary', provider: 'openai', mode: 'transparent' }), 2);
    assert.equal(sample(samples, 'llmproxy_request_duration_seconds_bucket', { instance: 'primary', provider: 'openai', mode: 'transparent', le: '+Inf' }), 2);
    assert.ok((sample(samples, 'llmproxy_request_duration_seconds_sum', { instance: 'primary', mode: 'transparent' }) ?? -1) >= 0);
    // Only the request that reached the provider has an upstream time.
    assert.equal(sample(samples, 'llmproxy_upstream_duration_seconds_count', { instance: 'primary', provider: 'openai' }), 1);
    assert.equal(sample(samples, 'llmproxy_upstream_duration_seconds_bucket', { instance: 'primary', provider: 'openai', le: '+Inf' }), 1);

    assert.equal(sample(samples, 'llmproxy_auth_attempts_total', { method: 'api_key', result: 'success' }), 2);
    assert.equal(sample(samples, 'llmproxy_auth_attempts_total', { method: 'api_key', result: 'failure' }), 2);
    assert.equal(sample(samples, 'llmproxy_tokens_total', { instance: 'primary', model: 'gpt-4o', direction: 'input' }), 9);
    assert.equal(sample(samples, 'llmproxy_tokens_total', { instance: 'primary', model: 'gpt-4o', direction: 'output' }), OpenAIEmulator.REPLY.length);
    assert.equal(sample(samples, 'llmproxy_credential_refresh_total', { provider: 'openai', method: 'api_key', status: 'success' }), 1);
    const age = sample(samples, 'llmproxy_credential_age_seconds', { instance: 'primary' });
    assert.ok(age !== undefined && age >= 0 && age < 600, `credential age ${age}`);
    assert.equal(sample(samples, 'llmproxy_credential_expiry_seconds', { instance: 'primary' }), undefined, 'a static key has no expiry');
    // The scrape itself is in flight.
    assert.ok((sample(samples, 'llmproxy_inflight_requests') ?? 0) >= 1);

    // Labels never carry a user, a key or a secret.
    for (const secret of [PROVIDER_KEY, dev.key, viewer.key, dev.key.slice(18, 50), dev.id, viewer.id, 'alice-metrics', 'bob-metrics']) {
      assert.ok(!text.includes(secret), `the metrics text contains ${secret.slice(0, 8)}...`);
    }
  });

  test('llmproxy_inflight_requests counts an open stream; a client that leaves is counted as aborted', async () => {
    const key = await gw.key({ name: 'inflight' });
    emu.behaviour.stallAfterChunks = 2;
    const abort = new AbortController();
    try {
      const res = await fetch(gw.url + CHAT_PATH, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        signal: abort.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.ok(!first.done && first.value.length > 0);
      const during = await scrape(gw.url);
      assert.ok((sample(during.samples, 'llmproxy_inflight_requests') ?? 0) >= 2, 'the open stream and the scrape are both in flight');
      abort.abort();
      await reader.cancel().catch(() => {});
    } finally {
      abort.abort();
    }
    const deadline = Date.now() + 5000;
    let aborted: number | undefined;
    let inflight: number | undefined;
    do {
      const { samples } = await scrape(gw.url);
      aborted = sample(samples, 'llmproxy_requests_total', { instance: 'primary', mode: 'transparent', status: 'aborted' });
      inflight = sample(samples, 'llmproxy_inflight_requests');
      if (aborted === 1 && inflight === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    } while (Date.now() < deadline);
    emu.reset();
    assert.equal(aborted, 1, 'the abandoned stream is counted with status "aborted"');
    assert.equal(inflight, 1, 'the abandoned stream is no longer in flight');
  });

  test('/ready answers 503 naming the store when the store cannot be reached', async () => {
    const broken = await startGateway({ instances: instances(emu.url) });
    try {
      assert.equal((await get(`${broken.url}/ready`)).status, 200);
      await broken.app.store.close();
      const r = await get(`${broken.url}/ready`);
      assert.equal(r.status, 503, r.text);
      const body = JSON.parse(r.text) as { status: string; checks: Record<string, string> };
      assert.equal(body.status, 'not_ready');
      assert.equal(body.checks['store'], 'unreachable');
      assert.equal(body.checks['instance:primary'], 'ok');
      // Liveness is not readiness.
      assert.equal((await get(`${broken.url}/health`)).status, 200);
    } finally {
      await broken.close();
    }
  });

  test('an instance whose secret cannot be resolved stops the gateway from starting (never serving unready), without leaking values', async () => {
    delete process.env['OPS_TEST_UNSET_KEY'];
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-ops-'));
    try {
      await assert.rejects(
        startGateway({
          instances: {
            primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:OPS_TEST_OPENAI_KEY}' } },
            broken: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:OPS_TEST_UNSET_KEY}' } },
            missing_file: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${file:./no/such/secret}' } },
          },
        }, { dir }),
        (err: unknown) => {
          assert.ok(err instanceof StartupError, String(err));
          assert.match(err.message, /\$\{env:OPS_TEST_UNSET_KEY\}/);
          assert.match(err.message, /\$\{file:\.\/no\/such\/secret\}.*ENOENT/);
          assert.ok(err.message.includes(join(dir, 'no', 'such', 'secret')), 'relative secret paths resolve against the config folder');
          assert.ok(!err.message.includes(PROVIDER_KEY));
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('/metrics protection and placement', () => {
  let emu: OpenAIEmulator;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
  });
  after(async () => {
    await emu.close();
  });

  test('server.metrics.require_auth: a key with metrics:read is needed (viewer, admin); developer 403; none 401', async () => {
    const gw = await startGateway({ instances: instances(emu.url), server: { metrics: { require_auth: true } } });
    try {
      const viewer = await gw.key({ name: 'viewer', role: 'viewer' });
      const admin = await gw.key({ name: 'admin', role: 'admin' });
      const developer = await gw.key({ name: 'developer', role: 'developer' });
      const none = await get(`${gw.url}/metrics`);
      assert.equal(none.status, 401);
      assert.equal((JSON.parse(none.text) as { error: { code: string } }).error.code, 'unauthorized');
      assert.ok(!none.text.includes('llmproxy_requests_total'));
      const dev = await get(`${gw.url}/metrics`, { authorization: `Bearer ${developer}` });
      assert.equal(dev.status, 403);
      assert.equal((JSON.parse(dev.text) as { error: { code: string } }).error.code, 'permission_denied');
      assert.ok(!dev.text.includes('llmproxy_requests_total'));
      for (const [who, key] of [['viewer', viewer], ['admin', admin]] as const) {
        const { text } = await scrape(gw.url, { authorization: `Bearer ${key}` });
        assert.match(text, /^# TYPE llmproxy_requests_total counter$/m, who);
      }
      // Other credential headers work too.
      assert.equal((await get(`${gw.url}/metrics`, { 'x-api-key': viewer })).status, 200);
      // Probes stay open.
      assert.equal((await get(`${gw.url}/health`)).status, 200);
      assert.equal((await get(`${gw.url}/ready`)).status, 200);
      await gw.settle();
      const denied = await gw.app.store.audit.query({ result: 'denied', limit: 10 });
      assert.ok(denied.some((e) => e.path === '/metrics' && e.reason === 'permission_denied'), 'the refused scrape is audited');
    } finally {
      await gw.close();
    }
  });

  test('server.metrics.port serves /metrics on its own listener and not on the main port', async () => {
    const gw = await startGateway({ instances: instances(emu.url), server: { metrics: { port: 0 } } });
    try {
      const metricsAddress = gw.addresses.metrics;
      assert.ok(metricsAddress, 'a metrics listener was started');
      assert.notEqual(metricsAddress.port, gw.port);
      const metricsUrl = `http://127.0.0.1:${metricsAddress.port}`;
      const key = await gw.key({ name: 'k' });
      assert.equal((await chat(gw, { authorization: `Bearer ${key}` })).status, 200);
      const { samples } = await scrape(metricsUrl);
      assert.equal(sample(samples, 'llmproxy_requests_total', { instance: 'primary', status: '200' }), 1, 'main-port traffic is visible on the metrics port');
      assert.equal((await get(`${gw.url}/metrics`)).status, 404);
      assert.equal((await get(`${metricsUrl}/health`)).status, 200);
      // Inference is not served on the metrics port.
      assert.equal((await chat({ ...gw, url: metricsUrl }, { authorization: `Bearer ${key}` })).status, 404);
    } finally {
      await gw.close();
    }
  });
});

describe('request ids and log hygiene', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({ instances: instances(emu.url), logging: { level: 'trace' } });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('a well-formed X-Request-Id is used and echoed; the log and the audit trail carry it', async () => {
    const key = await gw.issued({ name: 'rid' });
    const id = 'trace-7f3a.b2:c9_X';
    const r = await chat(gw, { authorization: `Bearer ${key.key}`, 'x-request-id': id });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-llmproxy-request-id'), id);
    // The provider's own request id is kept on a passed-through answer (support tickets).
    assert.match(r.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{24}$/);

    const refused = await chat(gw, { 'x-request-id': 'rid-refused-1' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('x-llmproxy-request-id'), 'rid-refused-1');
    assert.equal(refused.headers.get('x-request-id'), 'rid-refused-1', 'gateway-made answers carry the id in X-Request-Id');

    await gw.settle();
    const lines = requestLogs(gw);
    assert.equal(lines.filter((l) => l['request_id'] === id).length, 1);
    assert.equal(lines.filter((l) => l['request_id'] === 'rid-refused-1').length, 1);
    const audit = await gw.app.store.audit.query({ limit: 50 });
    assert.ok(audit.some((e) => e.requestId === id && e.result === 'success' && e.keyId === key.id));
    assert.ok(audit.some((e) => e.requestId === 'rid-refused-1' && e.result === 'failure'));
  });

  test('a malformed X-Request-Id is replaced by a generated one, which the log carries', async () => {
    const key = await gw.key({ name: 'rid-bad' });
    const malformed = ['has space', '-leading-dash', 'a'.repeat(129), 'quote"and<tag>', 'semi;colon', 'ünïcode'];
    const seen = new Set<string>();
    for (const bad of malformed) {
      const res = await fetch(gw.url + '/transparent/primary/v1/models', {
        headers: { authorization: `Bearer ${key}`, 'x-request-id': Buffer.from(bad, 'utf8').toString('latin1') },
      });
      await res.text();
      assert.equal(res.status, 200);
      const id = res.headers.get('x-llmproxy-request-id') ?? '';
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `${bad} was not replaced`);
      seen.add(id);
    }
    assert.equal(seen.size, malformed.length, 'each request gets its own id');
    // 128 characters is the longest accepted.
    const longest = 'b'.repeat(128);
    assert.equal((await get(`${gw.url}/health`, { 'x-request-id': longest })).headers.get('x-llmproxy-request-id'), longest);
    await gw.settle();
    const logged = new Set(requestLogs(gw).map((l) => l['request_id']));
    for (const id of seen) assert.ok(logged.has(id), `no log line for ${id}`);
    const all = gw.logs.join('\n');
    assert.ok(!all.includes('-leading-dash') && !all.includes('a'.repeat(129)), 'a malformed id reached the log');
  });

  test('no gateway key and no provider key ever reaches the log, whatever header or form carried it; request lines have the documented fields', async () => {
    const dev = await gw.issued({ name: 'redaction', user: 'carol' });
    const viewer = await gw.issued({ name: 'redaction-viewer', role: 'viewer' });
    const k = dev.key;
    const typo = k.slice(0, 30) + (k[30] === 'a' ? 'b' : 'a') + k.slice(31);
    const cases: Array<[string, Record<string, string>, string, number]> = [
      ['authorization', { authorization: `Bearer ${k}` }, CHAT_PATH, 200],
      ['x-api-key', { 'x-api-key': k }, CHAT_PATH, 200],
      ['api-key', { 'api-key': k }, CHAT_PATH, 200],
      ['x-goog-api-key', { 'x-goog-api-key': k }, CHAT_PATH, 200],
      ['lower-case bearer', { authorization: `bearer ${k}` }, CHAT_PATH, 200],
      ['viewer denied', { authorization: `Bearer ${viewer.key}` }, CHAT_PATH, 403],
      ['mistyped key', { authorization: `Bearer ${typo}` }, CHAT_PATH, 401],
      ['truncated key', { 'x-api-key': k.slice(0, -1) }, CHAT_PATH, 401],
      ['key plus garbage', { 'api-key': `${k}zz` }, CHAT_PATH, 401],
      ['key as basic auth', { authorization: `Basic ${Buffer.from(`u:${k}`).toString('base64')}` }, CHAT_PATH, 401],
      ['provider key presented', { authorization: `Bearer ${PROVIDER_KEY}` }, CHAT_PATH, 401],
      ['provider key in x-goog-api-key', { 'x-goog-api-key': PROVIDER_KEY }, CHAT_PATH, 401],
      // A gateway key in the query is refused before anything else: URLs get logged on the way.
      ['key in query', {}, `${CHAT_PATH}?api_key=${k}&key=${PROVIDER_KEY}`, 400],
      ['key in query with auth', { authorization: `Bearer ${k}` }, `${CHAT_PATH}?key=${k}`, 400],
      ['encoded key in query with auth', { authorization: `Bearer ${k}` }, `${CHAT_PATH}?x=${encodeURIComponent(k).replace('_', '%5F')}`, 400],
      ['provider key in query with auth', { authorization: `Bearer ${k}` }, `${CHAT_PATH}?key=${PROVIDER_KEY}&api-key=x&keep=1`, 200],
      ['key in path', { authorization: `Bearer ${k}` }, `/transparent/primary/v1/${k}/${PROVIDER_KEY}`, 403],
      ['key as unknown instance', { authorization: `Bearer ${k}` }, `/transparent/${k}/v1/models`, 404],
      ['key in unrouted path', {}, `/nothing/${k}`, 404],
    ];
    for (const [name, headers, path, status] of cases) {
      const r = await chat(gw, headers, path);
      assert.equal(r.status, status, `${name}: ${r.text}`);
      // (A 404 may echo the client's own path back to it; headers and queries are never echoed.)
      if (!path.includes(k)) assert.ok(!r.text.includes(k) && !r.text.includes(PROVIDER_KEY), `${name}: a key is in the answer`);
    }
    // The provider refuses the gateway's key and echoes part of it back: nothing of it is logged.
    emu.acceptedKeys.delete(PROVIDER_KEY);
    try {
      const rejected = await chat(gw, { authorization: `Bearer ${k}` });
      assert.equal(rejected.status, 502);
      assert.equal((JSON.parse(rejected.text) as { error: { code: string } }).error.code, 'upstream_credential_rejected');
    } finally {
      emu.acceptedKeys.add(PROVIDER_KEY);
    }
    // Credential headers never reach the provider either, nor credential query parameters (the rest of the query does).
    for (const r of emu.requests) assert.equal(r.headers['authorization'], `Bearer ${PROVIDER_KEY}`);
    assert.ok(emu.requests.some((r) => r.query === 'keep=1'), 'the query without its credential parameters is forwarded');
    for (const r of emu.requests) assert.ok(!r.query.includes(PROVIDER_KEY) && !r.query.includes('llmp_') && !r.query.includes('api-key'), r.query);
    await gw.settle();

    const all = gw.logs.join('\n');
    assert.ok(all.length > 0);
    for (const secret of [k, viewer.key, typo, k.slice(18, 50), typo.slice(18, 50), viewer.key.slice(18, 50), PROVIDER_KEY, PROVIDER_KEY.slice(3, 30), Buffer.from(`u:${k}`).toString('base64')]) {
      assert.ok(!all.includes(secret), `a secret reached the log: ${secret.slice(0, 10)}...`);
    }
    assert.ok(!/"(authorization|x-api-key|api-key|x-goog-api-key)":"(?!\[REDACTED\])/.test(all), 'a credential header value was logged');

    // Every line is JSON with level, time and the service name; request lines have the documented fields.
    for (const line of gw.logs) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      assert.equal(typeof parsed['level'], 'string');
      assert.ok(!Number.isNaN(Date.parse(String(parsed['time']))));
      assert.equal(parsed['service'], 'llmproxy');
    }
    const lines = requestLogs(gw);
    const ok = lines.find((l) => l['status'] === 200 && l['route'] === 'transparent' && (l['auth'] as { key_id?: string } | undefined)?.key_id === dev.id);
    assert.ok(ok, 'no request line for a successful call');
    assert.equal(ok['level'], 'info');
    assert.equal(ok['method'], 'POST');
    assert.equal(ok['path'], CHAT_PATH);
    assert.equal(ok['instance'], 'primary');
    assert.equal(ok['completed'], true);
    assert.equal(ok['client'], '127.0.0.1');
    assert.match(String(ok['request_id']), /^[0-9a-f-]{36}$/);
    assert.equal(typeof ok['duration_ms'], 'number');
    assert.equal(typeof ok['upstream_ms'], 'number');
    assert.deepEqual(ok['auth'], { result: 'success', key_id: dev.id, user: 'carol' });
    assert.deepEqual(ok['tokens'], { model: 'gpt-4o', input: 9, output: OpenAIEmulator.REPLY.length });

    const refused = lines.filter((l) => l['status'] === 401);
    assert.ok(refused.length >= 7);
    for (const l of refused) {
      assert.equal(l['error'], 'unauthorized');
      assert.equal((l['auth'] as { result: string }).result, 'failure');
      assert.ok(!String(l['path']).includes('?'), 'the query string is never logged');
    }
    const denied = lines.find((l) => l['status'] === 403 && (l['auth'] as { key_id?: string } | undefined)?.key_id === viewer.id);
    assert.equal(denied?.['error'], 'permission_denied');
    assert.equal((denied?.['auth'] as { result: string; reason: string }).result, 'denied');
  });
});

describe('HTTP/2 and TLS listeners', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let key: string;
  let cert: ReturnType<typeof selfSignedCert>;

  before(async () => {
    cert = selfSignedCert();
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({ instances: instances(emu.url), server: { tls: { port: 0, cert_file: cert.certFile, key_file: cert.keyFile } } });
    key = await gw.key({ name: 'h2' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  const chatHeaders = (k: string): http2.OutgoingHttpHeaders => ({
    ':method': 'POST',
    ':path': CHAT_PATH,
    authorization: `Bearer ${k}`,
    'content-type': 'application/json',
  });

  test('h2c with prior knowledge on the clear-text port: a chat completion works', async () => {
    const session = await h2connect(gw.url);
    try {
      const health = await h2request(session, { ':method': 'GET', ':path': '/health' });
      assert.equal(health.status, 200);
      emu.reset();
      const r = await h2request(session, chatHeaders(key), CHAT_BODY);
      assert.equal(r.status, 200, r.text);
      assert.equal((JSON.parse(r.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content, REPLY);
      assert.ok(r.headers['x-llmproxy-request-id']);
      assert.equal(r.headers['connection'], undefined, 'no HTTP/1 connection header on HTTP/2');
      assert.equal(emu.last.headers.authorization, `Bearer ${PROVIDER_KEY}`);
      // A streamed answer over the same session, and the refusals work the same.
      const stream = await h2request(session, chatHeaders(key), JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
      assert.equal(stream.status, 200);
      assert.match(stream.text, /data: \[DONE\]\n\n$/);
      assert.equal((await h2request(session, { ':method': 'GET', ':path': '/transparent/primary/v1/models' })).status, 401);
    } finally {
      await closeSession(session);
    }
    // Plain HTTP/1.1 still works on the same port.
    assert.equal((await chat(gw, { authorization: `Bearer ${key}` })).status, 200);
  });

  test('TLS listener: HTTPS with HTTP/1.1 and HTTP/2 (ALPN) both serve a chat completion', async () => {
    const tls = gw.addresses.tls;
    assert.ok(tls, 'a TLS listener was started');
    const origin = `https://127.0.0.1:${tls.port}`;

    const h1 = await new Promise<{ status: number; version: string; text: string }>((resolve, reject) => {
      const req = https.request(`${origin}${CHAT_PATH}`, { method: 'POST', ca: cert.cert, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(CHAT_BODY);
    });
    assert.equal(h1.status, 200, h1.text);
    assert.equal(h1.version, '1.1');
    assert.equal((JSON.parse(h1.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content, REPLY);

    const session = await h2connect(origin, { ca: cert.cert });
    try {
      assert.equal(session.alpnProtocol, 'h2');
      const r = await h2request(session, chatHeaders(key), CHAT_BODY);
      assert.equal(r.status, 200, r.text);
      assert.equal((JSON.parse(r.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content, REPLY);
      assert.equal((await h2request(session, { ':method': 'GET', ':path': '/health' })).status, 200);
    } finally {
      await closeSession(session);
    }

    // The certificate is really checked: a client that does not trust it fails.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = https.get(`${origin}/health`, { timeout: 10_000 }, resolve);
        req.on('error', reject);
      }),
      /self[- ]signed|unable to verify|certificate/i,
    );
    await gw.settle();
    const tlsLines = requestLogs(gw).filter((l) => l['path'] === CHAT_PATH && l['status'] === 200);
    assert.ok(tlsLines.length >= 4, 'TLS and h2 requests are logged like the others');
  });
});

describe('404 bodies', () => {
  test('404s do not echo the request path (nor an instance segment of it)', async () => {
    const marker = 'llmp_PastedHere_0123456789abcdefghij';
    const gw = await startGateway({ instances: instances('http://127.0.0.1:9') });
    try {
    const key = await gw.key();
    for (const [path, code] of [
      [`/no/such/${marker}`, 'not_found'],
      [`/v1/${marker}`, 'not_found'],
      [`/anthropic/v1/${marker}`, 'not_found'],
      [`/transparent/${marker}/v1/models`, 'unknown_instance'],
      [`/openai/${marker}/models`, 'unknown_instance'],
    ] as const) {
      const r = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
      const text = await r.text();
      assert.equal(r.status, 404, path);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, code, path);
      assert.ok(!text.includes(marker) && !text.includes('PastedHere'), `${path}: ${text}`);
    }
      } finally {
      await gw.close();
    }
  });
});
