import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Metrics } from '../observability/metrics.js';
import type { Setting, SettingsStore } from '../store/governance-types.js';
import type { AuditEvent } from '../store/types.js';
import { LockdownController, emergencyModeFromEnv, writeLockdown } from './lockdown.js';
import { capturingLogger } from './test-support.js';

class MemorySettings implements SettingsStore {
  readonly values = new Map<string, Setting>();
  async get(name: string) {
    return this.values.get(name);
  }
  async set(name: string, value: string | null) {
    if (value === null) this.values.delete(name);
    else this.values.set(name, { value, updatedAt: 0 });
  }
  async claim(name: string, value: string, at: number, staleBefore: number) {
    const held = this.values.get(name);
    if (held && held.updatedAt >= staleBefore) return false;
    this.values.set(name, { value, updatedAt: at });
    return true;
  }
}

function controller(env: NodeJS.ProcessEnv = {}) {
  const settings = new MemorySettings();
  const audit: AuditEvent[] = [];
  const { logger } = capturingLogger();
  const c = new LockdownController({ settings, logger, metrics: new Metrics(), audit: (e) => void audit.push(e), pollMs: 1000, env, now: () => 5 });
  return { settings, audit, c };
}

describe('LockdownController', () => {
  test('LLM_EMERGENCY_MODE=true forces it on, and the store cannot turn it off', async () => {
    assert.equal(emergencyModeFromEnv({ LLM_EMERGENCY_MODE: 'true' }), true);
    assert.equal(emergencyModeFromEnv({ LLM_EMERGENCY_MODE: 'false' }), false);
    assert.equal(emergencyModeFromEnv({}), false);
    const { c } = controller({ LLM_EMERGENCY_MODE: 'true' });
    await c.poll();
    assert.equal(c.on, true);
    await c.set(false, 'admin', 'try');
    assert.equal(c.state().on, true);
    assert.equal(c.state().source, 'env');
  });

  test('LLM_DISABLE_ALL_PROVIDERS=true is the same switch, and the state names the variable', async () => {
    assert.equal(emergencyModeFromEnv({ LLM_DISABLE_ALL_PROVIDERS: 'yes' }), true);
    assert.equal(emergencyModeFromEnv({ LLM_DISABLE_ALL_PROVIDERS: '0' }), false);
    const { c } = controller({ LLM_DISABLE_ALL_PROVIDERS: 'true' });
    await c.poll();
    await c.set(false, 'admin', 'try');
    assert.deepEqual([c.state().on, c.state().source, c.state().reason], [true, 'env', 'LLM_DISABLE_ALL_PROVIDERS=true in the environment']);
  });

  test('set() applies in this process at once, writes the store and audits; poll() picks up another writer', async () => {
    const { c, settings, audit } = controller();
    await c.poll();
    assert.equal(c.on, false);
    await c.set(true, 'admin:k1', 'incident 42', { requestId: 'req-1' });
    assert.equal(c.on, true);
    assert.deepEqual(JSON.parse(settings.values.get('lockdown')!.value), { on: true, reason: 'incident 42', actor: 'admin:k1', since: 5 });
    assert.equal(audit[0]?.event, 'lockdown');
    assert.equal(audit[0]?.reason, 'lockdown on: incident 42');
    assert.equal(audit[0]?.requestId, 'req-1');
    await writeLockdown(settings, false, 'cli:ops', undefined); // another process
    assert.equal(c.on, true);
    await c.poll();
    assert.equal(c.on, false);
  });

  test('per-instance disable: only the named instance', async () => {
    const { c, audit } = controller();
    await c.setInstance('oai', true, 'admin', 'provider outage');
    assert.equal(c.isDisabled('oai'), true);
    assert.equal(c.isDisabled('bedrock'), false);
    assert.deepEqual(Object.keys(c.state().disabledInstances), ['oai']);
    assert.equal(audit[0]?.instance, 'oai');
    await c.setInstance('oai', false, 'admin');
    assert.equal(c.isDisabled('oai'), false);
  });
});
