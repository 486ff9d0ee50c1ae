import type { Principal } from '../clientauth/principal.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SpendTotals } from '../store/governance-types.js';
import type { BudgetsConfig } from './config.js';

export type BudgetScope = 'key' | 'user' | 'global';

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

type Tally = { global: number; keys: Map<string, number>; users: Map<string, number> };
const emptyTally = (): Tally => ({ global: 0, keys: new Map(), users: new Map() });

function addTo(t: Tally, keyId: string | null, user: string | null, micros: number): void {
  t.global += micros;
  if (keyId !== null) t.keys.set(keyId, (t.keys.get(keyId) ?? 0) + micros);
  if (user !== null) t.users.set(user, (t.users.get(user) ?? 0) + micros);
}

export interface BudgetGuardOptions {
  config: BudgetsConfig;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  env?: NodeJS.ProcessEnv;
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

  constructor(options: BudgetGuardOptions) {
    this.#config = options.config;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#globalUsd = globalBudgetUsd(options.config, options.env);
    this.#month = monthStart(this.#now());
    this.#nextMonth = nextMonthStart(this.#month);
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
    this.#committed = emptyTally();
    this.#base = base;
    this.#checkWarnings(null, null);
  }

  /** A finished request's cost (`time` is when it started), charged to its scopes at once. */
  charge(keyId: string | null, user: string | null, micros: number, time: number): void {
    this.#rollover();
    if (micros <= 0 || time < this.#month) return;
    addTo(this.#delta, keyId, user, micros);
    this.#checkWarnings(keyId, user);
  }

  /** Rows of this cost were written to the store (so the next refresh's base includes them). */
  committed(keyId: string | null, user: string | null, micros: number, time: number): void {
    if (micros <= 0 || time < this.#month) return;
    addTo(this.#committed, keyId, user, micros);
  }

  /** Spend this month in micro-dollars. */
  spent(scope: BudgetScope, id?: string): number {
    this.#rollover();
    if (scope === 'global') return this.#base.global + this.#delta.global;
    const pick = (t: Tally) => (scope === 'key' ? t.keys : t.users).get(id ?? '') ?? 0;
    return pick(this.#base) + pick(this.#delta);
  }

  /** The budgets (USD) that apply to `principal`, tightest check first is not needed: all are checked. */
  budgetsOf(principal: Principal): Array<{ scope: BudgetScope; id: string | undefined; usd: number }> {
    const out: Array<{ scope: BudgetScope; id: string | undefined; usd: number }> = [];
    if (principal.keyId !== undefined && principal.limits.budgetUsd !== null) out.push({ scope: 'key', id: principal.keyId, usd: principal.limits.budgetUsd });
    const userUsd = principal.user === null ? undefined : this.#config.users[principal.user];
    if (userUsd !== undefined) out.push({ scope: 'user', id: principal.user!, usd: userUsd });
    if (this.#globalUsd !== undefined) out.push({ scope: 'global', id: undefined, usd: this.#globalUsd });
    return out;
  }

  /** Throws 429 `budget_exceeded` naming the budget (key, user or gateway-wide) that is used up. */
  check(principal: Principal): void {
    for (const b of this.budgetsOf(principal)) {
      if (this.spent(b.scope, b.id) < b.usd * 1e6) continue;
      this.#metrics.rateLimited.inc({ reason: 'budget' });
      const resetAt = nextMonthStart(this.#now());
      const whose = b.scope === 'key' ? 'your API key' : b.scope === 'user' ? 'your user' : 'the gateway (all users)';
      throw new GatewayError(
        'budget_exceeded',
        `The monthly ${b.scope} budget of ${whose} ($${b.usd}) is used up; it resets on ${new Date(resetAt).toISOString().slice(0, 10)} (UTC). Ask an operator to raise it.`,
        { retryAfter: Math.ceil((resetAt - this.#now()) / 1000) },
      );
    }
  }

  #checkWarnings(keyId: string | null, user: string | null): void {
    if (this.#globalUsd !== undefined) this.#warnOnce('global', undefined, this.#globalUsd);
    if (user !== null && this.#config.users[user] !== undefined) this.#warnOnce('user', user, this.#config.users[user]!);
    if (keyId === null && user === null) {
      // After a refresh: every configured user budget.
      for (const [u, usd] of Object.entries(this.#config.users)) this.#warnOnce('user', u, usd);
    }
  }

  /** Key budgets live on key records; the caller passes the key's budget at finish time. */
  warnKey(keyId: string, usd: number | null): void {
    if (usd !== null) this.#warnOnce('key', keyId, usd);
  }

  /** One metric increment and one log event per budget and month once `warn_ratio` is reached. */
  #warnOnce(scope: BudgetScope, id: string | undefined, usd: number): void {
    const tag = `${scope}:${id ?? ''}`;
    if (this.#warned.has(tag)) return;
    const spent = this.spent(scope, id) / 1e6;
    const ratio = this.#config.warn_ratio;
    if (spent < usd * ratio) return;
    this.#warned.add(tag);
    this.#metrics.budgetWarnings.inc({ scope });
    this.#logger.warn(
      { event: 'budget_warning', scope, key_id: scope === 'key' ? id : undefined, user: scope === 'user' ? id : undefined, budget_usd: usd, spent_usd: Math.round(spent * 1e6) / 1e6, ratio },
      `monthly ${scope} budget ${Math.round((spent / usd) * 100)}% used`,
    );
  }
}
