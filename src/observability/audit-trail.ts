import type { AuditEvent, AuditLog } from '../store/types.js';
import type { Logger } from './logger.js';

export interface AuditTrailOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
  /** Events older than this are pruned (checked hourly). */
  retentionMs: number;
  /** Upper bound of events held while the store refuses writes; beyond it the oldest are dropped (and counted in the log). */
  maxBuffered?: number;
  /** Masks secrets in the client-supplied text of an event (a key pasted into the path lands in `path` or `instance`). */
  scrub?: (text: string) => string;
}

/**
 * Batches audit events into the store so a request never waits on a write, and mirrors each
 * one to the JSON log through the request's access line. A failed write keeps the events for
 * the next flush; `stop()` flushes what is left (graceful shutdown).
 */
export class AuditTrail {
  readonly #log: AuditLog;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #retentionMs: number;
  readonly #scrub: ((text: string) => string) | undefined;
  #buffer: AuditEvent[] = [];
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
    this.#buffer.push(event);
    if (this.#buffer.length > this.#maxBuffered) {
      this.#buffer.shift();
      this.#dropped++;
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
    while (this.#buffer.length > 0) {
      const batch = this.#buffer;
      this.#buffer = [];
      try {
        await this.#log.append(batch);
      } catch (err) {
        this.#buffer = batch.concat(this.#buffer);
        this.#logger.error({ error: err instanceof Error ? err.message : String(err), pending: this.#buffer.length }, 'audit write failed; will retry');
        return;
      }
    }
    if (this.#dropped > 0) {
      this.#logger.error({ dropped: this.#dropped }, 'audit events were dropped while the store refused writes');
      this.#dropped = 0;
    }
  }
}
