import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { UsageRow, UsageStore } from '../store/governance-types.js';
import type { JournalSegment, JournalStream } from '../store/journal.js';
import { RecordIds } from '../store/store-journal.js';
import { monthStart, type BudgetGuard } from './budgets.js';

export interface UsageRecorderOptions {
  store: UsageStore;
  budgets: BudgetGuard;
  logger: Logger;
  metrics: Metrics;
  flushIntervalMs: number;
  batchSize: number;
  refreshIntervalMs: number;
  retentionMs: number;
  /** Rows held while the store refuses writes; beyond it the oldest are dropped (counted). */
  maxBuffered?: number;
  /**
   * Where each row is written before it is buffered (store/journal.ts), so rows of a process
   * killed before its next flush are written by the next start. Without it they are lost.
   */
  journal?: JournalStream<UsageRow>;
  now?: () => number;
}

/** A buffered row and the journal segment holding it (null: not journaled). */
interface Entry {
  row: UsageRow;
  segment: JournalSegment | null;
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
  readonly #maxBuffered: number;
  readonly #now: () => number;
  readonly #journal: JournalStream<UsageRow> | undefined;
  readonly #ids = new RecordIds();
  #buffer: Entry[] = [];
  #queue: Promise<void> = Promise.resolve();
  #flushQueued = false;
  #timers: NodeJS.Timeout[] = [];
  #dropped = 0;

  constructor(options: UsageRecorderOptions) {
    this.#store = options.store;
    this.#budgets = options.budgets;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#options = options;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#now = options.now ?? Date.now;
    this.#journal = options.journal;
  }

  /** Rows waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /** Seeds the budget ledger from the store, then starts the flush, refresh and prune timers. */
  async start(): Promise<void> {
    await this.refreshSpend();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch(() => undefined), ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#options.flushIntervalMs, () => this.flush());
    every(this.#options.refreshIntervalMs, () => this.refreshSpend());
    every(3_600_000, () => this.prune());
  }

  record(row: UsageRow): void {
    row.recordId ??= this.#ids.next();
    this.#buffer.push({ row, segment: this.#journal?.append(row) ?? null });
    if (this.#buffer.length > this.#maxBuffered) {
      const dropped = this.#buffer.shift()!;
      this.#journal?.settle(dropped.segment);
      this.#dropped++;
      this.#metrics.usageRowsDropped.inc();
    }
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

  async prune(): Promise<void> {
    try {
      const removed = await this.#store.prune(this.#now() - this.#options.retentionMs);
      if (removed > 0) this.#logger.info({ removed }, 'pruned usage rows past retention');
    } catch (err) {
      this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'usage pruning failed');
    }
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
    this.#journal?.seal();
    // Bounded: the rows buffered now, batchSize at a time (later rows wait for the next flush); a failure ends it.
    for (let passes = Math.ceil(this.#buffer.length / this.#options.batchSize); passes > 0 && this.#buffer.length > 0; passes--) {
      const batch = this.#buffer.splice(0, this.#options.batchSize);
      try {
        await this.#store.append(batch.map((e) => e.row));
      } catch (err) {
        this.#buffer = batch.concat(this.#buffer);
        this.#logger.error({ error: err instanceof Error ? err.message : String(err), pending: this.#buffer.length }, 'usage write failed; will retry');
        return;
      }
      for (const { row: r, segment } of batch) {
        this.#budgets.committed(r.keyId, r.user, r.costMicros, r.time);
        this.#journal?.settle(segment);
      }
    }
    if (this.#dropped > 0) {
      this.#logger.error({ dropped: this.#dropped }, 'usage rows were dropped while the store refused writes');
      this.#dropped = 0;
    }
  }
}
