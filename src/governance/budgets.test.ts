import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { Metrics } from '../observability/metrics.js';
import { BudgetGuard, globalBudgetUsd, monthStart, nextMonthStart } from './budgets.js';
import type { BudgetsConfig } from './config.js';
import { capturingLogger, manualClock, testPrincipal } from './test-support.js';

const NOV = Date.UTC(2026, 10, 15, 12);
const cfg = (over: Partial<BudgetsConfig> = {}): BudgetsConfig => ({ users: {}, warn_ratio: 0.8, refresh_interval: 15_000, ...over });

function guard(over: Partial<BudgetsConfig> = {}, env: NodeJS.ProcessEnv = {}) {
  const clock = manualClock(NOV);
  const metrics = new Metrics();
  const { logger, lines } = capturingLogger();
  return { clock, metrics, lines, g: new BudgetGuard({ config: cfg(over), metrics, logger, now: clock.now, env }) };
}

const warnings = async (m: Metrics, scope: string) => (await m.budgetWarnings.get()).values.find((v) => v.labels.scope === scope)?.value ?? 0;

describe('budgets', () => {
  test('month boundaries are UTC', () => {
    assert.equal(monthStart(NOV), Date.UTC(2026, 10, 1));
    assert.equal(nextMonthStart(Date.UTC(2026, 11, 31, 23)), Date.UTC(2027, 0, 1));
  });

  test('the global budget comes from budgets.monthly_usd, else LLM_MONTHLY_BUDGET', () => {
    assert.equal(globalBudgetUsd(cfg({ monthly_usd: 5 }), { LLM_MONTHLY_BUDGET: '1000.0' }), 5);
    assert.equal(globalBudgetUsd(cfg(), { LLM_MONTHLY_BUDGET: '1000.0' }), 1000);
    assert.equal(globalBudgetUsd(cfg(), {}), undefined);
    assert.throws(() => globalBudgetUsd(cfg(), { LLM_MONTHLY_BUDGET: 'lots' }), /LLM_MONTHLY_BUDGET must be a positive number/);
  });

  test('a key budget refuses the next request once spent, naming the key budget; other keys go on', () => {
    const { g } = guard();
    const p = testPrincipal({ limits: { rpm: null, tpm: null, budgetUsd: 1 } });
    g.check(p);
    g.charge('k1', null, 1_000_000, NOV);
    assert.throws(
      () => g.check(p),
      (e: GatewayError) => e.code === 'budget_exceeded' && e.status === 429 && /monthly key budget of your API key \(\$1\)/.test(e.message) && e.retryAfter! > 0,
    );
    g.check(testPrincipal({ keyId: 'k2', id: 'k2', limits: { rpm: null, tpm: null, budgetUsd: 1 } }));
  });

  test('user and global budgets are shared by every key of the user / every request', () => {
    const { g } = guard({ monthly_usd: 3, users: { alice: 1 } });
    const alice2 = testPrincipal({ keyId: 'k2', id: 'k2', user: 'alice' });
    g.charge('k1', 'alice', 1_000_000, NOV);
    assert.throws(() => g.check(alice2), (e: GatewayError) => /user budget of your user/.test(e.message));
    g.charge('k3', 'bob', 2_000_000, NOV);
    assert.throws(() => g.check(testPrincipal({ keyId: 'k4', id: 'k4', user: 'carol' })), (e: GatewayError) => /global budget of the gateway/.test(e.message));
  });

  test('at warn_ratio: one metric increment and one log event per scope and month', async () => {
    const { g, metrics, lines, clock } = guard({ monthly_usd: 10 });
    g.charge('k1', null, 7_000_000, NOV);
    assert.equal(await warnings(metrics, 'global'), 0);
    g.charge('k1', null, 1_000_000, NOV);
    g.charge('k1', null, 1_000_000, NOV);
    assert.equal(await warnings(metrics, 'global'), 1);
    assert.equal(lines.filter((l) => l['event'] === 'budget_warning').length, 1);
    g.warnKey('k1', 10);
    assert.equal(await warnings(metrics, 'key'), 1);
    g.warnKey('k1', 10);
    assert.equal(await warnings(metrics, 'key'), 1);
    // A new month starts from zero and may warn again.
    clock.set(Date.UTC(2026, 11, 2));
    assert.equal(g.spent('global'), 0);
    g.charge('k1', null, 9_000_000, clock.now());
    assert.equal(await warnings(metrics, 'global'), 2);
  });

  test('a refresh replaces the base without counting written rows twice', () => {
    const { g } = guard();
    g.charge('k1', 'alice', 100, NOV); // charged, not yet written
    g.charge('k1', 'alice', 50, NOV);
    g.committed('k1', 'alice', 100, NOV); // the first is written
    // The store now holds our 100 plus 1000 written by another process.
    g.applyRefresh({ global: 1100, keys: { k1: 1100 }, users: { alice: 1100 } }, g.month);
    assert.equal(g.spent('global'), 1150);
    assert.equal(g.spent('key', 'k1'), 1150);
    assert.equal(g.spent('user', 'alice'), 1150);
    g.committed('k1', 'alice', 50, NOV);
    g.applyRefresh({ global: 1150, keys: { k1: 1150 }, users: { alice: 1150 } }, g.month);
    assert.equal(g.spent('key', 'k1'), 1150);
  });
});
