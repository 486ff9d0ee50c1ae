import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { UsageRow } from '../governance-types.js';
import { openSqliteStore } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'llmproxy-gov-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

const row = (over: Partial<UsageRow>): UsageRow => ({ time: 1000, requestId: 'r', keyId: 'k1', user: 'alice', principalKind: 'api-key', instance: 'oai', model: 'gpt-4o', inputTokens: 10, outputTokens: 5, costMicros: 100, latencyMs: 3, status: 200, ...over });

describe('sqlite governance stores', () => {
  test('usage: summary by key/user/instance/model within [since, until), spendSince per scope, prune', async () => {
    const path = join(root, 'a', 'db.sqlite');
    let store = openSqliteStore(path);
    await store.governance.usage.append([
      row({ requestId: 'a' }),
      row({ requestId: 'b', keyId: 'k2', user: null, model: 'claude', costMicros: 1_500_000 }),
      row({ requestId: 'c', time: 2000, instance: 'bedrock' }),
      row({ requestId: 'old', time: 10 }),
    ]);
    await store.close();
    store = openSqliteStore(path); // rows survive a reopen
    const byKey = await store.governance.usage.summary({ by: 'key', since: 100 });
    assert.deepEqual(byKey, [
      { group: 'k2', requests: 1, input_tokens: 10, output_tokens: 5, cost_usd: 1.5 },
      { group: 'k1', requests: 2, input_tokens: 20, output_tokens: 10, cost_usd: 0.0002 },
    ]);
    assert.deepEqual((await store.governance.usage.summary({ by: 'user', since: 100 })).map((r) => [r.group, r.requests]), [[null, 1], ['alice', 2]]);
    assert.deepEqual((await store.governance.usage.summary({ by: 'instance', since: 100, until: 2000 })).map((r) => [r.group, r.requests]), [['oai', 2]]);
    assert.deepEqual((await store.governance.usage.summary({ by: 'model', since: 0 })).map((r) => r.group), ['claude', 'gpt-4o']);
    assert.deepEqual(await store.governance.usage.spendSince(100), { global: 1_500_200, keys: { k1: 200, k2: 1_500_000 }, users: { alice: 200 } });
    assert.equal(await store.governance.usage.prune(100), 1);
    await store.close();
  });

  test('settings: set, overwrite, delete', async () => {
    const store = openSqliteStore(join(root, 'b', 'db.sqlite'));
    assert.equal(await store.governance.settings.get('lockdown'), undefined);
    await store.governance.settings.set('lockdown', '{"on":true}');
    await store.governance.settings.set('lockdown', '{"on":false}');
    assert.equal((await store.governance.settings.get('lockdown'))?.value, '{"on":false}');
    await store.governance.settings.set('lockdown', null);
    assert.equal(await store.governance.settings.get('lockdown'), undefined);
    await store.close();
  });
});
