import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { UsageRow } from '../governance-types.js';
import Database from 'better-sqlite3';
import { GOVERNANCE_MIGRATION, SPEND_AFTER_SQL } from './governance.js';
import { openSqliteStore } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'llmproxy-gov-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

const row = (over: Partial<UsageRow>): UsageRow => ({ time: 1000, requestId: 'r', keyId: 'k1', user: 'alice', principalKind: 'api-key', instance: 'oai', model: 'gpt-4o', inputTokens: 10, outputTokens: 5, costMicros: 100, latencyMs: 3, status: 200, ...over });

describe('sqlite governance stores', () => {
  test('usage: summary by key/user/instance/model within [since, until), spendSince per scope, prune', async () => {
    const path = join(root, 'a', 'db.sqlite');
    let store = openSqliteStore(path);
    await store.governance.usage.append([
      row({ requestId: 'a' }),
      row({ requestId: 'b', keyId: 'k2', user: null, model: 'claude', costMicros: 1_500_000 }),
      row({ requestId: 'c', time: 2000, instance: 'bedrock' }),
      row({ requestId: 'old', time: 10 }),
    ]);
    await store.close();
    store = openSqliteStore(path); // rows survive a reopen
    const byKey = await store.governance.usage.summary({ by: 'key', since: 100 });
    assert.deepEqual(byKey, [
      { group: 'k2', requests: 1, input_tokens: 10, output_tokens: 5, cost_usd: 1.5 },
      { group: 'k1', requests: 2, input_tokens: 20, output_tokens: 10, cost_usd: 0.0002 },
    ]);
    assert.deepEqual((await store.governance.usage.summary({ by: 'user', since: 100 })).map((r) => [r.group, r.requests]), [[null, 1], ['alice', 2]]);
    assert.deepEqual((await store.governance.usage.summary({ by: 'instance', since: 100, until: 2000 })).map((r) => [r.group, r.requests]), [['oai', 2]]);
    assert.deepEqual((await store.governance.usage.summary({ by: 'model', since: 0 })).map((r) => r.group), ['claude', 'gpt-4o']);
    assert.deepEqual(await store.governance.usage.spendSince(100), { global: 1_500_200, keys: { k1: 200, k2: 1_500_000 }, users: { alice: 200 }, instances: { oai: 1_500_100, bedrock: 100 } });
    assert.equal(await store.governance.usage.prune(100), 1);
    await store.close();
  });

  test('usage: filters narrow a summary; series count requests, errors, tokens and cost per bucket and group, top groups only', async () => {
    const store = openSqliteStore(':memory:');
    const usage = store.governance.usage;
    const H = 3_600_000;
    const T = Date.UTC(2025, 0, 1); // a multiple of every bucket
    await usage.append([
      row({ requestId: 'a', time: T, keyId: 'k1', costMicros: 100 }),
      row({ requestId: 'b', time: T + 10, keyId: 'k1', status: 500, costMicros: 0 }),
      row({ requestId: 'c', time: T + H + 5, keyId: 'k2', user: 'bob', model: 'claude', costMicros: 2_000_000, status: 429 }),
      row({ requestId: 'd', time: T + 2 * H, keyId: 'k3', user: null, costMicros: 50 }),
      row({ requestId: 'e', time: T + 3 * H, keyId: 'k1', costMicros: 7 }), // at until: excluded
      row({ requestId: 'f', time: T - 1, keyId: 'k1', costMicros: 9 }), // before since: excluded
    ]);
    assert.deepEqual(await usage.summary({ by: 'model', since: T, filter: { keyId: 'k1' } }), [{ group: 'gpt-4o', requests: 3, input_tokens: 30, output_tokens: 15, cost_usd: 0.000107 }]);
    assert.deepEqual((await usage.summary({ by: 'key', since: T, filter: { user: 'alice', model: 'gpt-4o', instance: 'oai' } })).map((r) => [r.group, r.requests]), [['k1', 3]]);
    assert.deepEqual(await usage.summary({ by: 'key', since: 0, filter: { instance: 'nowhere' } }), []);

    const point = (time: number, requests: number, errors: number, cost_usd: number) => ({ time, requests, errors, input_tokens: 10 * requests, output_tokens: 5 * requests, cost_usd });
    assert.deepEqual(await usage.series({ by: 'none', since: T, until: T + 3 * H, bucketMs: H }), [
      { group: 'all', points: [point(T, 2, 1, 0.0001), point(T + H, 1, 1, 2), point(T + 2 * H, 1, 0, 0.00005)] },
    ]);
    assert.deepEqual(await usage.series({ by: 'user', since: T, until: T + 3 * H, bucketMs: H }), [
      { group: 'bob', points: [point(T + H, 1, 1, 2)] },
      { group: 'alice', points: [point(T, 2, 1, 0.0001)] },
      { group: null, points: [point(T + 2 * H, 1, 0, 0.00005)] },
    ], 'largest cost first; rows without a user are their own group');
    assert.deepEqual((await usage.series({ by: 'key', since: T, until: T + 4 * H, bucketMs: H, maxGroups: 2 })).map((s) => [s.group, s.points.length]), [['k2', 1], ['k1', 2]]);
    assert.deepEqual(await usage.series({ by: 'key', since: T, until: T + 4 * H, bucketMs: 4 * H, filter: { keyId: 'k1' } }), [
      { group: 'k1', points: [point(T, 3, 1, 0.000107)] },
    ]);
    await assert.rejects(usage.series({ by: 'colour' as 'key', since: T, until: T + H, bucketMs: H }), /cannot group usage by "colour"/);
    await store.close();
  });

  test('spendSince adds only the rows written since its last answer, and always equals a full sum', async () => {
    const path = join(root, 'c', 'db.sqlite');
    const store = openSqliteStore(path);
    const usage = store.governance.usage;
    /** The month summed from scratch, by a second connection to the same file. */
    const fresh = async () => {
      const other = openSqliteStore(path);
      try {
        return await other.governance.usage.spendSince(100);
      } finally {
        await other.close();
      }
    };
    const batches: UsageRow[][] = [
      [row({ requestId: 'a' }), row({ requestId: 'b', keyId: 'k2', user: null, costMicros: 7 })],
      [row({ requestId: 'c', time: 50 }), row({ requestId: 'd', keyId: 'k3', user: 'bob', costMicros: 40 })],
      [],
      [row({ requestId: 'e', time: 5000, costMicros: 1 }), row({ requestId: 'f', keyId: null, user: null, costMicros: 3 })],
    ];
    for (const batch of batches) {
      await usage.append(batch);
      const answer = await usage.spendSince(100);
      assert.deepEqual(answer, await fresh());
      answer.global = -1; // a caller changing its copy changes nothing kept
      answer.keys['k1'] = -1;
    }
    assert.deepEqual(await usage.spendSince(100), { global: 151, keys: { k1: 101, k2: 7, k3: 40 }, users: { alice: 101, bob: 40 }, instances: { oai: 151 } }); // c (time 50) is before the month
    // Another month start sums afresh; a prune past the month start drops what it counted.
    assert.deepEqual(await usage.spendSince(2000), { global: 1, keys: { k1: 1 }, users: { alice: 1 }, instances: { oai: 1 } });
    assert.equal(await usage.prune(3000), 5);
    assert.deepEqual(await usage.spendSince(2000), { global: 1, keys: { k1: 1 }, users: { alice: 1 }, instances: { oai: 1 } });
    await usage.prune(6000);
    assert.deepEqual(await usage.spendSince(2000), { global: 0, keys: {}, users: {}, instances: {} });
    await store.close();
  });

  test('the incremental spend query reads new rows by id, not the whole month', () => {
    const db = new Database(join(root, 'd.sqlite'));
    db.exec(GOVERNANCE_MIGRATION);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${SPEND_AFTER_SQL}`).all(0, 0) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
    db.close();
    assert.match(plan, /SEARCH usage_log USING INTEGER PRIMARY KEY \(rowid>\?\)/, plan);
  });

  test('settings: set, overwrite, delete', async () => {
    const store = openSqliteStore(join(root, 'b', 'db.sqlite'));
    assert.equal(await store.governance.settings.get('lockdown'), undefined);
    await store.governance.settings.set('lockdown', '{"on":true}');
    await store.governance.settings.set('lockdown', '{"on":false}');
    assert.equal((await store.governance.settings.get('lockdown'))?.value, '{"on":false}');
    await store.governance.settings.set('lockdown', null);
    assert.equal(await store.governance.settings.get('lockdown'), undefined);
    await store.close();
  });
});
