import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { UsageRow, UsageStore } from '../store/governance-types.js';
import type { JournalStream } from '../store/journal.js';
import { PendingRecords } from '../store/store-journal.js';
import { monthStart, type BudgetGuard } from './budgets.js';

export interface UsageRecorderOptions {
  store: UsageStore;
  budgets: BudgetGuard;
  logger: Logger;
  metrics: Metrics;
  flushIntervalMs: number;
  batchSize: number;
  refreshIntervalMs: number;
  /** Rows held while the store refuses writes; beyond it the oldest are dropped (counted). */
  maxBuffered?: number;
  /**
   * Where each row is written before it is buffered (store/journal.ts), so rows of a process
   * killed before its next flush are written by the next start. Without it they are lost.
   */
  journal?: JournalStream<UsageRow>;
  now?: () => number;
}

/**
 * Buffers usage rows so a request never waits on a write, and writes them in batches: every
 * `flushIntervalMs`, as soon as `batchSize` are waiting, and on `stop()`. A failed write keeps
 * the rows for the next flush (bounded by `maxBuffered`). Flushes and budget refreshes run one
 * at a time in one queue, so the budget ledger never counts a written row twice.
 *
 * Each row gets a unique `recordId` (the store writes it once, so a retried batch whose first
 * attempt did commit is not doubled) and, with a journal, is appended to it first; its journal
 * line is released once the row is in the store or dropped.
 */
export class UsageRecorder {
  readonly #store: UsageStore;
  readonly #budgets: BudgetGuard;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #options: UsageRecorderOptions;
  readonly #now: () => number;
  readonly #buffer: PendingRecords<UsageRow>;
  #queue: Promise<void> = Promise.resolve();
  #flushQueued = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: UsageRecorderOptions) {
    this.#store = options.store;
    this.#budgets = options.budgets;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#buffer = new PendingRecords(options.journal, options.maxBuffered ?? 100_000, () => this.#metrics.usageRowsDropped.inc());
  }

  /** Rows waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /** Seeds the budget ledger from the store, then starts the flush and refresh timers (store/retention.ts prunes). */
  async start(): Promise<void> {
    await this.refreshSpend();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch(() => undefined), ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#options.flushIntervalMs, () => this.flush());
    every(this.#options.refreshIntervalMs, () => this.refreshSpend());
  }

  record(row: UsageRow): void {
    this.#buffer.push(row);
    if (this.#buffer.length >= this.#options.batchSize) void this.flush();
  }

  /** Writes every buffered row (in batches of `batchSize`); concurrent callers share one queued flush. */
  flush(): Promise<void> {
    if (this.#flushQueued) return this.#queue;
    this.#flushQueued = true;
    return this.#enqueue(async () => {
      this.#flushQueued = false;
      await this.#write();
    });
  }

  /** Re-reads this month's spend from the store (after the writes queued before it). */
  refreshSpend(): Promise<void> {
    return this.#enqueue(async () => {
      const month = monthStart(this.#now());
      try {
        this.#budgets.applyRefresh(await this.#store.spendSince(month), month);
      } catch (err) {
        this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'reading spend from the usage store failed; budgets use the last known spend');
      }
    });
  }

  /** Stops the timers and writes what is left (graceful shutdown). */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.flush();
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(job);
    this.#queue = run.catch(() => undefined);
    return this.#queue;
  }

  async #write(): Promise<void> {
    // Rows recorded from now on go to a new journal segment; this one goes once its rows are written.
    this.#buffer.seal();
    // Bounded: the rows buffered now, batchSize at a time (later rows wait for the next flush); a failure ends it.
    for (let passes = Math.ceil(this.#buffer.length / this.#options.batchSize); passes > 0 && this.#buffer.length > 0; passes--) {
      const batch = this.#buffer.take(this.#options.batchSize);
      try {
        await this.#store.append(batch.records);
      } catch (err) {
        batch.failed();
        this.#logger.error({ error: err instanceof Error ? err.message : String(err), pending: this.#buffer.length }, 'usage write failed; will retry');
        return;
      }
      for (const r of batch.records) this.#budgets.committed(r.keyId, r.user, r.costMicros, r.time, r.instance);
      batch.written();
    }
    const dropped = this.#buffer.takeDropped();
    if (dropped > 0) this.#logger.error({ dropped }, 'usage rows were dropped while the store refused writes');
  }
}
