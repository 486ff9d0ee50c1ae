import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { capturingLogger } from '../governance/test-support.js';
import { Journal } from './journal.js';
import { auditEventFromJournal } from './store-journal.js';
import type { AuditEvent, AuditLog } from './types.js';
import { AuditTrail } from './audit-trail.js';
import { Metrics } from '../observability/metrics.js';

const root = mkdtempSync(join(tmpdir(), 'llmproxy-audit-trail-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Keeps appended events; can be told to fail; can hold a write open until released. */
class FakeAuditLog implements AuditLog {
  events: AuditEvent[] = [];
  failing = false;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  hold(): void {
    this.#gate = new Promise((r) => (this.#open = r));
  }
  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }
  async append(events: readonly AuditEvent[]) {
    await this.#gate;
    if (this.failing) throw new Error('store unreachable');
    this.events.push(...events);
  }
  async query() {
    return [];
  }
  async search() {
    return [];
  }
  async get() {
    return undefined;
  }
  async prune() {
    return 0;
  }
  async eraseUser() {
    return 0;
  }
}

const event = (i: number, path = '/v1/chat/completions'): AuditEvent => ({
  time: 1_700_000_000_000 + i,
  requestId: `req-${i}`,
  event: 'auth',
  result: 'success',
  reason: null,
  method: 'api_key',
  keyId: 'k1',
  user: null,
  clientAddress: '127.0.0.1',
  httpMethod: 'POST',
  path,
  instance: 'demo',
});

const gauge = async (m: Metrics) => (await m.auditBuffered.get()).values[0]?.value ?? 0;
const dropped = async (m: Metrics) => (await m.auditEventsDropped.get()).values[0]?.value ?? 0;

describe('AuditTrail', () => {
  test('llmproxy_audit_buffered_events counts events not yet in the store (a write under way included); drops beyond maxBuffered are counted', async () => {
    const log = new FakeAuditLog();
    const metrics = new Metrics();
    const { logger, lines } = capturingLogger();
    const trail = new AuditTrail(log, logger, { maxBuffered: 3, metrics });
    for (let i = 0; i < 2; i++) trail.record(event(i));
    assert.equal(await gauge(metrics), 2);
    log.hold();
    const flushing = trail.flush();
    trail.record(event(2));
    assert.equal(await gauge(metrics), 3, 'two in the write, one buffered');
    log.release();
    await flushing;
    assert.equal(await gauge(metrics), 0);
    assert.equal(log.events.length, 3);

    log.failing = true;
    for (let i = 3; i < 8; i++) trail.record(event(i));
    await trail.flush();
    assert.equal(await gauge(metrics), 3);
    assert.equal(await dropped(metrics), 2);
    log.failing = false;
    await trail.flush();
    assert.deepEqual(log.events.slice(3).map((e) => e.requestId), ['req-5', 'req-6', 'req-7']);
    assert.ok(lines.some((l) => l['msg'] === 'audit events were dropped while the store refused writes' && l['dropped'] === 2));
    const ids = log.events.map((e) => e.recordId);
    assert.equal(new Set(ids).size, ids.length, 'every event has its own record id');
  });

  test('with a journal: events are journaled scrubbed, before they are buffered, and their segment goes once they are written', async () => {
    const { logger } = capturingLogger();
    const journal = await Journal.open({ root, storeId: 's', logger, adoptIntervalMs: 3_600_000, kinds: [{ name: 'audit', decode: auditEventFromJournal, write: async () => undefined }] });
    const log = new FakeAuditLog();
    const trail = new AuditTrail(log, logger, { journal: journal.stream<AuditEvent>('audit'), scrub: (t) => t.replaceAll('sk-secret', '[REDACTED]') });
    trail.record(event(1, '/v1/sk-secret/models'));
    trail.record(event(2));
    const files = readdirSync(journal.folder).filter((f) => f.endsWith('.jsonl'));
    assert.equal(files.length, 1);
    const text = readFileSync(join(journal.folder, files[0]!), 'utf8');
    assert.doesNotMatch(text, /sk-secret/);
    const journaled = text.trim().split('\n').map((l) => auditEventFromJournal(JSON.parse(l)));
    assert.deepEqual(journaled.map((e) => e?.path), ['/v1/[REDACTED]/models', '/v1/chat/completions']);
    await trail.stop();
    assert.deepEqual(log.events.map((e) => e.recordId), journaled.map((e) => e?.recordId));
    assert.deepEqual(readdirSync(journal.folder).filter((f) => f.endsWith('.jsonl')), []);
    await journal.close();
  });
});
