import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { capturingLogger } from '../governance/test-support.js';
import { Metrics } from '../observability/metrics.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { AlertWebhook } from './webhook.js';

/** A receiver whose answer each test sets; counts the POSTs per path. */
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
const hits: string[] = [];
const server = createServer((req, res) => {
  hits.push(req.url ?? '');
  req.resume();
  req.on('end', () => answer(req, res));
});
let origin = '';
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

async function hook(env: string, attempts = 3) {
  const sleeps: number[] = [];
  const metrics = new Metrics();
  const { logger, lines } = capturingLogger();
  const webhook = await AlertWebhook.open({
    reference: `\${env:${env}}`,
    baseDir: '.',
    timeoutMs: 200,
    attempts,
    retryDelayMs: 10,
    logger,
    metrics,
    scrubber: new SecretScrubber(),
    sleep: async (ms) => void sleeps.push(ms),
  });
  const count = async (result: string) => (await metrics.alertDeliveries.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { webhook, sleeps, lines, count };
}

describe('AlertWebhook', () => {
  test('5xx is retried with doubling waits up to the attempt limit; then counted failed, logged without the URL', async () => {
    hits.length = 0;
    process.env['HOOK_A'] = `${origin}/a/T0KEN-a`;
    answer = (_req, res) => res.writeHead(503).end();
    const h = await hook('HOOK_A', 3);
    assert.equal(await h.webhook.deliver({ alert: 'x' }), false);
    assert.deepEqual(hits, ['/a/T0KEN-a', '/a/T0KEN-a', '/a/T0KEN-a']);
    assert.deepEqual(h.sleeps, [10, 20]);
    assert.equal(await h.count('failed'), 1);
    assert.ok(!JSON.stringify(h.lines).includes('T0KEN'));
    assert.equal(h.lines.at(-1)?.['outcome'], 'HTTP 503');
  });

  test('a 4xx other than 408/429 is final: one attempt', async () => {
    hits.length = 0;
    process.env['HOOK_B'] = `${origin}/b/T0KEN-b`;
    answer = (_req, res) => res.writeHead(400).end();
    const h = await hook('HOOK_B', 4);
    assert.equal(await h.webhook.deliver({ alert: 'x' }), false);
    assert.equal(hits.length, 1);
  });

  test('a receiver that does not answer times out and is retried', async () => {
    hits.length = 0;
    process.env['HOOK_C'] = `${origin}/c/T0KEN-c`;
    answer = () => undefined; // never answers
    const h = await hook('HOOK_C', 2);
    const started = Date.now();
    assert.equal(await h.webhook.deliver({ alert: 'x' }), false);
    assert.ok(Date.now() - started < 2000);
    assert.equal(hits.length, 2);
    assert.ok(h.lines.some((l) => l['outcome'] === 'timeout'));
  });

  test('the reference is re-read before each delivery: a rotated URL is used without a restart; an unreadable one keeps the last good URL', async () => {
    hits.length = 0;
    process.env['HOOK_D'] = `${origin}/d/old`;
    answer = (_req, res) => res.writeHead(204).end();
    const h = await hook('HOOK_D');
    process.env['HOOK_D'] = `${origin}/d/new`;
    assert.equal(await h.webhook.deliver({ alert: 'x' }), true);
    delete process.env['HOOK_D'];
    assert.equal(await h.webhook.deliver({ alert: 'y' }), true);
    assert.deepEqual(hits, ['/d/new', '/d/new']);
    assert.equal(await h.count('delivered'), 2);
  });

  test('a stop signal ends the retries', async () => {
    hits.length = 0;
    process.env['HOOK_E'] = `${origin}/e`;
    answer = (_req, res) => res.writeHead(500).end();
    const stop = new AbortController();
    const h = await hook('HOOK_E', 5);
    const result = h.webhook.deliver({ alert: 'x' }, stop.signal);
    stop.abort();
    assert.equal(await result, false);
    assert.ok(hits.length <= 1);
  });
});
