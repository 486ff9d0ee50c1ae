import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { StorageConfig } from './config.js';
import type { UsageRow } from './governance-types.js';
import { Journal, type JournalSegment, type JournalStream } from './journal.js';
import type { AuditEvent, AuditResult, AuditSeverity, Store } from './types.js';
import { AUDIT_SEVERITIES } from './audit-severity.js';

/**
 * The gateway's two journaled record kinds (store/journal.ts) bound to its store: usage rows and
 * audit events, their ids, and how a journal line is checked before it is replayed.
 */

/**
 * Unique ids for records: a random 64-bit prefix per generator and a counter, so ids from
 * different processes (and restarts) never meet. The store keeps each id once.
 */
export class RecordIds {
  readonly #prefix = randomBytes(8).toString('hex');
  #n = 0;

  next(): string {
    return `${this.#prefix}.${(this.#n++).toString(36)}`;
  }
}

/** The journal folder `config` asks for, resolved against the config file's folder; undefined when disabled. */
export function journalRoot(config: { storage: StorageConfig }, baseDir: string): string | undefined {
  const journal = config.storage.journal;
  if (!journal.enabled) return undefined;
  return resolve(baseDir, journal.path ?? join(dirname(config.storage.sqlite.path), 'journal'));
}

/** This process's usage and audit journals, bound to `store`. */
export interface StoreJournal {
  readonly folder: string;
  readonly usage: JournalStream<UsageRow>;
  readonly audit: JournalStream<AuditEvent>;
  adoptOrphans(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the journal of usage rows and audit events under `root` for `store`, replaying what dead
 * processes left there into `store` first. The store's id (`settings.store_id`, made once by
 * its migration) keeps a folder from being replayed into another store sharing the same disk.
 *
 * @example
 * const journal = await openStoreJournal(store, { root: journalRoot(config, baseDir)!, logger, metrics });
 */
export async function openStoreJournal(store: Store, options: { root: string; logger: Logger; metrics?: Metrics; adoptIntervalMs?: number }): Promise<StoreJournal> {
  const storeId = (await store.governance.settings.get(STORE_ID_SETTING))?.value ?? 'unset';
  const journal = await Journal.open({
    ...options,
    storeId,
    kinds: [
      { name: 'usage', decode: usageRowFromJournal, write: (rows: UsageRow[]) => store.governance.usage.append(rows) },
      { name: 'audit', decode: auditEventFromJournal, write: (events: AuditEvent[]) => store.audit.append(events) },
    ],
  });
  return {
    folder: journal.folder,
    usage: journal.stream<UsageRow>('usage'),
    audit: journal.stream<AuditEvent>('audit'),
    adoptOrphans: () => journal.adoptOrphans(),
    close: () => journal.close(),
  };
}

/** The setting holding a random id of the store, written once by its migration. */
export const STORE_ID_SETTING = 'store_id';

type Fields = Record<string, unknown>;
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const AUDIT_RESULTS: ReadonlySet<string> = new Set<AuditResult>(['success', 'failure', 'denied', 'throttled']);

/** A journal line as a usage row, or undefined when any field has the wrong type. */
export function usageRowFromJournal(v: unknown): UsageRow | undefined {
  if (!isObject(v)) return undefined;
  const ok =
    num(v['time']) &&
    str(v['requestId']) &&
    str(v['recordId']) &&
    strOrNull(v['keyId']) &&
    strOrNull(v['user']) &&
    strOrNull(v['principalKind']) &&
    strOrNull(v['instance']) &&
    strOrNull(v['model']) &&
    num(v['inputTokens']) &&
    num(v['outputTokens']) &&
    num(v['costMicros']) &&
    num(v['latencyMs']) &&
    Number.isInteger(v['status']);
  if (!ok) return undefined;
  return {
    time: v['time'] as number,
    requestId: v['requestId'] as string,
    recordId: v['recordId'] as string,
    keyId: v['keyId'] as string | null,
    user: v['user'] as string | null,
    principalKind: v['principalKind'] as string | null,
    instance: v['instance'] as string | null,
    model: v['model'] as string | null,
    inputTokens: v['inputTokens'] as number,
    outputTokens: v['outputTokens'] as number,
    costMicros: v['costMicros'] as number,
    latencyMs: v['latencyMs'] as number,
    status: v['status'] as number,
  };
}

/** A journal line as an audit event, or undefined when any field has the wrong type. */
export function auditEventFromJournal(v: unknown): AuditEvent | undefined {
  if (!isObject(v)) return undefined;
  const detail = v['detail'];
  const ok =
    num(v['time']) &&
    str(v['requestId']) &&
    str(v['recordId']) &&
    str(v['event']) &&
    str(v['result']) &&
    AUDIT_RESULTS.has(v['result']) &&
    strOrNull(v['reason']) &&
    str(v['method']) &&
    strOrNull(v['keyId']) &&
    strOrNull(v['user']) &&
    str(v['clientAddress']) &&
    str(v['httpMethod']) &&
    str(v['path']) &&
    strOrNull(v['instance']) &&
    (detail === undefined || detail === null || isObject(detail));
  if (!ok) return undefined;
  return {
    time: v['time'] as number,
    requestId: v['requestId'] as string,
    recordId: v['recordId'] as string,
    event: v['event'] as string,
    result: v['result'] as AuditResult,
    reason: v['reason'] as string | null,
    method: v['method'] as string,
    keyId: v['keyId'] as string | null,
    user: v['user'] as string | null,
    clientAddress: v['clientAddress'] as string,
    httpMethod: v['httpMethod'] as string,
    path: v['path'] as string,
    instance: v['instance'] as string | null,
    detail: (detail as Fields | null | undefined) ?? null,
    // An unknown severity (a line from a newer version) falls back to the derived default.
    ...(AUDIT_SEVERITIES.includes(v['severity'] as AuditSeverity) ? { severity: v['severity'] as AuditSeverity } : {}),
  };
}


/** What one `PendingRecords.take` handed out: write `records`, then say how it went. */
export interface PendingBatch<T> {
  readonly records: readonly T[];
  /** The records are in the store: their journal lines go. */
  written(): void;
  /** The write failed: the records go back to the front, for the next flush. */
  failed(): void;
}

/**
 * Records waiting for a batched store write (usage rows, audit events), each given a unique
 * `recordId` and appended to its journal before it waits. Bounded: beyond `max` the oldest is
 * dropped (its journal line released) and `onDrop` is called.
 */
export class PendingRecords<T extends { recordId?: string }> {
  readonly #journal: JournalStream<T> | undefined;
  readonly #max: number;
  readonly #onDrop: () => void;
  readonly #ids = new RecordIds();
  #entries: Array<{ record: T; segment: JournalSegment | null }> = [];
  #dropped = 0;

  constructor(journal: JournalStream<T> | undefined, max: number, onDrop: () => void) {
    this.#journal = journal;
    this.#max = max;
    this.#onDrop = onDrop;
  }

  get length(): number {
    return this.#entries.length;
  }

  push(record: T): void {
    record.recordId ??= this.#ids.next();
    this.#entries.push({ record, segment: this.#journal?.append(record) ?? null });
    if (this.#entries.length > this.#max) {
      const oldest = this.#entries.shift()!; // not inside `?.(...)`: the drop happens with or without a journal
      this.#journal?.settle(oldest.segment);
      this.#dropped++;
      this.#onDrop();
    }
  }

  /** Records taken from now on go to a new journal segment (a flush begins). */
  seal(): void {
    this.#journal?.seal();
  }

  /** Takes the oldest `count` records (default: all) for one write. */
  take(count = this.#entries.length): PendingBatch<T> {
    const entries = this.#entries.splice(0, count);
    return {
      records: entries.map((e) => e.record),
      written: () => {
        for (const e of entries) this.#journal?.settle(e.segment);
      },
      failed: () => {
        this.#entries = entries.concat(this.#entries);
      },
    };
  }

  /** How many were dropped since the last call (for one log line after a successful flush). */
  takeDropped(): number {
    const n = this.#dropped;
    this.#dropped = 0;
    return n;
  }
}
