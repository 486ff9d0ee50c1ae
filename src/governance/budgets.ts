import type { Principal } from '../request/principal.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SpendTotals } from '../store/governance-types.js';
import type { BudgetCounters } from '../store/types.js';
import type { BudgetsConfig, CounterFailurePolicy } from './config.js';

export type BudgetScope = 'key' | 'user' | 'instance' | 'global';

/** An instance as budgets see it: its name and monthly budget (`instances.X.limits.budget_usd`). */
export interface BudgetedInstance {
  readonly name: string;
  readonly limits: { readonly budget_usd?: number | undefined } | undefined;
}

/** The first instant (UTC) of the month containing `t`. */
export function monthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The first instant (UTC) of the month after the one containing `t`. */
export function nextMonthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** `budgets.monthly_usd`, else `LLM_MONTHLY_BUDGET` from the environment (seed 004), else none. */
export function globalBudgetUsd(config: BudgetsConfig, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (config.monthly_usd !== undefined) return config.monthly_usd;
  const raw = env['LLM_MONTHLY_BUDGET'];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`LLM_MONTHLY_BUDGET must be a positive number of USD (got "${raw.slice(0, 32)}")`);
  return n;
}

type Tally = { global: number; keys: Map<string, number>; users: Map<string, number>; instances: Map<string, number> };
const emptyTally = (): Tally => ({ global: 0, keys: new Map(), users: new Map(), instances: new Map() });

function addTo(t: Tally, keyId: string | null, user: string | null, instance: string | null, micros: number): void {
  t.global += micros;
  if (keyId !== null) t.keys.set(keyId, (t.keys.get(keyId) ?? 0) + micros);
  if (user !== null) t.users.set(user, (t.users.get(user) ?? 0) + micros);
  if (instance !== null) t.instances.set(instance, (t.instances.get(instance) ?? 0) + micros);
}

const SCOPE_FIELD: Readonly<Record<Exclude<BudgetScope, 'global'>, string>> = { key: 'k', user: 'u', instance: 'i' };

export interface BudgetGuardOptions {
  config: BudgetsConfig;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  env?: NodeJS.ProcessEnv;
  /** Spend shared by every replica (Redis); without it each process knows the others' spend only at refreshes. */
  shared?: BudgetCounters;
  /** While `shared` is unreachable: `closed` refuses requests a budget applies to (503), `open` checks this process's view. */
  onFailure?: CounterFailurePolicy;
}

/** The shared counter field of a budget scope. */
function fieldOf(scope: BudgetScope, id: string | undefined): string {
  return scope === 'global' ? 'g' : `${SCOPE_FIELD[scope]}:${id ?? ''}`;
}

/**
 * Monthly spend per key, per user and overall, in micro-dollars, held in memory so admission
 * never waits on a store: `base` is what the usage store held at the last refresh, `delta` what
 * this process charged since, `committed` the part of `delta` written to the store since that
 * refresh (subtracted when the next refresh's base includes it). Refreshes and usage flushes
 * run one after the other (the governance loop), so no write is counted twice. Other processes'
 * spend arrives with each refresh (`budgets.refresh_interval`).
 *
 * A request is refused when a budget is already used up; one in flight when it is crossed
 * completes and is charged in full, so spend can exceed a budget by the requests in flight.
 *
 * With `shared` counters (Redis, `storage.redis`), `admit` reads the fleet's spend and `charge`
 * adds to it atomically, so every replica sees each finished request at once: a budget is
 * exceeded by at most the requests in flight when it is crossed, whatever the number of
 * replicas. Each refresh raises the shared counters to the usage rows' totals (seeding an empty
 * Redis, restoring charges lost while it was unreachable); it never lowers them.
 */
export class BudgetGuard {
  readonly #config: BudgetsConfig;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #globalUsd: number | undefined;
  #month = 0;
  #nextMonth = 0;
  #base: Tally = emptyTally();
  #delta: Tally = emptyTally();
  #committed: Tally = emptyTally();
  /** `<scope>:<id>` warned this month (once each). */
  #warned = new Set<string>();
  readonly #shared: BudgetCounters | undefined;
  readonly #onFailure: CounterFailurePolicy;
  #reconciling: Promise<void> = Promise.resolve();

  constructor(options: BudgetGuardOptions) {
    this.#config = options.config;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#globalUsd = globalBudgetUsd(options.config, options.env);
    this.#month = monthStart(this.#now());
    this.#nextMonth = nextMonthStart(this.#month);
    this.#shared = options.shared;
    this.#onFailure = options.onFailure ?? 'closed';
  }

  /** The month whose spend is held (epoch ms of its start). */
  get month(): number {
    return this.#month;
  }

  /** True when any budget applies at all (else admission skips the check). */
  get anyBudget(): boolean {
    return this.#globalUsd !== undefined || Object.keys(this.#config.users).length > 0;
  }

  #rollover(): void {
    const now = this.#now();
    if (now >= this.#month && now < this.#nextMonth) return;
    this.#month = monthStart(now);
    this.#nextMonth = nextMonthStart(now);
    this.#base = emptyTally();
    this.#delta = emptyTally();
    this.#committed = emptyTally();
    this.#warned.clear();
  }

  /** Replaces the base with the store's totals for the current month (after a flush, never during one). */
  applyRefresh(totals: SpendTotals, month: number): void {
    this.#rollover();
    if (month !== this.#month) return; // the month turned while the store was read
    const base = emptyTally();
    base.global = totals.global;
    for (const [k, v] of Object.entries(totals.keys)) base.keys.set(k, v);
    for (const [u, v] of Object.entries(totals.users)) base.users.set(u, v);
    for (const [i, v] of Object.entries(totals.instances)) base.instances.set(i, v);
    const sub = (m: Map<string, number>, c: Map<string, number>) => {
      for (const [k, v] of c) {
        const left = (m.get(k) ?? 0) - v;
        if (left > 0) m.set(k, left);
        else m.delete(k);
      }
    };
    this.#delta.global = Math.max(0, this.#delta.global - this.#committed.global);
    sub(this.#delta.keys, this.#committed.keys);
    sub(this.#delta.users, this.#committed.users);
    sub(this.#delta.instances, this.#committed.instances);
    this.#committed = emptyTally();
    this.#base = base;
    this.#checkWarnings(null, null);
    const shared = this.#shared;
    if (shared !== undefined) {
      const totals = new Map<string, number>([['g', base.global]]);
      for (const [k, v] of base.keys) totals.set(fieldOf('key', k), v);
      for (const [u, v] of base.users) totals.set(fieldOf('user', u), v);
      for (const [i, v] of base.instances) totals.set(fieldOf('instance', i), v);
      this.#reconciling = shared.budgetReconcile(month, totals).catch((err: unknown) => {
        this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'raising the shared budget counters to the usage rows failed; the next refresh retries');
      });
    }
  }

  /** Resolves once the shared counters hold the last refresh's totals (start-up waits for it). */
  settled(): Promise<void> {
    return this.#reconciling;
  }

  /** A finished request's cost (`time` is when it started), charged to its scopes at once. */
  charge(keyId: string | null, user: string | null, micros: number, time: number, instance: string | null = null): void {
    this.#rollover();
    if (micros <= 0 || time < this.#month) return;
    addTo(this.#delta, keyId, user, instance, micros);
    this.#checkWarnings(keyId, user);
    if (this.#shared !== undefined) {
      const fields = ['g'];
      if (keyId !== null) fields.push(fieldOf('key', keyId));
      if (user !== null) fields.push(fieldOf('user', user));
      if (instance !== null) fields.push(fieldOf('instance', instance));
      // A lost charge is not lost spend: its usage row raises the counter at the next refresh.
      this.#shared.budgetCharge(this.#month, fields, micros).catch((err: unknown) => {
        this.#logger.debug({ error: err instanceof Error ? err.message : String(err) }, 'charging the shared budget counters failed; the next refresh restores it from the usage rows');
      });
    }
  }

  /** Rows of this cost were written to the store (so the next refresh's base includes them). */
  committed(keyId: string | null, user: string | null, micros: number, time: number, instance: string | null = null): void {
    if (micros <= 0 || time < this.#month) return;
    addTo(this.#committed, keyId, user, instance, micros);
  }

  /** Spend this month in micro-dollars. */
  spent(scope: BudgetScope, id?: string): number {
    this.#rollover();
    if (scope === 'global') return this.#base.global + this.#delta.global;
    const pick = (t: Tally) => (scope === 'key' ? t.keys : scope === 'user' ? t.users : t.instances).get(id ?? '') ?? 0;
    return pick(this.#base) + pick(this.#delta);
  }

  /** The budgets (USD) that apply to `principal` calling `instance`, tightest check first is not needed: all are checked. */
  budgetsOf(principal: Principal, instance?: BudgetedInstance): Array<{ scope: BudgetScope; id: string | undefined; usd: number }> {
    const out: Array<{ scope: BudgetScope; id: string | undefined; usd: number }> = [];
    const instanceUsd = instance?.limits?.budget_usd;
    if (instanceUsd !== undefined) out.push({ scope: 'instance', id: instance!.name, usd: instanceUsd });
    if (principal.keyId !== undefined && principal.limits.budgetUsd !== null) out.push({ scope: 'key', id: principal.keyId, usd: principal.limits.budgetUsd });
    const userUsd = principal.user === null ? undefined : this.#config.users[principal.user];
    if (userUsd !== undefined) out.push({ scope: 'user', id: principal.user!, usd: userUsd });
    if (this.#globalUsd !== undefined) out.push({ scope: 'global', id: undefined, usd: this.#globalUsd });
    return out;
  }

  /** Throws 429 `budget_exceeded` naming the budget (key, user, instance or gateway-wide) that is used up, by this process's view. */
  check(principal: Principal, instance?: BudgetedInstance): void {
    for (const b of this.budgetsOf(principal, instance)) {
      if (this.spent(b.scope, b.id) >= b.usd * 1e6) throw this.#exceeded(b);
    }
  }

  /**
   * Admission: like `check`, against the fleet's spend when the counters are shared. While they
   * are unreachable, `on_counter_failure.budgets` decides: 503 `counters_unavailable` (closed)
   * or this process's view (open).
   */
  async admit(principal: Principal, instance?: BudgetedInstance): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined) return this.check(principal, instance);
    const budgets = this.budgetsOf(principal, instance);
    if (budgets.length === 0) return;
    this.#rollover();
    let spent: number[];
    try {
      spent = await shared.budgetSpent(this.#month, budgets.map((b) => fieldOf(b.scope, b.id)));
    } catch (err) {
      if (this.#onFailure === 'open') {
        this.#metrics.counterStoreFailures.inc({ policy: 'open' });
        return this.check(principal, instance);
      }
      this.#metrics.counterStoreFailures.inc({ policy: 'closed' });
      throw new GatewayError('counters_unavailable', 'The shared budget counters are unreachable, so requests with a monthly budget are refused for now; try again shortly.', { cause: err, retryAfter: 1 });
    }
    budgets.forEach((b, i) => {
      if (spent[i]! >= b.usd * 1e6) throw this.#exceeded(b);
      this.#warnOnce(b.scope, b.id, b.usd, spent[i]);
    });
  }

  #exceeded(b: { scope: BudgetScope; id: string | undefined; usd: number }): GatewayError {
    this.#metrics.rateLimited.inc({ reason: b.scope === 'instance' ? 'instance_budget' : 'budget' });
    const resetAt = nextMonthStart(this.#now());
    const whose = b.scope === 'key' ? 'your API key' : b.scope === 'user' ? 'your user' : b.scope === 'instance' ? `instance "${b.id}" (all its callers)` : 'the gateway (all users)';
    return new GatewayError(
      'budget_exceeded',
      `The monthly ${b.scope} budget of ${whose} ($${b.usd}) is used up; it resets on ${new Date(resetAt).toISOString().slice(0, 10)} (UTC). Ask an operator to raise it.`,
      { retryAfter: Math.ceil((resetAt - this.#now()) / 1000) },
    );
  }

  #checkWarnings(keyId: string | null, user: string | null): void {
    if (this.#globalUsd !== undefined) this.#warnOnce('global', undefined, this.#globalUsd);
    if (user !== null && this.#config.users[user] !== undefined) this.#warnOnce('user', user, this.#config.users[user]!);
    if (keyId === null && user === null) {
      // After a refresh: every configured user budget.
      for (const [u, usd] of Object.entries(this.#config.users)) this.#warnOnce('user', u, usd);
    }
  }

  /** Instance budgets live in the instance's config; the caller passes it at finish time. */
  warnInstance(instance: BudgetedInstance): void {
    const usd = instance.limits?.budget_usd;
    if (usd !== undefined) this.#warnOnce('instance', instance.name, usd);
  }

  /** Key budgets live on key records; the caller passes the key's budget at finish time. */
  warnKey(keyId: string, usd: number | null): void {
    if (usd !== null) this.#warnOnce('key', keyId, usd);
  }

  /** One metric increment and one log event per budget and month (per process) once `warn_ratio` is reached. */
  #warnOnce(scope: BudgetScope, id: string | undefined, usd: number, spentMicros?: number): void {
    const tag = `${scope}:${id ?? ''}`;
    if (this.#warned.has(tag)) return;
    const spent = (spentMicros ?? this.spent(scope, id)) / 1e6;
    const ratio = this.#config.warn_ratio;
    if (spent < usd * ratio) return;
    this.#warned.add(tag);
    this.#metrics.budgetWarnings.inc({ scope });
    this.#logger.warn(
      { event: 'budget_warning', scope, key_id: scope === 'key' ? id : undefined, user: scope === 'user' ? id : undefined, instance: scope === 'instance' ? id : undefined, budget_usd: usd, spent_usd: Math.round(spent * 1e6) / 1e6, ratio },
      `monthly ${scope} budget ${Math.round((spent / usd) * 100)}% used`,
    );
  }
}
