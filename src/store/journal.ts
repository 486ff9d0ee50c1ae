import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { readJournalLines } from './journal-lines.js';

/**
 * A local write-ahead journal for the records the gateway buffers before writing them to the
 * store in batches (usage rows, audit events), so a process killed with SIGKILL — or stopped
 * while the store refuses writes — loses none of the records it had acknowledged.
 *
 * Layout: `<root>/<pid>-<random>/` per running process, holding `lock` (an OS lock, see
 * `FolderLock`), `owner.json` (pid, host, start, store id) and segment files
 * `<kind>-<seq>.jsonl`, one JSON record per line. A record is appended with a synchronous
 * `write(2)` before the in-memory buffer takes it; a flush seals the current segment, and a
 * sealed segment is deleted once every record in it is in the store (or was dropped from the
 * buffer). No fsync: the OS page cache survives the death of the process, which is the
 * failure this guards against; a crash of the machine itself can still lose the last seconds.
 *
 * A folder whose lock nobody holds belongs to a process that has died: at start, and every
 * `adoptIntervalMs` after, its segments are replayed into the store and the folder removed.
 * Replay writes records the store may already hold (killed between the commit and the
 * delete), so every record carries a `recordId` the store writes at most once.
 *
 * @example
 * const journal = await openStoreJournal(store, { root: '/data/journal', logger, metrics });
 * const segment = journal.usage.append(row);   // before buffering `row`
 * journal.usage.seal();                        // when a flush takes the buffer
 * journal.usage.settle(segment);               // once `row` is in the store (or dropped)
 * await journal.close();                       // after the last flush
 */

/** One kind of record in the journal: how a line is checked and how replayed records are written. */
export interface JournalKind<T> {
  /** Segment file prefix: lower-case letters (`usage`, `audit`). */
  readonly name: string;
  /** A parsed line as a record, or undefined when it is not one (skipped and counted). */
  decode(value: unknown): T | undefined;
  /** Writes replayed records; must write a record whose `recordId` the store holds already at most once. */
  write(records: T[]): Promise<void>;
}

export interface JournalOptions {
  /** The folder shared by every process of one deployment; each process writes in a subfolder of its own. */
  root: string;
  /** Record kinds; a kind's `write` takes what its `decode` returned. */
  kinds: ReadonlyArray<JournalKind<unknown>>;
  /** Identifies the store the records belong to; folders written for another store are left alone. */
  storeId: string;
  logger: Logger;
  metrics?: Metrics;
  /** How often folders of dead processes are looked for after the start (default 5 s). */
  adoptIntervalMs?: number;
  /** A segment is sealed after this many records even when no flush took them (default 10,000). */
  segmentRecords?: number;
  /** Longest record line written or read back (default 1 MiB); longer ones are kept in memory only. */
  maxLineBytes?: number;
  /** Records per store write during a replay (default 500). */
  replayBatch?: number;
}

const FOLDER = /^\d{1,10}-[0-9a-f]{12}$/;
const SEGMENT = /^([a-z]{1,16})-(\d{8})\.jsonl$/;
const STAGING = '.new-';
const LOCK_FILE = 'lock';
const OWNER_FILE = 'owner.json';
/** A staging folder older than this was left by a process that died while starting. */
const STALE_STAGING_MS = 3_600_000;

/**
 * An exclusive OS lock on `<folder>/lock`: a POSIX record lock taken through SQLite
 * (`locking_mode=EXCLUSIVE`), so the kernel releases it when its process dies, SIGKILL included
 * — no pid file to go stale, no pid reused in another container to be fooled by. SQLite also
 * tracks the locks of one process across its connections, so two gateways in one process see
 * each other's locks too.
 */
class FolderLock {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The lock, or undefined when another holder has it (or, with `create` false, the file is gone). */
  static take(path: string, create: boolean): FolderLock | undefined {
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: 0, fileMustExist: !create });
    } catch (err) {
      if (!create) return undefined;
      throw err;
    }
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // No rollback journal file beside the lock (nothing is ever written to it).
      db.pragma('journal_mode = MEMORY');
      // An empty write transaction takes the EXCLUSIVE lock, which exclusive locking mode keeps until close.
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
      return new FolderLock(db);
    } catch (err) {
      db.close();
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') return undefined;
      throw err;
    }
  }

  release(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** One segment file: records appended, records not yet in the store, sealed (no more appends). */
export interface JournalSegment {
  readonly path: string;
  fd: number | undefined;
  appended: number;
  outstanding: number;
  sealed: boolean;
}

/** What a stream needs from its journal. */
interface StreamContext {
  folder: string;
  kind: string;
  segmentRecords: number;
  maxLineBytes: number;
  logger: Logger;
  metrics: Metrics | undefined;
}

/**
 * The journal of one kind of record in this process's folder. Not shared between kinds; one
 * writer (the recorder of that kind) calls it, on the event loop.
 */
export class JournalStream<T> {
  readonly #ctx: StreamContext;
  #seq = 0;
  #current: JournalSegment | undefined;
  /** Sealed segments holding records that are not in the store yet. */
  readonly #waiting = new Set<JournalSegment>();
  #closed = false;
  #lastErrorLog = 0;

  constructor(ctx: StreamContext) {
    this.#ctx = ctx;
  }

  /** Records written to segments and not yet settled. */
  get outstanding(): number {
    let n = this.#current?.outstanding ?? 0;
    for (const s of this.#waiting) n += s.outstanding;
    return n;
  }

  /**
   * Appends `record` (one JSON line, one synchronous write) and returns its segment, to hand to
   * `settle` once the record is in the store. Null when it could not be written (disk full,
   * oversized, journal closed): the record then lives in memory only, counted and logged.
   */
  append(record: T): JournalSegment | null {
    if (this.#closed) return null;
    let segment = this.#current;
    try {
      const line = `${JSON.stringify(record)}\n`;
      // A string is never shorter in UTF-8 than in UTF-16 code units, nor more than 3 times longer.
      const size = line.length * 3 <= this.#ctx.maxLineBytes ? -1 : Buffer.byteLength(line);
      if (size > this.#ctx.maxLineBytes) throw new Error(`a record of ${size} bytes exceeds the journal line limit`);
      segment ??= this.#current = this.#open();
      writeLine(segment.fd!, line);
    } catch (err) {
      this.#failed(err);
      // A partly written line must stay the last one of its file, where a replay skips it as torn.
      if (segment !== undefined && (err as NodeJS.ErrnoException).code !== undefined) this.#seal(segment);
      return null;
    }
    segment.appended++;
    segment.outstanding++;
    if (segment.appended >= this.#ctx.segmentRecords) this.#seal(segment);
    return segment;
  }

  /**
   * Called when a flush takes the buffered records: later records go to a new segment, so this
   * one can be deleted once its records are written. While older segments still wait for the
   * store (it refuses writes), the current one keeps filling up to `segmentRecords` instead, so
   * an outage makes few files, not one per flush.
   */
  seal(): void {
    const current = this.#current;
    if (current !== undefined && (this.#waiting.size === 0 || current.appended >= this.#ctx.segmentRecords)) this.#seal(current);
  }

  /** A record of `segment` is in the store, or was dropped from the buffer: its line is no longer needed. */
  settle(segment: JournalSegment | null): void {
    if (segment === null) return;
    segment.outstanding--;
    if (segment.sealed && segment.outstanding <= 0) this.#delete(segment);
  }

  /**
   * Seals the current segment and closes every file; segments whose records all reached the
   * store are deleted. Returns how many records stay in the journal for the next start.
   */
  close(): number {
    if (!this.#closed && this.#current !== undefined) this.#seal(this.#current);
    this.#closed = true;
    return this.outstanding;
  }

  #open(): JournalSegment {
    const path = join(this.#ctx.folder, `${this.#ctx.kind}-${String(++this.#seq).padStart(8, '0')}.jsonl`);
    const fd = openSync(path, 'a', 0o600);
    return { path, fd, appended: 0, outstanding: 0, sealed: false };
  }

  #seal(segment: JournalSegment): void {
    if (this.#current === segment) this.#current = undefined;
    segment.sealed = true;
    if (segment.fd !== undefined) {
      try {
        closeSync(segment.fd);
      } catch {
        // Nothing is written to it any more either way.
      }
      segment.fd = undefined;
    }
    if (segment.outstanding <= 0) this.#delete(segment);
    else this.#waiting.add(segment);
  }

  #delete(segment: JournalSegment): void {
    this.#waiting.delete(segment);
    try {
      unlinkSync(segment.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#ctx.logger.warn({ file: segment.path, error: errorText(err) }, 'deleting a written journal segment failed; a later replay writes its records again (ignored as duplicates)');
    }
  }

  #failed(err: unknown): void {
    this.#ctx.metrics?.journalWriteErrors.inc({ kind: this.#ctx.kind });
    const now = Date.now();
    if (now - this.#lastErrorLog < 60_000) return;
    this.#lastErrorLog = now;
    this.#ctx.logger.error({ kind: this.#ctx.kind, folder: this.#ctx.folder, error: errorText(err) }, 'journal write failed; records are kept in memory only until the store takes them (logged at most once a minute)');
  }
}

/**
 * Writes `line` whole: one write(2) of the string, the usual case; should the kernel take only
 * part of it (a nearly full disk), the rest goes from its bytes.
 */
function writeLine(fd: number, line: string): void {
  const written = writeSync(fd, line);
  if (written === Buffer.byteLength(line)) return;
  const bytes = Buffer.from(line);
  for (let off = written; off < bytes.length; ) off += writeSync(fd, bytes, off);
}

/** What a replay of one folder did, per kind. */
interface ReplayCounts {
  records: number;
  torn: number;
  malformed: number;
  oversized: number;
}

/** This process's journal folder, its streams, and the adoption of folders left by dead processes. */
export class Journal {
  readonly #options: JournalOptions;
  readonly #name: string;
  readonly #folder: string;
  readonly #lock: FolderLock;
  readonly #kinds: ReadonlyMap<string, JournalKind<unknown>>;
  readonly #streams = new Map<string, JournalStream<unknown>>();
  readonly #warned = new Set<string>();
  /** When a failed replay of each folder was last logged (a store outage would log one every pass). */
  readonly #failureLogged = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #adopting: Promise<void> | undefined;
  #closed = false;

  private constructor(options: JournalOptions, name: string, lock: FolderLock) {
    this.#options = options;
    this.#name = name;
    this.#folder = join(options.root, name);
    this.#lock = lock;
    this.#kinds = new Map(options.kinds.map((k) => [k.name, k]));
    for (const kind of options.kinds) {
      this.#streams.set(
        kind.name,
        new JournalStream({
          folder: this.#folder,
          kind: kind.name,
          segmentRecords: options.segmentRecords ?? 10_000,
          maxLineBytes: options.maxLineBytes ?? 1024 * 1024,
          logger: options.logger,
          metrics: options.metrics,
        }),
      );
    }
  }

  /**
   * Creates this process's folder under `root` and locks it, then replays what dead processes
   * left (before the gateway serves), and keeps looking for such folders every
   * `adoptIntervalMs`. Throws, naming the folder, when it cannot be created.
   */
  static async open(options: JournalOptions): Promise<Journal> {
    for (const kind of options.kinds) {
      if (!/^[a-z]{1,16}$/.test(kind.name)) throw new Error(`journal kind names are 1-16 lower-case letters (got "${kind.name}")`);
    }
    const name = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const staging = join(options.root, `${STAGING}${name}`);
    let lock: FolderLock | undefined;
    try {
      mkdirSync(options.root, { recursive: true, mode: 0o700 });
      mkdirSync(staging, { mode: 0o700 });
      // Locked and described before it gets a name others look at, so it is never taken for a dead process's folder.
      lock = FolderLock.take(join(staging, LOCK_FILE), true);
      if (lock === undefined) throw new Error('a new lock file was locked by someone else');
      writeFileSync(join(staging, OWNER_FILE), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), store: options.storeId }), { mode: 0o600 });
      renameSync(staging, join(options.root, name));
    } catch (err) {
      lock?.release();
      try {
        rmSync(staging, { recursive: true, force: true });
      } catch {
        // Never created.
      }
      throw new Error(`storage.journal: cannot create the journal folder in ${options.root}: ${errorText(err)} (give storage.journal.path a writable folder, or set storage.journal.enabled: false)`, { cause: err });
    }
    const journal = new Journal(options, name, lock);
    await journal.adoptOrphans();
    const every = options.adoptIntervalMs ?? 5_000;
    journal.#timer = setInterval(() => void journal.adoptOrphans(), every);
    journal.#timer.unref();
    return journal;
  }

  /** This process's folder. */
  get folder(): string {
    return this.#folder;
  }

  stream<T>(kind: string): JournalStream<T> {
    const s = this.#streams.get(kind);
    if (s === undefined) throw new Error(`no journal kind "${kind}"`);
    return s as JournalStream<T>;
  }

  /** Replays and removes every folder under `root` whose process has died; one pass at a time. */
  adoptOrphans(): Promise<void> {
    this.#adopting ??= this.#adoptAll().finally(() => {
      this.#adopting = undefined;
    });
    return this.#adopting;
  }

  /**
   * Stops adopting, seals the streams and deletes this process's folder when all its records
   * are in the store; otherwise leaves it (unlocked) for the next start to replay. Call after
   * the last flush of every stream.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#adopting;
    let left = 0;
    for (const s of this.#streams.values()) left += s.close();
    if (left > 0) {
      this.#options.logger.warn({ folder: this.#folder, records: left }, 'stopping with records the store has not taken yet; they stay in the journal and the next start writes them');
      this.#lock.release();
      return;
    }
    this.#removeFolder(this.#folder, this.#lock);
  }

  async #adoptAll(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.#options.root);
    } catch (err) {
      this.#options.logger.warn({ folder: this.#options.root, error: errorText(err) }, 'cannot list the journal folder');
      return;
    }
    for (const name of names) {
      if (this.#closed) return;
      if (name === this.#name) continue;
      if (name.startsWith(STAGING)) this.#removeStaleStaging(join(this.#options.root, name));
      else if (FOLDER.test(name)) {
        try {
          await this.#adopt(name);
        } catch (err) {
          this.#options.logger.error({ folder: join(this.#options.root, name), error: errorText(err) }, 'adopting the journal folder of a dead process failed; it is retried later');
        }
      }
    }
  }

  async #adopt(name: string): Promise<void> {
    const folder = join(this.#options.root, name);
    const lock = FolderLock.take(join(folder, LOCK_FILE), false);
    if (lock === undefined) return; // its process is alive (or another one is adopting it)
    const logger = this.#options.logger;
    let removed = false;
    try {
      const owner = readOwner(folder);
      if (owner === undefined || owner.store !== this.#options.storeId) {
        if (!this.#warned.has(name)) {
          this.#warned.add(name);
          logger.warn({ folder, owner_store: owner?.store, store: this.#options.storeId }, 'a journal folder left by a dead process belongs to another store (or has no owner.json); it is left alone');
        }
        return;
      }
      const files = readdirSync(folder)
        .filter((f) => SEGMENT.test(f))
        .sort();
      const counts = new Map<string, ReplayCounts>();
      let unknown = 0;
      for (const file of files) {
        const kind = this.#kinds.get(SEGMENT.exec(file)![1]!);
        if (kind === undefined) {
          unknown++;
          continue;
        }
        let c = counts.get(kind.name);
        if (c === undefined) counts.set(kind.name, (c = { records: 0, torn: 0, malformed: 0, oversized: 0 }));
        try {
          await this.#replayFile(kind, join(folder, file), c);
        } catch (err) {
          const last = this.#failureLogged.get(name) ?? 0;
          if (Date.now() - last >= 60_000) {
            this.#failureLogged.set(name, Date.now());
            logger.error({ folder, file, error: errorText(err) }, 'replaying a journal segment into the store failed; it is retried later');
          }
          return;
        }
        unlinkSync(join(folder, file));
      }
      if (counts.size > 0) {
        logger.info({ folder, owner_pid: owner.pid, owner_host: owner.host, ...Object.fromEntries(counts) }, 'journal replayed: records of a process that stopped before writing them are in the store now');
      }
      if (unknown > 0) {
        if (!this.#warned.has(name)) {
          this.#warned.add(name);
          logger.warn({ folder, files: unknown }, 'a journal folder holds segments of a kind this version does not know; they are left alone');
        }
        return;
      }
      this.#removeFolder(folder, lock);
      this.#failureLogged.delete(name);
      removed = true;
    } finally {
      if (!removed) lock.release();
    }
  }

  async #replayFile(kind: JournalKind<unknown>, path: string, counts: ReplayCounts): Promise<void> {
    const batchSize = this.#options.replayBatch ?? 500;
    const metrics = this.#options.metrics;
    let batch: unknown[] = [];
    const skip = (reason: 'torn' | 'malformed' | 'oversized') => {
      counts[reason]++;
      metrics?.journalSkippedLines.inc({ kind: kind.name, reason });
    };
    const write = async () => {
      await kind.write(batch);
      counts.records += batch.length;
      metrics?.journalReplayed.inc({ kind: kind.name }, batch.length);
      batch = [];
    };
    for await (const item of readJournalLines(path, this.#options.maxLineBytes ?? 1024 * 1024)) {
      if (item.line === undefined) {
        skip(item.skipped);
        continue;
      }
      let record: unknown;
      try {
        record = kind.decode(JSON.parse(item.line));
      } catch {
        record = undefined;
      }
      if (record === undefined) skip('malformed');
      else batch.push(record);
      if (batch.length >= batchSize) await write();
    }
    if (batch.length > 0) await write();
  }

  /** Deletes a folder whose segments are gone: the lock file last (while still held), so no one else takes it meanwhile. */
  #removeFolder(folder: string, lock: FolderLock): void {
    try {
      rmSync(join(folder, OWNER_FILE), { force: true });
      rmSync(join(folder, LOCK_FILE), { force: true });
    } finally {
      lock.release();
    }
    try {
      rmdirSync(folder);
    } catch (err) {
      this.#options.logger.warn({ folder, error: errorText(err) }, 'cannot remove an emptied journal folder');
    }
  }

  #removeStaleStaging(path: string): void {
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_STAGING_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Gone already, or not ours to remove: it holds no records either way.
    }
  }
}

function readOwner(folder: string): { pid: unknown; host: unknown; store: unknown } | undefined {
  try {
    const text = readFileSync(join(folder, OWNER_FILE), 'utf8');
    if (text.length > 4096) return undefined;
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as { pid: unknown; host: unknown; store: unknown }) : undefined;
  } catch {
    return undefined;
  }
}


function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
