import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { removeDir, runCliJson, startServe, tempDir, type ServeProcess } from '../helpers/cli.js';
import { freshDatabase, requireService } from '../helpers/services.js';
import { until } from '../helpers/wait.js';

/**
 * The write-ahead journal end to end (store/journal.ts), with real `llmproxy serve` processes:
 * rows and audit events are held in memory for an hour (`usage.flush_interval`,
 * `audit.flush_interval`), N requests are answered 200, the process is SIGKILLed, and the next
 * start on the same folder writes exactly N usage rows and N auth-success events — and a start
 * that replays the same journal again (a crash between the store's commit and the segment's
 * deletion) writes none twice.
 */

const postgres = await requireService('postgres');
const REQUESTS = 20;

const folders: string[] = [];
const children = new Set<ServeProcess>();
after(async () => {
  for (const c of children) c.kill();
  await Promise.all([...children].map((c) => c.waitForExit(10_000).catch(() => undefined)));
  for (const d of folders) removeDir(d);
});

interface Backend {
  storage: string;
  /** Usage rows and auth-success audit events of `keyId` in the store. */
  counts(keyId: string): Promise<{ usage: number; audit: number }>;
  close(): Promise<void>;
}

function sqliteBackend(dir: string): Backend {
  const file = join(dir, 'data', 'llmproxy.db');
  return {
    storage: 'storage: { sqlite: { path: ./data/llmproxy.db } }',
    async counts(keyId) {
      // A second connection to the live file: WAL lets it read beside the gateway.
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const usage = (db.prepare('SELECT COUNT(*) AS n FROM usage_log WHERE key_id = ?').get(keyId) as { n: number }).n;
        const audit = (db.prepare(`SELECT COUNT(*) AS n FROM audit_log WHERE key_id = ? AND event = 'auth' AND result = 'success'`).get(keyId) as { n: number }).n;
        return { usage, audit };
      } finally {
        db.close();
      }
    },
    close: async () => undefined,
  };
}

async function postgresBackend(dir: string): Promise<Backend> {
  const db = await freshDatabase();
  const urlFile = join(dir, 'postgres-url');
  writeFileSync(urlFile, `${db.url}\n`, { mode: 0o600 });
  return {
    storage: `storage: { postgres: { url: "\${file:${urlFile}}", pool_size: 2 } }`,
    async counts(keyId) {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const usage = Number((await client.query('SELECT COUNT(*) AS n FROM usage_log WHERE key_id = $1', [keyId])).rows[0].n);
        const audit = Number((await client.query(`SELECT COUNT(*) AS n FROM audit_log WHERE key_id = $1 AND event = 'auth' AND result = 'success'`, [keyId])).rows[0].n);
        return { usage, audit };
      } finally {
        await client.end();
      }
    },
    close: () => db.drop(),
  };
}

/** Journal lines of `kind` in every process folder under `root`. */
function journalLines(root: string, kind: string): number {
  if (!existsSync(root)) return 0;
  let n = 0;
  for (const folder of readdirSync(root)) {
    if (folder.startsWith('.')) continue;
    for (const f of readdirSync(join(root, folder))) {
      if (f.startsWith(`${kind}-`)) n += readFileSync(join(root, folder, f), 'utf8').split('\n').filter((l) => l !== '').length;
    }
  }
  return n;
}

async function killAndReplay(makeBackend: (dir: string) => Backend | Promise<Backend>): Promise<void> {
  const dir = tempDir('llmproxy-journal-');
  folders.push(dir);
  const backend = await makeBackend(dir);
  const start = async () => {
    const s = await startServe(['--config', config, '--port', '0'], { cwd: dir });
    children.add(s);
    return s;
  };
  /** SIGTERM: a clean drain exits 0. */
  const stop = async (s: ServeProcess) => {
    // serve logs "gateway listening" just before it installs its signal handlers: an answer
    // proves the code after the log line has run.
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    const status = await s.stop();
    children.delete(s);
    assert.equal(status.code, 0, `${JSON.stringify(status)}\n${s.stdout().slice(-2000)}\n${s.stderr().slice(-2000)}`);
  };
  const replayedLines = (s: ServeProcess) => s.logs().filter((l) => l['msg'] === 'journal replayed: records of a process that stopped before writing them are in the store now');
  const config = join(dir, 'llmproxy.yaml');
  writeFileSync(
    config,
    [
      'server: { host: 127.0.0.1 }',
      backend.storage,
      'auth: { api_keys: { bootstrap_admin: false } }',
      // Nothing is written to the store by a timer during the test: only the journal holds the records.
      'usage: { flush_interval: 1h }',
      'audit: { flush_interval: 1h }',
      'instances: { demo: { type: demo } }',
    ].join('\n'),
  );
  const journal = join(dir, 'data', 'journal');
  try {
    const key = await runCliJson<{ id: string; key: string }>(['keys', 'create', '--config', config, '--name', 'journal-test', '--json'], { cwd: dir });
    const first = await start();
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${first.url}/transparent/demo/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo-echo', messages: [{ role: 'user', content: `hello ${i}` }] }),
      });
      assert.equal(res.status, 200, await res.text());
    }
    await until('every answered request is journaled', () => journalLines(journal, 'usage') === REQUESTS && journalLines(journal, 'audit') >= REQUESTS, 10_000);
    assert.deepEqual(await backend.counts(key.id), { usage: 0, audit: 0 }, 'nothing is in the store yet: the records wait in memory (and the journal)');

    first.child.kill('SIGKILL');
    assert.equal((await first.waitForExit(10_000)).signal, 'SIGKILL');
    children.delete(first);
    // What the next start finds; put back later to replay the same records a second time.
    const snapshot = join(dir, 'journal-snapshot');
    cpSync(journal, snapshot, { recursive: true });

    const second = await start();
    assert.deepEqual(await backend.counts(key.id), { usage: REQUESTS, audit: REQUESTS }, 'replayed before the gateway listened');
    const replayed = replayedLines(second);
    assert.equal(replayed.length, 1, second.stdout());
    assert.equal((replayed[0]!['usage'] as { records: number }).records, REQUESTS);
    await stop(second);
    assert.deepEqual(readdirSync(journal), [], 'a clean stop leaves no journal behind');

    // A crash after the commit but before the segments were deleted: the same journal again.
    cpSync(snapshot, journal, { recursive: true });
    const third = await start();
    assert.equal(replayedLines(third).length, 1, 'replayed again');
    assert.deepEqual(await backend.counts(key.id), { usage: REQUESTS, audit: REQUESTS }, 'none doubled');
    await stop(third);

    const fourth = await start();
    assert.equal(replayedLines(fourth).length, 0, 'nothing left to replay');
    assert.deepEqual(await backend.counts(key.id), { usage: REQUESTS, audit: REQUESTS });
    await stop(fourth);
  } finally {
    await backend.close();
  }
}

describe('write-ahead journal: SIGKILL loses nothing the gateway answered', () => {
  test('SQLite', async () => {
    await killAndReplay(sqliteBackend);
  });

  test('PostgreSQL', { skip: postgres.skip }, async () => {
    await killAndReplay(postgresBackend);
  });
});
