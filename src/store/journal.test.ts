import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { freshDatabase, requireService } from '../../test/helpers/services.js';
import { capturingLogger } from '../governance/test-support.js';
import { Metrics } from '../observability/metrics.js';
import { validate } from '../config/load.js';
import type { UsageRow } from './governance-types.js';
import { Journal, type JournalKind } from './journal.js';
import { readJournalLines } from './journal-lines.js';
import { RecordIds, auditEventFromJournal, journalRoot, openStoreJournal, usageRowFromJournal } from './store-journal.js';
import { MIGRATIONS } from './sqlite/migrations.js';
import { openSqliteStore } from './sqlite/index.js';
import { PG_MIGRATIONS, migratePostgres } from './postgres/migrations.js';
import { openPostgresStore } from './postgres/index.js';
import type { AuditEvent, Store } from './types.js';

const postgres = await requireService('postgres');

const base = mkdtempSync(join(tmpdir(), 'llmproxy-journal-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const freshRoot = () => join(base, `root-${++n}`);

interface Rec {
  recordId: string;
  n: number;
}

/** A store for `Rec`s that keeps each recordId once, as the real stores do; can be told to fail. */
class FakeSink {
  readonly byId = new Map<string, Rec>();
  writes = 0;
  failing = false;
  kind(name = 'usage'): JournalKind<Rec> {
    return {
      name,
      decode: (v) => (typeof v === 'object' && v !== null && typeof (v as Rec).recordId === 'string' && typeof (v as Rec).n === 'number' ? (v as Rec) : undefined),
      write: async (records) => {
        if (this.failing) throw new Error('store unreachable');
        this.writes++;
        for (const r of records) if (!this.byId.has(r.recordId)) this.byId.set(r.recordId, r);
      },
    };
  }
}

function open(root: string, sink: FakeSink, extra: Partial<Parameters<typeof Journal.open>[0]> = {}) {
  const { logger, lines } = capturingLogger();
  const metrics = new Metrics();
  return Journal.open({ root, storeId: 'store-a', kinds: [sink.kind() as JournalKind<unknown>], logger, metrics, adoptIntervalMs: 3_600_000, ...extra }).then((journal) => ({ journal, lines, metrics }));
}

const rec = (i: number): Rec => ({ recordId: `r${i}`, n: i });
const segments = (folder: string) => readdirSync(folder).filter((f) => f.endsWith('.jsonl')).sort();
const linesOf = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
const value = async (c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, labels: Record<string, string>) =>
  (await c.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;

describe('Journal: segments', () => {
  test('each record is one JSON line in the current segment; a sealed segment is deleted once every record in it is settled', async () => {
    const root = freshRoot();
    const { journal } = await open(root, new FakeSink());
    const s = journal.stream<Rec>('usage');
    const a = s.append(rec(1));
    const b = s.append(rec(2));
    assert.ok(a && b && a === b);
    assert.deepEqual(segments(journal.folder), ['usage-00000001.jsonl']);
    assert.deepEqual(linesOf(join(journal.folder, 'usage-00000001.jsonl')).map((l) => JSON.parse(l) as unknown), [rec(1), rec(2)]);
    s.seal();
    const c = s.append(rec(3));
    assert.notEqual(c, a, 'records after the seal go to a new segment');
    assert.deepEqual(segments(journal.folder), ['usage-00000001.jsonl', 'usage-00000002.jsonl']);
    s.settle(a);
    assert.deepEqual(segments(journal.folder), ['usage-00000001.jsonl', 'usage-00000002.jsonl'], 'one record of the first segment is not in the store yet');
    s.settle(b);
    assert.deepEqual(segments(journal.folder), ['usage-00000002.jsonl']);
    assert.equal(s.outstanding, 1);
    s.settle(c);
    await journal.close();
    assert.deepEqual(readdirSync(root), [], 'a clean close removes the folder');
  });

  test('while an older segment waits for the store a flush keeps filling the current one; segmentRecords caps a segment', async () => {
    const { journal } = await open(freshRoot(), new FakeSink(), { segmentRecords: 3 });
    const s = journal.stream<Rec>('usage');
    const first = s.append(rec(1));
    s.seal(); // the store refuses the write: rec 1 stays outstanding
    const second = s.append(rec(2));
    s.seal();
    assert.equal(s.append(rec(3)), second, 'no new segment per failed flush');
    assert.equal(s.append(rec(4)), second);
    assert.deepEqual(segments(journal.folder), ['usage-00000001.jsonl', 'usage-00000002.jsonl']);
    const third = s.append(rec(5));
    assert.notEqual(third, second, 'the segment was sealed at 3 records');
    assert.equal(segments(journal.folder).length, 3);
    s.settle(first);
    assert.equal(segments(journal.folder).length, 2);
    await journal.close();
  });

  test('a record longer than maxLineBytes is not journaled (null), and counted', async () => {
    const { journal, metrics } = await open(freshRoot(), new FakeSink(), { maxLineBytes: 64 });
    const s = journal.stream<Rec & { pad?: string }>('usage');
    assert.equal(s.append({ ...rec(1), pad: 'x'.repeat(100) }), null);
    assert.equal(await value(metrics.journalWriteErrors, { kind: 'usage' }), 1);
    assert.ok(s.append(rec(2)));
    await journal.close();
  });

  test('RecordIds are unique within and across generators', () => {
    const a = new RecordIds();
    const b = new RecordIds();
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(a.next()).add(b.next());
    assert.equal(ids.size, 2000);
  });
});

describe('Journal: replay', () => {
  test('records a closed journal could not settle are replayed by the next open, once, and its folder removed', async () => {
    const root = freshRoot();
    const sink = new FakeSink();
    const first = await open(root, sink);
    const s = first.journal.stream<Rec>('usage');
    const seg = s.append(rec(1));
    s.append(rec(2));
    s.append(rec(3));
    s.settle(seg); // rec 1 reached the store; its line stays until the segment is sealed and drained
    sink.byId.set('r1', rec(1));
    await first.journal.close();
    assert.equal(readdirSync(root).length, 1, 'the folder stays for the next start');
    assert.match(first.lines.map((l) => String(l['msg'])).join('\n'), /they stay in the journal and the next start writes them/);

    const second = await open(root, sink);
    assert.deepEqual([...sink.byId.keys()].sort(), ['r1', 'r2', 'r3']);
    assert.equal(await value(second.metrics.journalReplayed, { kind: 'usage' }), 3, 'r1 is written again and ignored by the store');
    assert.deepEqual(readdirSync(root), [second.journal.folder.slice(root.length + 1)]);
    const replayed = second.lines.find((l) => l['msg'] === 'journal replayed: records of a process that stopped before writing them are in the store now');
    assert.deepEqual(replayed?.['usage'], { records: 3, torn: 0, malformed: 0, oversized: 0 });
    await second.journal.close();
    assert.deepEqual(readdirSync(root), []);
  });

  test('a torn last line (writer killed mid-write), malformed and oversized lines are skipped and counted; the rest is replayed', async () => {
    const root = freshRoot();
    const sink = new FakeSink();
    const first = await open(root, sink);
    const s = first.journal.stream<Rec>('usage');
    s.append(rec(1));
    s.append(rec(2));
    const folder = first.journal.folder;
    await first.journal.close();
    const file = join(folder, 'usage-00000001.jsonl');
    appendFileSync(file, `{"nope":1}\nnot json\n${JSON.stringify({ ...rec(3), pad: 'y'.repeat(300) })}\n${JSON.stringify(rec(4))}\n{"recordId":"r5","n":`);
    const second = await open(root, sink, { maxLineBytes: 200 });
    assert.deepEqual([...sink.byId.keys()].sort(), ['r1', 'r2', 'r4']);
    assert.equal(await value(second.metrics.journalSkippedLines, { kind: 'usage', reason: 'torn' }), 1);
    assert.equal(await value(second.metrics.journalSkippedLines, { kind: 'usage', reason: 'malformed' }), 2);
    assert.equal(await value(second.metrics.journalSkippedLines, { kind: 'usage', reason: 'oversized' }), 1);
    assert.equal(existsSync(folder), false);
    await second.journal.close();
  });

  test('readJournalLines reads lines across 64 KiB chunks and bounds each line', async () => {
    const dir = join(base, 'lines');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'big.jsonl');
    const long = 'a'.repeat(100_000);
    writeFileSync(path, `short\n${long}\n${'b'.repeat(70_000)}\nlast\ntorn`);
    const out: unknown[] = [];
    for await (const l of readJournalLines(path, 80_000)) out.push(l.line === undefined ? l.skipped : l.line.length);
    assert.deepEqual(out, [5, 'oversized', 70_000, 4, 'torn']);
  });

  test('a store that fails the replay leaves the folder for a later pass, which completes it', async () => {
    const root = freshRoot();
    const sink = new FakeSink();
    const first = await open(root, sink);
    first.journal.stream<Rec>('usage').append(rec(1));
    const folder = first.journal.folder;
    await first.journal.close();
    sink.failing = true;
    const second = await open(root, sink);
    assert.equal(sink.byId.size, 0);
    assert.equal(existsSync(folder), true);
    assert.ok(second.lines.some((l) => l['msg'] === 'replaying a journal segment into the store failed; it is retried later'));
    sink.failing = false;
    await second.journal.adoptOrphans();
    assert.deepEqual([...sink.byId.keys()], ['r1']);
    assert.equal(existsSync(folder), false);
    await second.journal.close();
  });

  test('a folder written for another store is left alone (warned once)', async () => {
    const root = freshRoot();
    const sink = new FakeSink();
    const first = await open(root, sink, { storeId: 'store-a' });
    first.journal.stream<Rec>('usage').append(rec(1));
    const folder = first.journal.folder;
    await first.journal.close();
    const other = await open(root, sink, { storeId: 'store-b' });
    await other.journal.adoptOrphans();
    assert.equal(sink.byId.size, 0);
    assert.equal(existsSync(folder), true);
    assert.equal(other.lines.filter((l) => String(l['msg']).startsWith('a journal folder left by a dead process belongs to another store')).length, 1);
    await other.journal.close();
    const same = await open(root, sink, { storeId: 'store-a' });
    assert.deepEqual([...sink.byId.keys()], ['r1']);
    await same.journal.close();
  });
});

describe('Journal: one folder per live process', () => {
  test('a live journal in this process is never adopted; once it is closed with records left, another one takes them', async () => {
    const root = freshRoot();
    const sink = new FakeSink();
    const a = await open(root, sink);
    a.journal.stream<Rec>('usage').append(rec(1));
    const b = await open(root, sink);
    await b.journal.adoptOrphans();
    assert.equal(sink.byId.size, 0, 'a is alive: its folder is locked');
    assert.equal(existsSync(a.journal.folder), true);
    await a.journal.close();
    await b.journal.adoptOrphans();
    assert.deepEqual([...sink.byId.keys()], ['r1']);
    assert.equal(existsSync(a.journal.folder), false);
    await b.journal.close();
  });

  test('another process: its folder is locked while it runs; after SIGKILL its records are replayed', async () => {
    const root = freshRoot();
    mkdirSync(root, { recursive: true });
    const script = join(base, 'child-journal.mjs');
    writeFileSync(
      script,
      `const { Journal } = await import(process.argv[2]);
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const journal = await Journal.open({ root: process.argv[3], storeId: 'store-a', logger: quiet, adoptIntervalMs: 3600000,
  kinds: [{ name: 'usage', decode: (v) => v, write: async () => { throw new Error('the child never replays'); } }] });
const s = journal.stream('usage');
for (let i = 0; i < 50; i++) s.append({ recordId: 'c' + i, n: i });
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`,
    );
    const journalModule = new URL('./journal.js', import.meta.url).href;
    const child = spawn(process.execPath, [script, journalModule, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('child not ready within 10 s')), 10_000);
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
      });
      const sink = new FakeSink();
      const parent = await open(root, sink);
      await parent.journal.adoptOrphans();
      assert.equal(sink.byId.size, 0, 'the child is alive');
      assert.equal(readdirSync(root).length, 2);
      child.kill('SIGKILL');
      await exited;
      await parent.journal.adoptOrphans();
      assert.equal(sink.byId.size, 50);
      assert.deepEqual(readdirSync(root), [parent.journal.folder.slice(root.length + 1)]);
      await parent.journal.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a folder that cannot be created is a clear startup error naming it', async () => {
    const file = join(base, 'not-a-folder');
    writeFileSync(file, '');
    await assert.rejects(open(join(file, 'journal'), new FakeSink()), (err: Error) => err.message.includes(`storage.journal: cannot create the journal folder in ${join(file, 'journal')}`));
  });
});

describe('journalRoot', () => {
  const config = (storage: Record<string, unknown>) => validate({ storage, instances: { demo: { type: 'demo' } } }, 'test');
  test('default: "journal" beside the SQLite file, resolved against the config folder; a path of its own; disabled', () => {
    assert.equal(journalRoot(config({}), '/etc/llmproxy'), '/etc/llmproxy/data/journal');
    assert.equal(journalRoot(config({ sqlite: { path: '/data/llmproxy.db' } }), '/etc/llmproxy'), '/data/journal');
    assert.equal(journalRoot(config({ journal: { path: './j' } }), '/srv'), '/srv/j');
    assert.equal(journalRoot(config({ journal: { enabled: false } }), '/srv'), undefined);
    assert.throws(() => config({ journal: { path: '' } }), /storage\.journal\.path/);
    assert.throws(() => config({ journal: { fsync: true } }), /storage\.journal/);
  });
});

const usageRow = (i: number, over: Partial<UsageRow> = {}): UsageRow => ({
  time: 1_700_000_000_000 + i,
  requestId: 'same-client-id',
  keyId: 'k1',
  user: 'alice',
  principalKind: 'api-key',
  instance: 'demo',
  model: 'demo-echo',
  inputTokens: 3,
  outputTokens: 4,
  costMicros: 10,
  latencyMs: 2,
  status: 200,
  ...over,
});
const auditEvent = (i: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
  time: 1_700_000_000_000 + i,
  requestId: 'same-client-id',
  event: 'auth',
  result: 'success',
  reason: null,
  method: 'api_key',
  keyId: 'k1',
  user: 'alice',
  clientAddress: '127.0.0.1',
  httpMethod: 'POST',
  path: '/v1/chat/completions',
  instance: 'demo',
  detail: i === 0 ? { target: 'x' } : null,
  ...over,
});

describe('decoders', () => {
  test('a usage row and an audit event round-trip through JSON; a wrong type is refused', () => {
    const row = usageRow(1, { recordId: 'id1' });
    assert.deepEqual(usageRowFromJournal(JSON.parse(JSON.stringify(row))), row);
    assert.equal(usageRowFromJournal({ ...row, recordId: undefined }), undefined, 'no record id, no idempotent replay');
    assert.equal(usageRowFromJournal({ ...row, status: '200' }), undefined);
    assert.equal(usageRowFromJournal([row]), undefined);
    const event = auditEvent(0, { recordId: 'id2' });
    assert.deepEqual(auditEventFromJournal(JSON.parse(JSON.stringify(event))), event);
    assert.equal(auditEventFromJournal({ ...event, result: 'maybe' }), undefined);
    assert.equal(auditEventFromJournal({ ...event, detail: 'text' }), undefined);
  });
});

/** What the store holds for the test's rows: usage rows and audit events. */
async function counts(store: Store): Promise<{ usage: number; audit: number }> {
  const usage = (await store.governance.usage.summary({ by: 'key', since: 0 })).reduce((t, r) => t + r.requests, 0);
  const audit = (await store.audit.query({ limit: 10_000 })).length;
  return { usage, audit };
}

/**
 * Replay is idempotent on a real store: records committed by a process that died before
 * deleting their segment are written again by the next start and kept once; records that
 * never reached the store are written.
 */
async function idempotentReplay(openStore: () => Promise<Store>): Promise<void> {
  const root = freshRoot();
  const { logger } = capturingLogger();
  const store = await openStore();
  try {
    const first = await openStoreJournal(store, { root, logger, adoptIntervalMs: 3_600_000 });
    const ids = new RecordIds();
    const rows = Array.from({ length: 5 }, (_, i) => usageRow(i, { recordId: ids.next() }));
    const events = Array.from({ length: 5 }, (_, i) => auditEvent(i, { recordId: ids.next() }));
    for (const r of rows) first.usage.append(r);
    for (const e of events) first.audit.append(e);
    // Three of each were committed; then the process "died" before settling any of them.
    await store.governance.usage.append(rows.slice(0, 3));
    await store.audit.append(events.slice(0, 3));
    await first.close();
    assert.deepEqual(await counts(store), { usage: 3, audit: 3 });

    const second = await openStoreJournal(store, { root, logger, adoptIntervalMs: 3_600_000 });
    assert.deepEqual(await counts(store), { usage: 5, audit: 5 }, 'none lost, none doubled (every row has the same request id)');
    // Appending the same records again (a retried batch) changes nothing; rows without an id are all kept.
    await store.governance.usage.append(rows);
    await store.audit.append(events);
    assert.deepEqual(await counts(store), { usage: 5, audit: 5 });
    await store.governance.usage.append([usageRow(10), usageRow(11)]);
    await store.audit.append([auditEvent(10)]);
    assert.deepEqual(await counts(store), { usage: 7, audit: 6 });
    await second.close();
    assert.deepEqual(readdirSync(root), []);
  } finally {
    await store.close();
  }
}

describe('store appends are idempotent by recordId', () => {
  test('SQLite', async () => {
    const dir = join(base, `sqlite-${++n}`);
    await idempotentReplay(async () => openSqliteStore(join(dir, 'llmproxy.db')));
  });

  test('SQLite: a database of schema 4 with rows migrates; old rows keep no record id; the store gets an id', async () => {
    const path = join(base, `sqlite-old-${++n}`, 'llmproxy.db');
    mkdirSync(join(path, '..'), { recursive: true });
    const db = new Database(path);
    for (let v = 0; v < 4; v++) db.exec(MIGRATIONS[v]!);
    db.pragma('user_version = 4');
    db.prepare(`INSERT INTO usage_log (time, request_id, input_tokens, output_tokens, cost_micros, latency_ms, status) VALUES (1, 'old', 1, 1, 1, 1, 200)`).run();
    db.prepare(`INSERT INTO usage_log (time, request_id, input_tokens, output_tokens, cost_micros, latency_ms, status) VALUES (2, 'old', 1, 1, 1, 1, 200)`).run();
    db.close();
    const store = openSqliteStore(path);
    try {
      assert.equal((await store.governance.usage.summary({ by: 'key', since: 0 }))[0]?.requests, 2);
      const id = (await store.governance.settings.get('store_id'))?.value;
      assert.match(id ?? '', /^[0-9a-f]{32}$/);
      const check = new Database(path, { readonly: true });
      assert.deepEqual(check.prepare('SELECT record_id FROM usage_log').all(), [{ record_id: null }, { record_id: null }]);
      check.close();
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL', { skip: postgres.skip }, async () => {
    const db = await freshDatabase();
    try {
      await idempotentReplay(() => openPostgresStore(db.url, { poolSize: 2 }));
    } finally {
      await db.drop();
    }
  });

  test('PostgreSQL: a database of schema 4 with rows migrates; old rows keep no record id; the store gets an id', { skip: postgres.skip }, async () => {
    const db = await freshDatabase();
    const client = new pg.Client({ connectionString: db.url });
    try {
      await client.connect();
      const pool = { query: client.query.bind(client) } as unknown as pg.PoolClient;
      await migratePostgres(pool, PG_MIGRATIONS.slice(0, 4));
      await client.query(`INSERT INTO audit_log (time, request_id, event, result, method, client_address, http_method, path) VALUES (1, 'old', 'auth', 'success', 'api_key', '::1', 'GET', '/'), (2, 'old', 'auth', 'success', 'api_key', '::1', 'GET', '/')`);
      const store = await openPostgresStore(db.url, { poolSize: 2 });
      try {
        assert.equal((await store.audit.query({})).length, 2);
        assert.match((await store.governance.settings.get('store_id'))?.value ?? '', /^[0-9a-f]{32}$/);
        const { rows } = await client.query('SELECT record_id FROM audit_log');
        assert.deepEqual(rows, [{ record_id: null }, { record_id: null }]);
      } finally {
        await store.close();
      }
    } finally {
      await client.end().catch(() => undefined);
      await db.drop();
    }
  });
});
