import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freshDatabase, freshRedisPrefix, requireService } from '../helpers/services.js';
import { until } from '../helpers/wait.js';

/**
 * The scale-out deployment (issue 6): two gateway replicas in this process sharing one
 * PostgreSQL database (keys, audit, users, usage) and one Redis (rate-limit counters). Each
 * replica has its own SQLite file too, which must stay unused.
 */

const postgres = await requireService('postgres');
const redis = await requireService('redis');
const skip = postgres.skip || redis.skip;

describe('scale-out: two replicas sharing PostgreSQL and Redis', { skip }, () => {
  const RPM = 4;
  let secretsDir: string;
  let drop: (() => Promise<void>) | undefined;
  let cleanupRedis: (() => Promise<void>) | undefined;
  let redisPrefix: string;
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    const db = await freshDatabase();
    drop = db.drop;
    const prefix = freshRedisPrefix();
    cleanupRedis = prefix.cleanup;
    redisPrefix = prefix.prefix;
    // The connection URLs are secrets: the config names files holding them, as a Kubernetes Secret mount would.
    secretsDir = mkdtempSync(join(tmpdir(), 'llmproxy-scale-out-'));
    writeFileSync(join(secretsDir, 'postgres-url'), `${db.url}\n`, { mode: 0o600 });
    writeFileSync(join(secretsDir, 'redis-url'), `${redis.url}\n`, { mode: 0o600 });
    const config = {
      instances: { demo: { type: 'demo' } },
      storage: {
        postgres: { url: `\${file:${join(secretsDir, 'postgres-url')}}`, pool_size: 4 },
        redis: { url: `\${file:${join(secretsDir, 'redis-url')}}`, key_prefix: prefix.prefix },
      },
      auth: { api_keys: { revocation_poll: '200ms' } },
    };
    writeFileSync(join(secretsDir, 'llmproxy.yaml'), JSON.stringify(config));
    // Started together, as a rollout would: both migrate the same empty database.
    [a, b] = await Promise.all([startGateway(config), startGateway(config)]);
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await drop?.();
    await cleanupRedis?.();
    if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  });

  const chat = (gw: TestGateway, key: string) =>
    fetch(`${gw.url}/openai/demo/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-echo', messages: [{ role: 'user', content: 'hi' }] }),
    });

  test('a key created through one replica works on the other; both report ready', async () => {
    const { key, id } = await a.issued({ name: 'shared' });
    const res = await chat(b, key);
    assert.equal(res.status, 200, await res.text());
    assert.equal((await b.app.store.keys.get(id))?.name, 'shared');
    for (const gw of [a, b]) {
      const ready = await fetch(`${gw.url}/ready`);
      assert.equal(ready.status, 200);
      const { checks } = (await ready.json()) as { checks: Record<string, string> };
      assert.equal(checks['store'], 'ok');
      assert.equal(checks['counters'], 'ok', 'the shared Redis counters are part of readiness');
    }
    for (const gw of [a, b]) assert.equal(existsSync(join(gw.dir, 'llmproxy.db')), false, 'no SQLite file is opened beside PostgreSQL');
  });

  test('a key revoked through one replica\'s admin API is refused by the other within 5 s', async () => {
    const admin = await a.key({ name: 'admin', role: 'admin' });
    const { key, id } = await b.issued({ name: 'to-revoke' });
    // b verifies the key now, so it sits in b's verification cache when a revokes it.
    assert.equal((await chat(b, key)).status, 200);
    const revoked = await fetch(`${a.url}/admin/v1/keys/${id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(revoked.status, 200, await revoked.text());
    assert.equal((await chat(a, key)).status, 401, 'the replica that revoked refuses at once');
    await until('the other replica refuses the revoked key', async () => (await chat(b, key)).status === 401, 5000);
  });

  test('an rpm limit is shared through Redis: both replicas together admit the limit, not the limit per replica', async () => {
    // The key's own limit (`keys create --rpm`), counted per key across every replica.
    const key = await a.key({ name: 'limited', limits: { rpm: RPM } });
    // Windows are whole minutes; start well inside one so the burst cannot straddle two (bounded wait).
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => chat(i % 2 === 0 ? a : b, key).then(async (r) => (await r.arrayBuffer(), r.status))));
    const admitted = statuses.filter((s) => s === 200).length;
    assert.equal(admitted, RPM, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 12 - RPM);
    const perReplica = [0, 1].map((r) => statuses.filter((s, i) => i % 2 === r && s === 200).length);
    assert.ok(perReplica.every((n) => n <= RPM + 1), `admitted per replica: ${perReplica.join(',')}`);
    // The decision was Redis's: the window's counter lives under this gateway pair's prefix.
    const inspect = new Redis(redis.url);
    try {
      assert.ok((await inspect.keys(`${redisPrefix}rate:*`)).length > 0, 'rate counters are in Redis');
    } finally {
      inspect.disconnect();
    }
  });

  test('llmproxy keys create / revoke with the same config act on the shared database', async () => {
    const configPath = join(secretsDir, 'llmproxy.yaml');
    const created = await runCli(['keys', 'create', '--name', 'from-cli', '--json', '--config', configPath], { cwd: secretsDir });
    assert.equal(created.code, 0, created.stderr);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    assert.equal((await chat(a, key)).status, 200);
    assert.equal((await chat(b, key)).status, 200);
    const revoked = await runCli(['keys', 'revoke', id, '--config', configPath], { cwd: secretsDir });
    assert.equal(revoked.code, 0, revoked.stderr);
    await until('both replicas refuse the key revoked by the CLI', async () => (await chat(a, key)).status === 401 && (await chat(b, key)).status === 401, 5000);
    assert.ok(!`${created.stderr}${revoked.stdout}${revoked.stderr}`.includes('postgres://'));
  });

  test('llmproxy config check opens both stores; an unreachable Redis fails it without showing the password', async () => {
    const configPath = join(secretsDir, 'llmproxy.yaml');
    const good = await runCli(['config', 'check', '--json', '--config', configPath], { cwd: secretsDir });
    assert.equal(good.code, 0, good.stderr);
    assert.equal((JSON.parse(good.stdout) as { store: string }).store, 'ok');

    const password = 'check-redis-password-5e2f';
    writeFileSync(join(secretsDir, 'bad-redis-url'), `redis://:${password}@127.0.0.1:1/0`);
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as { storage: { redis: { url: string } } };
    config.storage.redis.url = `\${file:${join(secretsDir, 'bad-redis-url')}}`;
    writeFileSync(join(secretsDir, 'bad.yaml'), JSON.stringify(config));
    const bad = await runCli(['config', 'check', '--json', '--config', join(secretsDir, 'bad.yaml')], { cwd: secretsDir });
    assert.notEqual(bad.code, 0);
    assert.match((JSON.parse(bad.stdout) as { store: string }).store, /Redis.*ECONNREFUSED/);
    assert.ok(!`${bad.stdout}${bad.stderr}`.includes(password));
  });

  test('the connection URLs never reach a log line', async () => {
    await Promise.all([a.settle(), b.settle()]);
    const logs = [...a.logs, ...b.logs].join('\n');
    assert.ok(!logs.includes('postgres://'), 'no PostgreSQL URL in the logs');
    assert.ok(!logs.includes('redis://'), 'no Redis URL in the logs');
  });
});
