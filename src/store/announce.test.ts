import assert from 'node:assert/strict';
import { test } from 'node:test';
import { announceChanges } from './announce.js';
import { openSqliteStore } from './sqlite/index.js';
import type { FleetEvent } from './types.js';

test('announceChanges forwards the read methods it does not override (key search, audit search and get) and announces only changes', async () => {
  const store = openSqliteStore(':memory:');
  const published: FleetEvent[] = [];
  const announcing = announceChanges(store, async (e) => void published.push(e));
  try {
    const key = await announcing.keys.create({
      id: 'announce1',
      name: 'forwarded',
      user: 'alice',
      role: 'developer',
      secretHash: '$argon2id$v=19$m=19456,t=2,p=1$announce1',
      expiresAt: null,
      scopes: { instances: null, models: null },
      limits: { rpm: null, tpm: null, budgetUsd: null },
      rotatedFrom: null,
    });
    assert.deepEqual(await announcing.keys.search({ text: 'FORWARD', limit: 10 }), { records: [key], total: 1 });
    await announcing.audit.append([
      { time: 1, requestId: 'r1', event: 'admin', result: 'success', reason: 'key.create', method: 'api_key', keyId: null, user: 'alice', clientAddress: '::1', httpMethod: 'POST', path: '/admin/v1/keys', instance: null, detail: { target: key.id } },
    ]);
    const [event] = await announcing.audit.search({ user: 'alice' });
    assert.ok(event);
    assert.deepEqual(await announcing.audit.get(event.id), event);
    assert.deepEqual(published, [], 'reads announce nothing');
    await announcing.keys.revoke(key.id, Date.now());
    assert.deepEqual(published, [{ kind: 'key', id: key.id }]);
  } finally {
    await announcing.close();
  }
});
