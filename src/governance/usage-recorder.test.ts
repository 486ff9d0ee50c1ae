import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Metrics } from '../observability/metrics.js';
import type { SpendTotals, UsageRow, UsageStore } from '../store/governance-types.js';
import { BudgetGuard } from './budgets.js';
import { UsageRecorder } from './usage-recorder.js';
import { capturingLogger } from './test-support.js';

const NOW = Date.UTC(2026, 10, 15);

/** Records each append's batch; can be told to fail. */
class FakeUsageStore implements UsageStore {
  batches: UsageRow[][] = [];
  failing = false;
  async append(rows: readonly UsageRow[]) {
    if (this.failing) throw new Error('disk full');
    this.batches.push([...rows]);
  }
  async summary() {
    return [];
  }
  async spendSince(): Promise<SpendTotals> {
    const micros = this.batches.flat().reduce((t, r) => t + r.costMicros, 0);
    return { global: micros, keys: { k1: micros }, users: {} };
  }
  async prune() {
    return 0;
  }
}

const row = (i: number): UsageRow => ({ time: NOW, requestId: `r${i}`, keyId: 'k1', user: null, principalKind: 'api-key', instance: 'oai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, costMicros: 10, latencyMs: 5, status: 200 });

function setup(batchSize = 3) {
  const store = new FakeUsageStore();
  const metrics = new Metrics();
  const { logger } = capturingLogger();
  const budgets = new BudgetGuard({ config: { users: {}, warn_ratio: 0.8, refresh_interval: 1000 }, metrics, logger, now: () => NOW, env: {} });
  const recorder = new UsageRecorder({ store, budgets, logger, metrics, flushIntervalMs: 3_600_000, batchSize, refreshIntervalMs: 3_600_000, retentionMs: 1e12, maxBuffered: 5, now: () => NOW });
  return { store, budgets, recorder, metrics };
}

describe('UsageRecorder', () => {
  test('writes as soon as a batch is full, and the rest on flush, batchSize rows per write', async () => {
    const { store, recorder } = setup(3);
    for (let i = 0; i < 4; i++) recorder.record(row(i));
    await recorder.flush();
    assert.deepEqual(store.batches.map((b) => b.map((r) => r.requestId)), [['r0', 'r1', 'r2'], ['r3']]);
    assert.equal(recorder.pending, 0);
  });

  test('stop() writes what is buffered', async () => {
    const { store, recorder } = setup(100);
    recorder.record(row(1));
    recorder.record(row(2));
    assert.equal(store.batches.length, 0);
    await recorder.stop();
    assert.equal(store.batches.flat().length, 2);
  });

  test('a failed write keeps the rows for the next flush; beyond maxBuffered the oldest are dropped and counted', async () => {
    const { store, recorder, metrics } = setup(100);
    store.failing = true;
    for (let i = 0; i < 7; i++) recorder.record(row(i));
    await recorder.flush();
    assert.equal(recorder.pending, 5);
    assert.equal((await metrics.usageRowsDropped.get()).values[0]?.value, 2);
    store.failing = false;
    await recorder.flush();
    assert.deepEqual(store.batches.flat().map((r) => r.requestId), ['r2', 'r3', 'r4', 'r5', 'r6']);
  });

  test('spend charged, written, then refreshed from the store is counted once', async () => {
    const { recorder, budgets } = setup(100);
    for (let i = 0; i < 3; i++) {
      budgets.charge('k1', null, 10, NOW);
      recorder.record(row(i));
    }
    assert.equal(budgets.spent('key', 'k1'), 30);
    await recorder.flush();
    await recorder.refreshSpend();
    assert.equal(budgets.spent('key', 'k1'), 30);
  });
});
