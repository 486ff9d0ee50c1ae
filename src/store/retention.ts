import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from './types.js';

/** One table the job purges: its label, its retention and how to delete one batch older than a time. */
interface Purgeable {
  table: 'audit' | 'usage';
  retentionMs: number;
  prune(before: number, limit: number): Promise<number>;
}

export interface RetentionOptions {
  /** `audit.retention`, ms. */
  auditMs: number;
  /** `usage.retention`, ms. */
  usageMs: number;
  logger: Logger;
  metrics: Metrics;
  /** Rows per DELETE statement (default 10,000). */
  batch?: number;
  /** Between runs (default one day). */
  intervalMs?: number;
  /** Before the first run (default one minute, so a starting fleet does not purge while it warms up). */
  firstRunMs?: number;
  now?: () => number;
}

/**
 * Deletes audit events and usage rows past their retention, once a day, in batches of at most
 * `batch` rows per statement with a turn of the event loop between them, so a table that grew
 * for years neither holds a long lock nor stalls requests. Each run logs and counts the rows it
 * deleted (`llmproxy_retention_purged_rows_total{table}`).
 *
 * Several replicas may run it at once: each batch deletes only rows past retention, so the
 * work is idempotent; on PostgreSQL concurrent batches skip each other's locked rows.
 *
 * @example
 * const job = new RetentionJob(store, { auditMs: 90 * DAY, usageMs: 400 * DAY, logger, metrics });
 * job.start();
 * await job.run(); // { audit: 12000, usage: 0 }
 */
export class RetentionJob {
  readonly #tables: Purgeable[];
  readonly #options: RetentionOptions;
  readonly #batch: number;
  readonly #now: () => number;
  #timers: NodeJS.Timeout[] = [];
  #running: Promise<Record<string, number>> | undefined;
  #stopped = false;

  constructor(store: Pick<Store, 'audit' | 'governance'>, options: RetentionOptions) {
    this.#options = options;
    this.#batch = options.batch ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#tables = [
      { table: 'audit', retentionMs: options.auditMs, prune: (before, limit) => store.audit.prune(before, limit) },
      { table: 'usage', retentionMs: options.usageMs, prune: (before, limit) => store.governance.usage.prune(before, limit) },
    ];
  }

  start(): void {
    this.#stopped = false;
    const first = setTimeout(() => void this.run(), this.#options.firstRunMs ?? 60_000);
    const daily = setInterval(() => void this.run(), this.#options.intervalMs ?? 86_400_000);
    first.unref();
    daily.unref();
    this.#timers = [first, daily];
  }

  /** Stops the schedule and waits for a run under way (it ends after its current batch). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    await this.#running;
  }

  /** One purge of every table; concurrent callers share it. Resolves to the rows deleted per table. */
  run(): Promise<Record<string, number>> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    for (const t of this.#tables) {
      const before = this.#now() - t.retentionMs;
      let total = 0;
      try {
        for (;;) {
          const n = await t.prune(before, this.#batch);
          total += n;
          if (n > 0) this.#options.metrics.retentionPurged.inc({ table: t.table }, n);
          if (n < this.#batch || this.#stopped) break;
          await yieldToRequests();
        }
      } catch (err) {
        this.#options.logger.warn({ table: t.table, removed: total, error: err instanceof Error ? err.message : String(err) }, 'purging rows past retention failed; the next run continues');
      }
      removed[t.table] = total;
      if (total > 0) this.#options.logger.info({ table: t.table, removed: total, before: new Date(before).toISOString() }, 'purged rows past retention');
    }
    return removed;
  }
}
