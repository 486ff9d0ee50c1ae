import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Metrics } from '../observability/metrics.js';
import type { SpendTotals, UsageRow, UsageStore } from '../store/governance-types.js';
import { Journal } from '../store/journal.js';
import { usageRowFromJournal } from '../store/store-journal.js';
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
  async series() {
    return [];
  }
  async spendSince(): Promise<SpendTotals> {
    const micros = this.batches.flat().reduce((t, r) => t + r.costMicros, 0);
    return { global: micros, keys: { k1: micros }, users: {}, instances: {} };
  }
  async prune() {
    return 0;
  }
  async eraseUser() {
    return 0;
  }
}

const row = (i: number): UsageRow => ({ time: NOW, requestId: `r${i}`, keyId: 'k1', user: null, principalKind: 'api-key', instance: 'oai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, costMicros: 10, latencyMs: 5, status: 200 });

function setup(batchSize = 3, journal?: Journal) {
  const store = new FakeUsageStore();
  const metrics = new Metrics();
  const { logger } = capturingLogger();
  const budgets = new BudgetGuard({ config: { users: {}, warn_ratio: 0.8, refresh_interval: 1000 }, metrics, logger, now: () => NOW, env: {} });
  const recorder = new UsageRecorder({
    store,
    budgets,
    logger,
    metrics,
    flushIntervalMs: 3_600_000,
    batchSize,
    refreshIntervalMs: 3_600_000,
    maxBuffered: 5,
    now: () => NOW,
    journal: journal?.stream<UsageRow>('usage'),
  });
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

  test('each row gets a unique recordId, kept when a failed batch is retried (the store writes an id once)', async () => {
    const { store, recorder } = setup(100);
    store.failing = true;
    for (let i = 0; i < 3; i++) recorder.record(row(i));
    await recorder.flush();
    store.failing = false;
    await recorder.flush();
    const ids = store.batches.flat().map((r) => r.recordId);
    assert.equal(new Set(ids).size, 3);
    assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0));
  });

  test('with a journal: each row is journaled before it is buffered; rows written or dropped release their lines; the segment then goes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'llmproxy-recorder-journal-'));
    try {
      const { logger } = capturingLogger();
      const journal = await Journal.open({ root, storeId: 's', logger, adoptIntervalMs: 3_600_000, kinds: [{ name: 'usage', decode: usageRowFromJournal, write: async () => undefined }] });
      const stream = journal.stream<UsageRow>('usage');
      const { store, recorder } = setup(100, journal);
      store.failing = true;
      for (let i = 0; i < 7; i++) recorder.record(row(i));
      const [file] = readdirSync(journal.folder).filter((f) => f.endsWith('.jsonl'));
      const journaled = readFileSync(join(journal.folder, file!), 'utf8').trim().split('\n').map((l) => usageRowFromJournal(JSON.parse(l)));
      assert.deepEqual(journaled.map((r) => r?.requestId), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'], 'every row is on disk, dropped ones too until the segment goes');
      assert.equal(stream.outstanding, 5, 'the 2 rows dropped beyond maxBuffered are released');
      await recorder.flush(); // refused
      assert.equal(stream.outstanding, 5);
      assert.equal(readdirSync(journal.folder).filter((f) => f.endsWith('.jsonl')).length, 1);
      store.failing = false;
      await recorder.flush();
      assert.equal(stream.outstanding, 0);
      assert.deepEqual(readdirSync(journal.folder).filter((f) => f.endsWith('.jsonl')), [], 'all its rows are in the store: the segment is deleted');
      assert.deepEqual(store.batches.flat().map((r) => r.recordId), journaled.slice(2).map((r) => r?.recordId), 'the store gets the ids the journal holds');
      await journal.close();
      assert.deepEqual(readdirSync(root), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
