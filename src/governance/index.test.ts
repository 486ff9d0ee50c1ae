import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate } from '../config/load.js';
import { GatewayError } from '../errors/gateway-error.js';
import { AuditTrail } from '../store/audit-trail.js';
import { Metrics } from '../observability/metrics.js';
import { InstanceDirectory } from '../providers/directory.js';
import type { Instance } from '../providers/instance.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import { buildGovernance } from './index.js';
import { capturingLogger, registryModels } from './test-support.js';

async function setup(extra: Record<string, unknown> = {}) {
  const config = validate(
    { instances: { oai: { type: 'openai', authentication: { type: 'api_key', api_key: '${env:NOT_READ_HERE}' } } }, usage: { flush_interval: '1h' }, ...extra },
    'test',
  );
  const store = openSqliteStore(':memory:');
  const { logger } = capturingLogger();
  const audit = new AuditTrail(store.audit, logger, {});
  const instances = new InstanceDirectory([{ name: 'oai', type: 'openai', isDefault: false } as unknown as Instance]);
  const governance = await buildGovernance({ config, models: registryModels, store, instances, audit, logger, metrics: new Metrics(), env: {} });
  await governance.start();
  return { governance, store, audit };
}

describe('buildGovernance: what the admin API calls', () => {
  test('lockdown.set applies in this process at once, and is audited', async () => {
    const { governance, store, audit } = await setup();
    try {
      assert.equal(governance.lockdown.state().on, false);
      const state = await governance.lockdown.set(true, 'admin:k1', 'incident', { requestId: 'req-9', clientAddress: '10.0.0.1' });
      assert.equal(state.on, true);
      assert.equal(governance.lockdown.state().source, 'store');
      await audit.flush();
      const [event] = await store.audit.query({ limit: 5 });
      assert.equal(event?.event, 'lockdown');
      assert.equal(event?.user, 'admin:k1');
      assert.equal(event?.requestId, 'req-9');
      assert.equal(event?.clientAddress, '10.0.0.1');
      assert.equal((await governance.lockdown.set(false, 'admin:k1')).on, false);
    } finally {
      await governance.stop();
      await store.close();
    }
  });

  test('lockdown.setInstance refuses a name that is not a configured instance', async () => {
    const { governance, store } = await setup();
    try {
      await assert.rejects(governance.lockdown.setInstance('nope', true, 'admin'), (e: GatewayError) => e.code === 'unknown_instance');
      assert.deepEqual(Object.keys((await governance.lockdown.setInstance('oai', true, 'admin', 'outage')).disabledInstances), ['oai']);
      assert.deepEqual((await governance.lockdown.setInstance('oai', false, 'admin')).disabledInstances, {});
    } finally {
      await governance.stop();
      await store.close();
    }
  });

  test('usageSummary writes the buffered rows first, so it is current', async () => {
    const { governance, store } = await setup();
    try {
      assert.deepEqual(await governance.usageSummary({ by: 'model', since: 0 }), []);
      // A finished request, as the handler hands it over (the parts governance reads).
      const ctx = {
        id: 'r1',
        startedAt: performance.now(),
        principal: { id: 'k1', kind: 'api-key', user: 'alice', roles: ['developer'], limits: { rpm: null, tpm: null, budgetUsd: null }, keyId: 'k1' },
        instance: { name: 'oai' },
        model: undefined,
        usage: { model: 'gpt-4o', inputTokens: 1000, outputTokens: 100 },
        res: { writableFinished: true, statusCode: 200, setHeader() {}, headersSent: true },
        mode: 'protocol',
        body: null,
      };
      await governance.after[0]!(ctx as never, async () => {});
      governance.onFinish(ctx as never);
      const rows = await governance.usageSummary({ by: 'model', since: 0 });
      // gpt-4o list price: 1000 × $2.50 + 100 × $10 per million tokens = $0.0035
      assert.deepEqual(rows, [{ group: 'gpt-4o', requests: 1, input_tokens: 1000, output_tokens: 100, cost_usd: 0.0035 }]);
    } finally {
      await governance.stop();
      await store.close();
    }
  });
});
