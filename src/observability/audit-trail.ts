import type { JournalSegment, JournalStream } from '../store/journal.js';
import { RecordIds } from '../store/store-journal.js';
import type { AuditEvent, AuditLog } from '../store/types.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface AuditTrailOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
  /** Events older than this are pruned (checked hourly). */
  retentionMs: number;
  /** Upper bound of events held while the store refuses writes; beyond it the oldest are dropped (counted and logged). */
  maxBuffered?: number;
  /** Masks secrets in the client-supplied text of an event (a key pasted into the path lands in `path` or `instance`). */
  scrub?: (text: string) => string;
  /**
   * Where each event is written before it is buffered (store/journal.ts), so events of a process
   * killed before its next flush are written by the next start. Without it they are lost.
   */
  journal?: JournalStream<AuditEvent>;
  /** For `llmproxy_audit_buffered_events` and `llmproxy_audit_events_dropped_total`. */
  metrics?: Metrics;
}

/** A buffered event and the journal segment holding it (null: not journaled). */
interface Entry {
  event: AuditEvent;
  segment: JournalSegment | null;
}

/**
 * Batches audit events into the store so a request never waits on a write, and mirrors each
 * one to the JSON log through the request's access line. A failed write keeps the events for
 * the next flush; `stop()` flushes what is left (graceful shutdown).
 *
 * Each event gets a unique `recordId` (the store writes it once, so a retried batch whose first
 * attempt did commit is not doubled) and, with a journal, is appended to it — scrubbed — before
 * it is buffered; its journal line is released once the event is in the store or dropped.
 */
export class AuditTrail {
  readonly #log: AuditLog;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #retentionMs: number;
  readonly #scrub: ((text: string) => string) | undefined;
  readonly #journal: JournalStream<AuditEvent> | undefined;
  readonly #metrics: Metrics | undefined;
  readonly #ids = new RecordIds();
  #buffer: Entry[] = [];
  /** Events taken by a write under way. */
  #writing = 0;
  #flushing: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #dropped = 0;

  constructor(log: AuditLog, logger: Logger, options: AuditTrailOptions) {
    this.#log = log;
    this.#logger = logger;
    this.#flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#retentionMs = options.retentionMs;
    this.#scrub = options.scrub;
    this.#journal = options.journal;
    this.#metrics = options.metrics;
    this.#metrics?.trackAuditBuffered(() => this.pending);
  }

  /** Events not yet in the store: buffered, or in a write under way. */
  get pending(): number {
    return this.#buffer.length + this.#writing;
  }

  start(): void {
    const flush = setInterval(() => void this.flush(), this.#flushIntervalMs);
    const prune = setInterval(() => void this.prune(), 3_600_000);
    flush.unref();
    prune.unref();
    this.#timers = [flush, prune];
    void this.prune();
  }

  record(event: AuditEvent): void {
    const scrub = this.#scrub;
    if (scrub) {
      if (event.path !== null && event.path !== undefined) event.path = scrub(event.path);
      if (event.instance !== null && event.instance !== undefined) event.instance = scrub(event.instance);
    }
    event.recordId ??= this.#ids.next();
    this.#buffer.push({ event, segment: this.#journal?.append(event) ?? null });
    if (this.#buffer.length > this.#maxBuffered) {
      const dropped = this.#buffer.shift()!;
      this.#journal?.settle(dropped.segment);
      this.#dropped++;
      this.#metrics?.auditEventsDropped.inc();
    }
    if (this.#buffer.length >= this.#maxBatch) void this.flush();
  }

  /** Writes everything buffered; concurrent callers share one write. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.flush();
    if (this.#buffer.length > 0) await this.flush();
  }

  async prune(): Promise<void> {
    try {
      const removed = await this.#log.prune(Date.now() - this.#retentionMs);
      if (removed > 0) this.#logger.info({ removed }, 'pruned audit events past retention');
    } catch (err) {
      this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'audit pruning failed');
    }
  }

  async #write(): Promise<void> {
    // Events recorded from now on go to a new journal segment; this one goes once its events are written.
    this.#journal?.seal();
    while (this.#buffer.length > 0) {
      const batch = this.#buffer;
      this.#buffer = [];
      this.#writing = batch.length;
      try {
        await this.#log.append(batch.map((e) => e.event));
      } catch (err) {
        this.#buffer = batch.concat(this.#buffer);
        this.#logger.error({ error: err instanceof Error ? err.message : String(err), pending: this.#buffer.length }, 'audit write failed; will retry');
        return;
      } finally {
        this.#writing = 0;
      }
      for (const e of batch) this.#journal?.settle(e.segment);
    }
    if (this.#dropped > 0) {
      this.#logger.error({ dropped: this.#dropped }, 'audit events were dropped while the store refused writes');
      this.#dropped = 0;
    }
  }
}
