import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { JournalStream } from './journal.js';
import { auditSeverity } from './audit-severity.js';
import { PendingRecords } from './store-journal.js';
import type { AuditEvent, AuditLog } from './types.js';

export interface AuditTrailOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
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
  /** The client address as events keep it (`privacy.ip`: clientauth/client-address.ts `addressForRecords`); default as it is. */
  address?: (address: string) => string;
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
  readonly #scrub: ((text: string) => string) | undefined;
  readonly #metrics: Metrics | undefined;
  readonly #address: ((address: string) => string) | undefined;
  readonly #buffer: PendingRecords<AuditEvent>;
  /** Events taken by a write under way. */
  #writing = 0;
  #flushing: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];

  constructor(log: AuditLog, logger: Logger, options: AuditTrailOptions) {
    this.#log = log;
    this.#logger = logger;
    this.#flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#scrub = options.scrub;
    this.#metrics = options.metrics;
    this.#address = options.address;
    this.#buffer = new PendingRecords(options.journal, options.maxBuffered ?? 100_000, () => this.#metrics?.auditEventsDropped.inc());
    this.#metrics?.trackAuditBuffered(() => this.pending);
  }

  /** Events not yet in the store: buffered, or in a write under way. */
  get pending(): number {
    return this.#buffer.length + this.#writing;
  }

  start(): void {
    const flush = setInterval(() => void this.flush(), this.#flushIntervalMs);
    flush.unref();
    this.#timers = [flush];
  }

  /**
   * Buffers `event` with its severity (given, or derived: store/audit-severity.ts) and the client
   * address as `privacy.ip` keeps it. Events other than request authentication (`auth`, which the
   * request's access line carries) are also logged as an `audit` line at their severity's level.
   */
  record(event: AuditEvent): void {
    const scrub = this.#scrub;
    if (scrub) {
      if (event.path !== null && event.path !== undefined) event.path = scrub(event.path);
      if (event.instance !== null && event.instance !== undefined) event.instance = scrub(event.instance);
    }
    event.severity = auditSeverity(event);
    if (this.#address !== undefined) event.clientAddress = this.#address(event.clientAddress);
    if (event.event !== 'auth') this.#mirror(event);
    this.#buffer.push(event);
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

  #mirror(e: AuditEvent): void {
    const line = { audit: e.event, severity: e.severity, result: e.result, reason: e.reason ?? undefined, user: e.user ?? undefined, key_id: e.keyId ?? undefined, instance: e.instance ?? undefined, request_id: e.requestId || undefined, client: e.clientAddress };
    if (e.severity === 'critical') this.#logger.error(line, 'audit');
    else if (e.severity === 'warning') this.#logger.warn(line, 'audit');
    else this.#logger.info(line, 'audit');
  }

  async #write(): Promise<void> {
    // Events recorded from now on go to a new journal segment; this one goes once its events are written.
    this.#buffer.seal();
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.take();
      this.#writing = batch.records.length;
      try {
        await this.#log.append(batch.records);
      } catch (err) {
        batch.failed();
        this.#logger.error({ error: err instanceof Error ? err.message : String(err), pending: this.#buffer.length }, 'audit write failed; will retry');
        return;
      } finally {
        this.#writing = 0;
      }
      batch.written();
    }
    const dropped = this.#buffer.takeDropped();
    if (dropped > 0) this.#logger.error({ dropped }, 'audit events were dropped while the store refused writes');
  }
}
