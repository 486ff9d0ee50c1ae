import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freshDatabase, requireService } from '../../test/helpers/services.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { SecretScrubber } from '../observability/scrubber.js';
import type { UsageRow } from './governance-types.js';
import { openPostgresStore } from './postgres/index.js';
import { RetentionJob } from './retention.js';
import { openSqliteStore } from './sqlite/index.js';
import type { AuditEvent, Store } from './types.js';

/**
 * The retention job purges audit events and usage rows past `audit.retention` and
 * `usage.retention` in bounded batches, on SQLite and PostgreSQL alike; old rows are written
 * directly with old times and the job runs against a fixed clock.
 */

const postgres = await requireService('postgres');
const databases: Array<{ drop(): Promise<void> }> = [];
after(async () => {
  await Promise.all(databases.map((d) => d.drop()));
});

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

const auditEvent = (time: number, i: number): AuditEvent => ({ time, requestId: `r${i}`, event: 'auth', result: 'success', reason: null, method: 'api_key', keyId: 'k1', user: 'alice', clientAddress: '127.0.0.1', httpMethod: 'POST', path: '/v1/chat/completions', instance: 'oai' });
const usageRow = (time: number, i: number): UsageRow => ({ time, requestId: `u${i}`, keyId: 'k1', user: i % 2 === 0 ? 'alice' : 'bob', principalKind: 'api-key', instance: 'oai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, costMicros: 10, latencyMs: 1, status: 200 });

const backends: Array<{ name: string; skip: string | false; open(): Promise<Store> }> = [
  { name: 'sqlite', skip: false, open: async () => openSqliteStore(':memory:') },
  {
    name: 'postgres',
    skip: postgres.skip,
    async open() {
      const db = await freshDatabase();
      databases.push(db);
      return openPostgresStore(db.url, { poolSize: 2 });
    },
  },
];

for (const backend of backends) {
  describe(`retention job: ${backend.name}`, { skip: backend.skip }, () => {
    test('deletes only rows past each retention, in batches, and counts and logs what it deleted', async () => {
      const store = await backend.open();
      try {
        // 45 audit events from 113 to 69 days old (retention 90d: 23 go), 30 usage rows from 30 to 1 day old (retention 7d: 23 go).
        await store.audit.append(Array.from({ length: 45 }, (_, i) => auditEvent(NOW - (113 - i) * DAY, i)));
        await store.governance.usage.append(Array.from({ length: 30 }, (_, i) => usageRow(NOW - (30 - i) * DAY + 1, i)));
        const lines: Array<Record<string, unknown>> = [];
        const logger = createLogger({ level: 'info', scrubber: new SecretScrubber(), destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
        const metrics = new Metrics();
        const batches: number[] = [];
        // Counts each DELETE statement, to show the purge is bounded per statement.
        const counted: Store = {
          ...store,
          audit: Object.assign(Object.create(store.audit) as Store['audit'], {
            prune: async (before: number, limit?: number) => {
              const n = await store.audit.prune(before, limit);
              batches.push(n);
              return n;
            },
          }),
          governance: store.governance,
        } as Store;
        const job = new RetentionJob(counted, { auditMs: 90 * DAY, usageMs: 7 * DAY, logger, metrics, batch: 10, now: () => NOW });
        assert.deepEqual(await job.run(), { audit: 23, usage: 23 });
        assert.deepEqual(batches, [10, 10, 3], 'at most one batch per statement; a short batch ends the loop');

        const audit = await store.audit.query({ limit: 1000 });
        assert.equal(audit.length, 22);
        assert.ok(audit.every((e) => e.time >= NOW - 90 * DAY));
        const usage = await store.governance.usage.summary({ by: 'key', since: 0 });
        assert.equal(usage[0]!.requests, 7);

        const purged = (await metrics.retentionPurged.get()).values.map((v) => [v.labels['table'], v.value]);
        assert.deepEqual(purged.sort(), [['audit', 23], ['usage', 23]]);
        const logged = lines.filter((l) => l['msg'] === 'purged rows past retention').map((l) => [l['table'], l['removed']]);
        assert.deepEqual(logged, [['audit', 23], ['usage', 23]]);

        assert.deepEqual(await job.run(), { audit: 0, usage: 0 }, 'a second run (or another replica) finds nothing left');
      } finally {
        await store.close();
      }
    });

    test('usage rows of a user are deleted or rewritten under a pseudonym, totals kept', async () => {
      const store = await backend.open();
      try {
        await store.governance.usage.append(Array.from({ length: 6 }, (_, i) => usageRow(NOW - i, i)));
        assert.equal(await store.governance.usage.eraseUser('alice', 'anon:00112233aabbccdd'), 3);
        const byUser = await store.governance.usage.summary({ by: 'user', since: 0 });
        assert.deepEqual(byUser.map((r) => [r.group, r.requests, r.cost_usd]).sort(), [['anon:00112233aabbccdd', 3, 0.00003], ['bob', 3, 0.00003]]);
        assert.equal(await store.governance.usage.eraseUser('bob', null), 3);
        assert.deepEqual((await store.governance.usage.summary({ by: 'user', since: 0 })).map((r) => r.group), ['anon:00112233aabbccdd']);
        assert.deepEqual((await store.governance.usage.spendSince(0)).users, { 'anon:00112233aabbccdd': 30 });
      } finally {
        await store.close();
      }
    });
  });
}
