import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { Metrics } from '../observability/metrics.js';
import { BudgetGuard, globalBudgetUsd, monthStart, nextMonthStart } from './budgets.js';
import type { BudgetsConfig } from './config.js';
import { until } from '../../test/helpers/wait.js';
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
    g.applyRefresh({ global: 1100, keys: { k1: 1100 }, users: { alice: 1100 }, instances: {} }, g.month);
    assert.equal(g.spent('global'), 1150);
    assert.equal(g.spent('key', 'k1'), 1150);
    assert.equal(g.spent('user', 'alice'), 1150);
    g.committed('k1', 'alice', 50, NOV);
    g.applyRefresh({ global: 1150, keys: { k1: 1150 }, users: { alice: 1150 }, instances: {} }, g.month);
    assert.equal(g.spent('key', 'k1'), 1150);
  });
});

describe('budgets shared by a fleet (BudgetCounters)', () => {
  /** An in-memory stand-in for the Redis hash, with the same raise-only reconcile; `down` makes every call fail. */
  function sharedCounters() {
    const fields = new Map<string, number>();
    const state = { down: false, fields };
    const check = () => {
      if (state.down) throw new Error('Redis unreachable');
    };
    return {
      state,
      async budgetSpent(_month: number, names: readonly string[]) {
        check();
        return names.map((n) => fields.get(n) ?? 0);
      },
      async budgetCharge(_month: number, names: readonly string[], micros: number) {
        check();
        for (const n of names) fields.set(n, (fields.get(n) ?? 0) + micros);
      },
      async budgetReconcile(_month: number, totals: ReadonlyMap<string, number>) {
        check();
        for (const [n, v] of totals) if ((fields.get(n) ?? 0) < v) fields.set(n, v);
      },
    };
  }

  function sharedGuard(onFailure: 'open' | 'closed', shared = sharedCounters()) {
    const clock = manualClock(NOV);
    const metrics = new Metrics();
    const { logger } = capturingLogger();
    const make = () => new BudgetGuard({ config: cfg({ users: { alice: 10 } }), metrics, logger, now: clock.now, env: {}, shared, onFailure });
    return { shared, metrics, a: make(), b: make() };
  }

  test("one replica's charge is seen by another at once; the refusal names the budget", async () => {
    const { a, b, shared } = sharedGuard('closed');
    const alice = testPrincipal({ user: 'alice' });
    await b.admit(alice);
    a.charge('k1', 'alice', 9_999_999, NOV);
    await until('the shared charge', () => shared.state.fields.get('u:alice') === 9_999_999);
    await b.admit(alice);
    a.charge('k1', 'alice', 1, NOV);
    await until('the shared charge', () => shared.state.fields.get('u:alice') === 10_000_000);
    await assert.rejects(b.admit(alice), (e: GatewayError) => e.code === 'budget_exceeded' && /user budget of your user \(\$10\)/.test(e.message));
    assert.equal(shared.state.fields.get('g'), 10_000_000, 'the gateway-wide field is charged too');
    assert.equal(shared.state.fields.get('k:k1'), 10_000_000);
  });

  test('a refresh raises the shared counters to the usage rows (seeding an empty Redis) and never lowers them', async () => {
    const { a, shared } = sharedGuard('closed');
    a.applyRefresh({ global: 7, keys: { k1: 5 }, users: { alice: 3 }, instances: {} }, monthStart(NOV));
    await a.settled();
    assert.deepEqual(Object.fromEntries(shared.state.fields), { g: 7, 'k:k1': 5, 'u:alice': 3 });
    shared.state.fields.set('g', 100);
    a.applyRefresh({ global: 8, keys: {}, users: {}, instances: {} }, monthStart(NOV));
    await a.settled();
    assert.equal(shared.state.fields.get('g'), 100);
  });

  test('unreachable: closed refuses requests a budget applies to with 503; open checks this process\'s view', async () => {
    const closed = sharedGuard('closed');
    closed.shared.state.down = true;
    await assert.rejects(closed.a.admit(testPrincipal({ user: 'alice' })), (e: GatewayError) => e.code === 'counters_unavailable');
    await closed.a.admit(testPrincipal({ user: 'bob' })); // no budget applies to bob
    const open = sharedGuard('open');
    open.shared.state.down = true;
    await open.a.admit(testPrincipal({ user: 'alice' }));
    open.a.charge('k1', 'alice', 10_000_000, NOV); // the shared charge fails; this process still counts it
    await assert.rejects(open.a.admit(testPrincipal({ user: 'alice' })), (e: GatewayError) => e.code === 'budget_exceeded');
    const failures = async (m: Metrics, policy: string) => (await m.counterStoreFailures.get()).values.find((v) => v.labels.policy === policy)?.value ?? 0;
    assert.equal(await failures(closed.metrics, 'closed'), 1);
    assert.equal(await failures(open.metrics, 'open'), 2);
  });
});
