import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startFleet, type Fleet, type Replica } from '../helpers/fleet.js';
import { requireService, SERVICE_URLS } from '../helpers/services.js';
import { startFaultProxy, type FaultProxy } from '../helpers/tcp.js';
import { metricSample, until } from '../helpers/wait.js';

/**
 * Issue 12, the fleet under faults: three `llmproxy serve` processes on one PostgreSQL database
 * and one Redis, with budgets held by the fleet's shared counters, and Redis or PostgreSQL cut
 * off (by a TCP proxy in this test, never by stopping the machine's servers) and brought back.
 * HTTP only, except for counting rows in PostgreSQL as a cross-check.
 */

const postgres = await requireService('postgres');
const redis = await requireService('redis');
const skip = postgres.skip || redis.skip;

/** $1 per token in and out: a request's cost in USD is its total tokens. */
const PRICING = { models: { 'demo-echo': { input_per_mtok: 1_000_000, output_per_mtok: 1_000_000 } } };
const MESSAGE = 'one two three';

async function chat(url: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/openai/demo/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo-echo', messages: [{ role: 'user', content: MESSAGE }] }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

const errorCode = (body: Record<string, unknown>) => (body['error'] as { code?: string } | undefined)?.code;

const metric = (replica: Replica, name: string, labels: Record<string, string> = {}) => metricSample(replica.url, name, labels);

async function ready(replica: Replica): Promise<{ status: number; checks: Record<string, string> }> {
  const res = await fetch(`${replica.url}/ready`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
}

async function countRows(fleet: Fleet, sql: string, params: unknown[]): Promise<number> {
  const client = new pg.Client({ connectionString: fleet.database.url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql, params)).rows[0]!.n);
  } finally {
    await client.end();
  }
}

const usageRows = (fleet: Fleet, keyId: string) => countRows(fleet, 'SELECT count(*) AS n FROM usage_log WHERE key_id = $1 AND status = 200', [keyId]);
const authSuccesses = (fleet: Fleet, keyId: string) => countRows(fleet, "SELECT count(*) AS n FROM audit_log WHERE key_id = $1 AND event = 'auth' AND result = 'success'", [keyId]);
const spentMicros = (fleet: Fleet, keyId: string) => countRows(fleet, 'SELECT coalesce(sum(cost_micros), 0) AS n FROM usage_log WHERE key_id = $1', [keyId]);

describe('fleet budgets: atomic shared counters', { skip }, () => {
  let fleet: Fleet;
  /** USD of one request (its total tokens at $1 a token). */
  let cost: number;

  before(async () => {
    fleet = await startFleet({ replicas: 3, config: { pricing: PRICING, budgets: { refresh_interval: '1s' } } });
    const probe = await fleet.createKey({ name: 'probe' });
    const first = await chat(fleet.url, probe.key);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    cost = (first.body['usage'] as { total_tokens: number }).total_tokens;
    assert.ok(cost > 0);
  });

  after(async () => {
    await fleet?.close();
  });

  test('one request at a time across three replicas: a budget of 10.5 requests admits exactly 11, whichever replica serves', async () => {
    const budget = 10.5 * cost;
    const { key, id } = await fleet.createKey({ name: 'sequential', budget_usd: budget });
    const statuses: number[] = [];
    // Bounded: 20 requests, each on the next replica directly.
    for (let i = 0; i < 20; i++) {
      const r = await chat(fleet.replicas[i % 3]!.url, key);
      statuses.push(r.status);
      if (r.status === 429) assert.equal(errorCode(r.body), 'budget_exceeded');
    }
    assert.equal(statuses.filter((s) => s === 200).length, 11, `statuses: ${statuses.join(',')}`);
    assert.deepEqual(statuses.slice(11), Array(9).fill(429), 'once crossed, every replica refuses at once');
    await until('the usage rows of the 11 requests', async () => (await usageRows(fleet, id)) === 11, 15_000);
    assert.equal(await spentMicros(fleet, id), 11 * cost * 1e6);
  });

  test('six at a time across three replicas: spend exceeds the budget by at most the requests in flight when it was crossed', async () => {
    const budget = 10.5 * cost;
    const concurrency = 6;
    const { key, id } = await fleet.createKey({ name: 'concurrent', budget_usd: budget });
    let admitted = 0;
    let refusedWave = false;
    // Bounded: at most 10 waves of 6.
    for (let wave = 0; wave < 10 && !refusedWave; wave++) {
      const results = await Promise.all(Array.from({ length: concurrency }, (_, i) => chat(fleet.replicas[i % 3]!.url, key)));
      admitted += results.filter((r) => r.status === 200).length;
      for (const r of results) if (r.status !== 200) assert.equal(errorCode(r.body), 'budget_exceeded', JSON.stringify(r.body));
      refusedWave = results.every((r) => r.status === 429);
    }
    assert.ok(refusedWave, 'the budget stopped the key');
    assert.ok(admitted >= 11, `at least the budget's worth was admitted (${admitted})`);
    assert.ok(admitted <= 11 + concurrency - 1, `at most the requests in flight at the crossing over the budget (${admitted})`);
    await until('the usage rows', async () => (await usageRows(fleet, id)) === admitted, 15_000);
    assert.ok((await spentMicros(fleet, id)) <= (budget + concurrency * cost) * 1e6);
  });

  test('Redis loses its data (restarted without persistence): the budget counters are seeded again from the usage rows', async () => {
    const { key, id } = await fleet.createKey({ name: 'reseeded', budget_usd: 100 * cost });
    for (let i = 0; i < 6; i++) assert.equal((await chat(fleet.replicas[i % 3]!.url, key)).status, 200);
    await until('the six usage rows', async () => (await usageRows(fleet, id)) === 6, 15_000);
    const client = new Redis(SERVICE_URLS.redis);
    try {
      const hashes = await client.keys(`${fleet.redisPrefix}budget:*`);
      assert.equal(hashes.length, 1, 'one budget hash for this month');
      const field = `k:${id}`;
      assert.equal(Number(await client.hget(hashes[0]!, field)), 6 * cost * 1e6, 'each charge counted once');
      await client.del(...hashes);
      // Every replica raises the counters to the usage rows at its next refresh (budgets.refresh_interval: 1s).
      await until('the counters seeded from the usage rows', async () => Number(await client.hget(hashes[0]!, field)) === 6 * cost * 1e6, 15_000);
      assert.equal(Number(await client.hget(hashes[0]!, field)), await spentMicros(fleet, id), 'Redis agrees with the rows, not more');
    } finally {
      client.disconnect();
    }
  });
});

describe('fleet faults: Redis and PostgreSQL cut off and brought back', { skip }, () => {
  let fleet: Fleet;
  let redisProxy: FaultProxy;
  let postgresProxy: FaultProxy;

  before(async () => {
    const redisUrl = new URL(SERVICE_URLS.redis);
    const postgresUrl = new URL(SERVICE_URLS.postgres);
    redisProxy = await startFaultProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    postgresProxy = await startFaultProxy({ host: postgresUrl.hostname, port: Number(postgresUrl.port || 5432) });
    fleet = await startFleet({
      replicas: 3,
      via: { redis: redisProxy, postgres: postgresProxy },
      config: {
        pricing: PRICING,
        storage: { postgres: { connect_timeout: '2s', query_timeout: '2s' }, redis: { command_timeout: '500ms' } },
      },
    });
  });

  after(async () => {
    await fleet?.close();
    await redisProxy?.close();
    await postgresProxy?.close();
  });

  test('Redis unreachable: budgets refuse (closed), rate limits count per replica (open), others are served; an alert metric; recovery without a restart', async () => {
    const budgeted = await fleet.createKey({ name: 'budgeted', budget_usd: 1000 });
    const limited = await fleet.createKey({ name: 'limited', rpm: 1000 });
    const plain = await fleet.createKey({ name: 'plain' });
    for (const k of [budgeted, limited, plain]) assert.equal((await chat(fleet.url, k.key)).status, 200);

    redisProxy.cut({ mode: 'blackhole' });
    try {
      for (const replica of fleet.replicas) {
        const b = await chat(replica.url, budgeted.key);
        assert.equal(b.status, 503, JSON.stringify(b.body));
        assert.equal(errorCode(b.body), 'counters_unavailable');
        assert.equal((await chat(replica.url, limited.key)).status, 200, 'rate limits fail open by default: counted by this replica');
        assert.equal((await chat(replica.url, plain.key)).status, 200);
        assert.equal(await metric(replica, 'llmproxy_counter_store_up'), 0);
        assert.ok((await metric(replica, 'llmproxy_counter_store_failures_total', { policy: 'closed' }))! >= 1);
        assert.ok((await metric(replica, 'llmproxy_counter_store_failures_total', { policy: 'open' }))! >= 1);
        const r = await ready(replica);
        assert.equal(r.status, 503);
        assert.equal(r.checks['counters'], 'unreachable');
        assert.equal(r.checks['store'], 'ok');
      }
    } finally {
      redisProxy.restore();
    }
    for (const replica of fleet.replicas) {
      await until(`replica ${replica.index} to count on Redis again`, async () => (await chat(replica.url, budgeted.key)).status === 200, 15_000);
      assert.equal(await metric(replica, 'llmproxy_counter_store_up'), 1);
      assert.equal((await ready(replica)).status, 200);
    }
  });

  test('PostgreSQL unreachable: verified keys keep working, others get 503, admin writes 503, audit buffered; both back: every row written, nothing doubled', async () => {
    const cached = await fleet.createKey({ name: 'cached' });
    const unseen = await fleet.createKey({ name: 'unseen' });
    let served = 0;
    // Every replica verifies the key before the cut.
    for (const replica of fleet.replicas) {
      assert.equal((await chat(replica.url, cached.key)).status, 200);
      served++;
    }

    // A replica trusts its cache through an outage only once it has polled the store since its
    // announcement channel last (re)connected (the Redis cut above reset it): two poll periods.
    await new Promise((r) => setTimeout(r, 2500));
    postgresProxy.cut({ mode: 'blackhole' });
    try {
      // Longer than the verifier's 5 s staleness bound: the Redis announcement channel vouches for the cache.
      await new Promise((r) => setTimeout(r, 6000));
      for (const replica of fleet.replicas) {
        const ok = await chat(replica.url, cached.key);
        assert.equal(ok.status, 200, `a verified key keeps working on replica ${replica.index}: ${JSON.stringify(ok.body)}\n${fleet.describe(3000)}`);
        served++;
        const refused = await chat(replica.url, unseen.key);
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.equal(errorCode(refused.body), 'store_unavailable');
      }
      const write = await fleet.admin('POST', 'keys', { name: 'during-outage' }, fleet.replicas[0]);
      assert.equal(write.status, 503, JSON.stringify(write.body));
      assert.equal((write.body['error'] as { code: string }).code, 'store_unavailable');
      assert.match((write.body['error'] as { message: string }).message, /PostgreSQL/);
      for (const replica of fleet.replicas) {
        const r = await ready(replica);
        assert.equal(r.status, 503);
        assert.equal(r.checks['store'], 'unreachable');
        assert.equal(await metric(replica, 'llmproxy_store_up'), 0);
        assert.ok((await metric(replica, 'llmproxy_audit_buffered_events'))! >= 1, 'audit events wait for the store');
      }
    } finally {
      postgresProxy.restore();
    }
    for (const replica of fleet.replicas) {
      await until(`replica ${replica.index} ready again`, async () => (await ready(replica)).status === 200, 30_000);
    }
    assert.equal((await chat(fleet.url, unseen.key)).status, 200, 'keys never seen before are verified again');
    await until('every usage row written', async () => (await usageRows(fleet, cached.id)) >= served, 30_000);
    await until('every audit row written', async () => (await authSuccesses(fleet, cached.id)) >= served, 30_000);
    assert.equal(await usageRows(fleet, cached.id), served, 'usage: none lost, none doubled');
    assert.equal(await authSuccesses(fleet, cached.id), served, 'audit: none lost, none doubled');
    await until('the unseen key\'s rows', async () => (await authSuccesses(fleet, unseen.id)) === 1 && (await usageRows(fleet, unseen.id)) === 1, 15_000);
    for (const replica of fleet.replicas) {
      await until(`replica ${replica.index} to report the store up`, async () => (await metric(replica, 'llmproxy_store_up')) === 1, 10_000);
      assert.equal(await metric(replica, 'llmproxy_audit_buffered_events'), 0);
    }
    // Writes work again.
    const write = await fleet.admin('POST', 'keys', { name: 'after-outage' });
    assert.equal(write.status, 201, JSON.stringify(write.body));
  });

  test('both cut at once, then both back: every replica converges without a restart; every answer is accounted for', async () => {
    const key = await fleet.createKey({ name: 'both', budget_usd: 1000 });
    /** Every answer this test gets, to count the rows they must leave. */
    const answers: Array<{ status: number; code: string | undefined }> = [];
    const send = async (replica: Replica) => {
      const r = await chat(replica.url, key.key);
      answers.push({ status: r.status, code: errorCode(r.body) });
      return r;
    };
    for (const replica of fleet.replicas) assert.equal((await send(replica)).status, 200); // verified everywhere
    redisProxy.cut({ mode: 'reset' });
    postgresProxy.cut({ mode: 'reset' });
    try {
      const during = await send(fleet.replicas[1]!);
      assert.equal(during.status, 503, JSON.stringify(during.body));
      assert.equal(errorCode(during.body), 'counters_unavailable', 'a verified key passes; its budget cannot be checked');
    } finally {
      redisProxy.restore();
      postgresProxy.restore();
    }
    for (const replica of fleet.replicas) {
      await until(`replica ${replica.index} ready`, async () => (await ready(replica)).status === 200, 30_000);
      await until(`replica ${replica.index} serving the budgeted key`, async () => (await send(replica)).status === 200, 15_000);
      assert.equal(await metric(replica, 'llmproxy_counter_store_up'), 1);
      assert.equal(await metric(replica, 'llmproxy_store_up'), 1);
    }
    const served = answers.filter((a) => a.status === 200).length;
    // Authentication succeeded for every answer but those refused before it (the key store unreachable).
    const authenticated = answers.filter((a) => a.code !== 'store_unavailable').length;
    await until('the rows of every answered request', async () => (await usageRows(fleet, key.id)) === served, 15_000);
    await until('the audit events of every authenticated request', async () => (await authSuccesses(fleet, key.id)) === authenticated, 15_000);
    assert.equal(served, 6);
  });
});
