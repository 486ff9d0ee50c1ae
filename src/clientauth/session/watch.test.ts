import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../observability/logger.js';
import { SecretScrubber } from '../../observability/scrubber.js';
import { announceChanges } from '../../store/announce.js';
import { openSqliteStore } from '../../store/sqlite/index.js';
import type { FleetEvent } from '../../store/types.js';
import { ApiKeyVerifier } from '../api-key/verifier.js';
import { IdentityWatch } from './watch.js';

test('IdentityWatch: a change made by another process is applied when announced, not at the next poll; trust follows the announcement channel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-watch-'));
  // Two store objects on one file: this process's and "another replica's".
  const mine = openSqliteStore(join(dir, 'db.sqlite'));
  const theirs = openSqliteStore(join(dir, 'db.sqlite'));
  const listeners = new Set<(e: FleetEvent) => void>();
  const channel = { since: undefined as number | undefined };
  const bus = { on: (l: (e: FleetEvent) => void) => (listeners.add(l), () => void listeners.delete(l)), trustedSince: () => channel.since };
  const announcing = announceChanges(theirs, async (e) => {
    for (const l of listeners) l(e);
  });
  const logger = createLogger({ level: 'silent', scrubber: new SecretScrubber(), destination: { write: () => {} } });
  let now = Date.UTC(2026, 0, 1);
  const verifier = new ApiKeyVerifier(mine.keys, { cacheTtlMs: 60_000, pollMs: 3_600_000, logger });
  const watch = new IdentityWatch(mine.identity, mine.keys, verifier, { pollMs: 3_600_000, maxStalenessMs: 5000, logger, now: () => now, announcements: bus });
  try {
    await watch.start();
    let changes = 0;
    watch.onIdentityChange(() => void changes++);
    await announcing.identity.users.create({ name: 'alice', role: 'developer', passwordHash: null, scopes: { instances: null, models: null }, limits: { rpm: null, tpm: null, budgetUsd: null } });
    // The poll interval is an hour: only the announcement can have triggered the re-read.
    for (let i = 0; i < 200 && changes === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(changes, 1, 'the announced change was applied');

    now += 60_000; // no successful poll for a minute
    assert.equal(watch.trusted(), false, 'no announcement channel: stale caches are not trusted');
    channel.since = now - 120_000; // heard without a gap since before the last good poll
    assert.equal(watch.trusted(), true);
    channel.since = now; // a gap: something may have been missed
    assert.equal(watch.trusted(), false);
  } finally {
    await watch.stop();
    mine.close();
    theirs.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
