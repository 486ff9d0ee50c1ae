import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../src/clientauth/api-key/issue.js';
import type { UsageRow } from '../../src/store/governance-types.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freshDatabase, requireService } from '../helpers/services.js';
import { chat, openaiInstances, waitFinished } from './governance-support.js';

const PROVIDER_KEY = 'sk-provider-anomaly-0123456789';
const postgres = await requireService('postgres');
const HOUR = 3_600_000;

/** A webhook receiver on loopback: answers the first `failFirst` POSTs with 500, the rest with 200; keeps what it got. */
async function webhookReceiver(failFirst = 1): Promise<{ server: Server; url: string; received: Array<{ path: string; body: Record<string, unknown>; status: number }> }> {
  const received: Array<{ path: string; body: Record<string, unknown>; status: number }> = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (s: string) => (text += s));
    req.on('end', () => {
      const status = received.length < failFirst ? 500 : 200;
      received.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown>, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // The token in the path is what makes such a URL a secret.
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0KEN-anomaly-webhook-secret`, received };
}

/** `n` rows for `keyId`, spread evenly over [from, to). */
function rows(keyId: string, n: number, from: number, to: number): UsageRow[] {
  return Array.from({ length: n }, (_, i) => ({
    time: Math.floor(from + ((to - from) * i) / n),
    requestId: `hist-${keyId}-${i}`,
    recordId: `hist-${keyId}-${i}`,
    keyId,
    user: null,
    principalKind: 'api-key',
    instance: 'oai',
    model: 'gpt-4o',
    inputTokens: 9,
    outputTokens: 6,
    costMicros: 100,
    latencyMs: 5,
    status: 200,
  }));
}

describe('usage anomaly alerts (alerts.anomaly)', () => {
  let emu: OpenAIEmulator;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['ANOMALY_TEST_KEY'] = PROVIDER_KEY;
  });
  after(async () => {
    await emu.close();
  });

  test('a key bursting far above its baseline is alerted exactly once: audit event, metric, log line, webhook retried after a 500; a key as busy as usual is not', async () => {
    const hook = await webhookReceiver();
    process.env['ANOMALY_WEBHOOK_URL'] = hook.url;
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-anomaly-'));
    let gw: TestGateway | undefined;
    try {
      // History before the gateway starts: a quiet key (4 requests a day) and a busy one (60 an hour), over the last day.
      const store = openSqliteStore(join(dir, 'llmproxy.db'));
      const quiet = await issueKey(store.keys, { name: 'quiet' });
      const busy = await issueKey(store.keys, { name: 'busy' });
      const admin = await issueKey(store.keys, { name: 'admin', role: 'admin' });
      const now = Date.now();
      await store.governance.usage.append([...rows(quiet.record.id, 4, now - 24.5 * HOUR, now - HOUR), ...rows(busy.record.id, 24 * 60, now - 24.5 * HOUR, now - HOUR)]);
      await store.close();

      gw = await startGateway(
        {
          instances: openaiInstances(emu.url, 'ANOMALY_TEST_KEY'),
          usage: { flush_interval: '50ms' },
          alerts: {
            webhook_url: '${env:ANOMALY_WEBHOOK_URL}',
            webhook_retry_delay: '100ms',
            webhook_attempts: 3,
            anomaly: { enabled: true, interval: '150ms', window: '1h', baseline: '1d', factor: 5, min_requests: 50 },
          },
        },
        { dir },
      );
      const g = gw;
      // Synthetic traffic through the gateway: 55 requests from each key in the current window.
      for (let i = 0; i < 55; i++) {
        const [a, b] = await Promise.all([chat(g, quiet.key), chat(g, busy.key)]);
        assert.equal(a.status, 200);
        assert.equal(b.status, 200);
      }
      await waitFinished(g, 110);

      // The webhook: a 500 first, then the retry is accepted.
      const deadline = Date.now() + 10_000;
      while (hook.received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(hook.received.length, 2, 'one alert: the first POST (500) and its retry');
      assert.deepEqual(hook.received.map((r) => r.status), [500, 200]);
      assert.deepEqual(hook.received[1]!.body, hook.received[0]!.body, 'the retry carries the same alert');
      const payload = hook.received[0]!.body;
      assert.equal(payload['alert'], 'usage_anomaly');
      assert.equal(payload['severity'], 'warning');
      assert.equal(payload['scope'], 'key');
      assert.equal(payload['key_id'], quiet.record.id);
      const measures = payload['measures'] as Record<string, { window: number; baseline_per_window: number; ratio: number }>;
      // Alerted as soon as a check saw min_requests (50) or more of the burst; the baseline is 4 a day, 1/6 per hour.
      const requests = measures['requests']!;
      assert.ok(requests.window >= 50 && requests.window <= 55, `window ${requests.window}`);
      assert.equal(requests.baseline_per_window, 0.166667);
      assert.equal(requests.ratio, Math.round(requests.window * 6 * 10) / 10);
      assert.ok(measures['tokens'] && measures['cost'], 'tokens and cost rose with the requests');
      const text = JSON.stringify(payload);
      for (const secret of [quiet.key, PROVIDER_KEY, 'T0KEN-anomaly-webhook-secret']) assert.ok(!text.includes(secret), 'no secret in the payload');

      // A few more checks run: still one alert (the claim holds for the cooldown, default the window).
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(hook.received.length, 2);

      const res = await fetch(`${g.url}/admin/v1/audit?event=anomaly`, { headers: { authorization: `Bearer ${admin.key}` } });
      assert.equal(res.status, 200);
      const events = ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
      assert.equal(events.length, 1, 'exactly one audit event');
      assert.equal(events[0]!['key_id'], quiet.record.id);
      assert.equal(events[0]!['method'], 'detector');
      assert.match(String(events[0]!['reason']), /^usage anomaly: requests \d+(\.\d)?x baseline/);
      assert.equal((events[0]!['detail'] as Record<string, unknown>)['scope'], 'key');

      const metrics = await (await fetch(`${g.url}/metrics`)).text();
      assert.match(metrics, /^llmproxy_usage_anomalies_total\{scope="key",measure="requests"\} 1$/m);
      assert.doesNotMatch(metrics, /llmproxy_usage_anomalies_total\{[^}]*scope="user"/);
      assert.match(metrics, /^llmproxy_alert_webhook_deliveries_total\{result="delivered"\} 1$/m);
      assert.ok(!metrics.includes(quiet.record.id), 'no key id in a label');

      const logs = g.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      const alerts = logs.filter((l) => l['alert'] === 'usage_anomaly');
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!['level'], 'warn');
      assert.equal(alerts[0]!['key_id'], quiet.record.id);
      assert.equal(logs.filter((l) => l['msg'] === 'alert webhook: delivery attempt failed').length, 1);
      assert.ok(!g.logs.some((l) => l.includes('T0KEN-anomaly-webhook-secret')), 'the webhook URL is never logged');
    } finally {
      await gw?.close();
      hook.server.close();
      delete process.env['ANOMALY_WEBHOOK_URL'];
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('two replicas sharing PostgreSQL: the burst is alerted once for the fleet', { skip: postgres.skip }, async () => {
    const hook = await webhookReceiver(0);
    process.env['ANOMALY_WEBHOOK_URL'] = hook.url;
    const db = await freshDatabase();
    process.env['ANOMALY_PG_URL'] = db.url;
    const gateways: TestGateway[] = [];
    try {
      const config = {
        instances: openaiInstances(emu.url, 'ANOMALY_TEST_KEY'),
        storage: { postgres: { url: '${env:ANOMALY_PG_URL}', pool_size: 4 } },
        usage: { flush_interval: '50ms' },
        alerts: { webhook_url: '${env:ANOMALY_WEBHOOK_URL}', anomaly: { enabled: true, interval: '100ms', window: '1h', baseline: '7d', min_requests: 20 } },
      };
      gateways.push(await startGateway(config), await startGateway(config));
      const [a, b] = gateways as [TestGateway, TestGateway];
      const { key, id } = await a.issued({ name: 'new-and-busy' });
      // Half the burst through each replica: the store sums them.
      for (let i = 0; i < 12; i++) {
        const [x, y] = await Promise.all([chat(a, key), chat(b, key)]);
        assert.equal(x.status + y.status, 400);
      }
      await Promise.all([waitFinished(a, 12), waitFinished(b, 12)]);
      const deadline = Date.now() + 10_000;
      while (hook.received.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 800)); // several more checks on both replicas
      assert.equal(hook.received.length, 1, 'one webhook for the fleet');
      assert.equal(hook.received[0]!.body['key_id'], id);
      const alerted = async (gw: TestGateway) => (await gw.app.metrics.usageAnomalies.get()).values.reduce((t, v) => t + (v.labels.measure === 'requests' ? v.value : 0), 0);
      assert.equal((await alerted(a)) + (await alerted(b)), 1);
      await a.app.audit.flush();
      await b.app.audit.flush();
      assert.equal((await a.app.store.audit.query({ event: 'anomaly' })).length, 1, 'one audit event in the shared store');
    } finally {
      await Promise.all(gateways.map((g) => g.close()));
      hook.server.close();
      delete process.env['ANOMALY_WEBHOOK_URL'];
      delete process.env['ANOMALY_PG_URL'];
      await db.drop();
    }
  });
  test('alerts.webhook_url is a secret reference: config check reads it (never printing it), serve refuses to start without it', async () => {
    const dir = tempDir('llmproxy-anomaly-cli-');
    try {
      const config = join(dir, 'llmproxy.yaml');
      writeFileSync(
        config,
        ['storage: { sqlite: { path: ./data/gw.db } }', 'alerts: { webhook_url: "${env:ANOMALY_CLI_HOOK}", anomaly: { enabled: true } }', 'instances:', '  demo: { type: demo }', ''].join('\n'),
        { mode: 0o600 },
      );
      const secretUrl = 'https://hooks.example.test/services/T0KEN-cli-webhook-secret';
      const good = await runCli(['config', 'check', '--config', config], { cwd: dir, env: { ANOMALY_CLI_HOOK: secretUrl } });
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.match(good.stdout, /^alert webhook: ok$/m);
      const notUrl = await runCli(['config', 'check', '--config', config, '--json'], { cwd: dir, env: { ANOMALY_CLI_HOOK: 'T0KEN-not-a-url-secret' } });
      assert.equal(notUrl.code, 1);
      assert.equal((JSON.parse(notUrl.stdout) as Record<string, unknown>)['alert_webhook'], 'alerts.webhook_url: ${env:ANOMALY_CLI_HOOK} does not hold a URL');
      const unset = await runCli(['config', 'check', '--config', config], { cwd: dir, env: { ANOMALY_CLI_HOOK: undefined } });
      assert.equal(unset.code, 1);
      assert.match(unset.stdout, /^alert webhook: alerts\.webhook_url: cannot resolve \$\{env:ANOMALY_CLI_HOOK\}/m);
      const serve = await runCli(['serve', '--config', config, '--port', '0', '--host', '127.0.0.1'], { cwd: dir, env: { ANOMALY_CLI_HOOK: undefined } });
      assert.equal(serve.code, 1);
      assert.match(serve.stderr, /^llmproxy: alerts\.webhook_url: cannot resolve \$\{env:ANOMALY_CLI_HOOK\}/m);
      for (const r of [good, notUrl, unset, serve]) assert.ok(!`${r.stdout}${r.stderr}`.includes('T0KEN-'), 'the webhook URL was printed');
    } finally {
      removeDir(dir);
    }
  });
});
