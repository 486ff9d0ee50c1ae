import { performance } from 'node:perf_hooks';
import type { InstanceDirectory } from '../providers/directory.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { RequestContext } from '../request/context.js';
import type { Middleware } from '../request/types.js';
import type { AuditTrail } from '../store/audit-trail.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { UsageQuery, UsageRow, UsageSeries, UsageSeriesQuery } from '../store/governance-types.js';
import type { JournalStream } from '../store/journal.js';
import type { BudgetCounters, CounterStore, Store } from '../store/types.js';
import type { Res } from '../util/http.js';
import { BudgetGuard } from './budgets.js';
import type { GovernanceConfig } from './config.js';
import { LOCKDOWN_MESSAGE, LockdownController, type LockdownChangeMeta, type LockdownState } from './lockdown.js';
import { MemoryCounterStore } from './memory-counters.js';
import { completionCaps } from './estimate.js';
import { PriceTable, markUnpriced, type BuiltInPrices, type PricedUsageRow } from './pricing.js';
import { RateLimiter, type Admission } from './rate-limits.js';
import { UsageRecorder } from './usage-recorder.js';

export type { LockdownChangeMeta, LockdownState } from './lockdown.js';
export type { UsageFilter, UsageQuery, UsageSeries, UsageSeriesQuery, UsageSummaryRow } from '../store/governance-types.js';

export interface GovernanceDeps {
  config: GovernanceConfig;
  /**
   * What the providers declare about models (their folders' `prices`, `priceIds` and
   * `completionCapFields`), merged by the composition root: governance names no provider.
   */
  models: BuiltInPrices & { completionCapFields: readonly string[] };
  store: Store;
  instances: InstanceDirectory;
  audit: AuditTrail;
  logger: Logger;
  metrics: Metrics;
  /** Shared rate-limit counters (Redis, when replicas share limits); default: in this process. */
  counters?: CounterStore;
  /** Shared budget spend (Redis, with `counters`); default: each process's view, refreshed from the usage rows. */
  budgetCounters?: BudgetCounters;
  /** Journal of usage rows (store/journal.ts): a row is appended there before it is buffered. */
  usageJournal?: JournalStream<UsageRow> | undefined;
  /** Wall clock (tests). */
  now?: () => number;
  /** Environment read for LLM_MONTHLY_BUDGET, LLM_EMERGENCY_MODE and LLM_DISABLE_ALL_PROVIDERS; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The emergency switch, for the admin API. Every change is audited (`event: 'lockdown'`). */
export interface LockdownControl {
  /** This process's current view (changes by other processes arrive within `lockdown.poll_interval`). */
  state(): LockdownState;
  /** On: every inference route answers 503 `lockdown` and in-flight inference is cut; off: normal service. */
  set(on: boolean, actor: string, reason?: string, meta?: LockdownChangeMeta): Promise<LockdownState>;
  /** Re-reads the store's lockdown settings now (another replica announced a change). */
  refresh(): Promise<void>;
  /** Disabled: requests to that instance answer 503 `instance_disabled`. */
  setInstance(name: string, disabled: boolean, actor: string, reason?: string, meta?: LockdownChangeMeta): Promise<LockdownState>;
}

/** Rate limits, budgets, usage accounting and lockdown, as steps of the inference chains. */
export interface Governance {
  /** Before authentication on inference routes (lockdown answers 503 without auth work). */
  before: Middleware[];
  /** After authorization on inference routes (rate limits, budgets). */
  after: Middleware[];
  /** Called once per finished request (usage rows, token charges). */
  onFinish(ctx: RequestContext): void;
  /**
   * Usage totals from the store, after writing this process's buffered rows (the admin API's
   * `/admin/v1/usage`). By model, a model without a price is marked `unpriced: true` (its cost is
   * what `pricing.unpriced` charged).
   */
  usageSummary(q: UsageQuery): Promise<PricedUsageRow[]>;
  /** Usage per time bucket and group from the store, after writing this process's buffered rows (`/admin/v1/usage/series`, `/admin/v1/overview`). */
  usageSeries(q: UsageSeriesQuery): Promise<UsageSeries[]>;
  /** Writes this process's buffered usage rows to the store (before a user's rows are erased). */
  flushUsage(): Promise<void>;
  readonly lockdown: LockdownControl;
  start(): Promise<void>;
  /** Flushes what is pending (usage rows) and stops timers. */
  stop(): Promise<void>;
}

const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
];

export async function buildGovernance(deps: GovernanceDeps): Promise<Governance> {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  // This process's own counters: the only ones without Redis, the fallback of `on_counter_failure: open` with it.
  const ownCounters = new MemoryCounterStore({ now });
  const counters = deps.counters ?? ownCounters;
  const policy = config.governance.on_counter_failure;
  const limiter = new RateLimiter({ counters, limits: config.limits, caps: completionCaps(deps.models.completionCapFields), metrics, now, onFailure: policy.rate_limits, fallback: ownCounters });
  const budgets = new BudgetGuard({
    config: config.budgets,
    metrics,
    logger,
    now,
    onFailure: policy.budgets,
    ...(deps.budgetCounters ? { shared: deps.budgetCounters } : {}),
    ...(deps.env ? { env: deps.env } : {}),
  });
  const prices = new PriceTable(config.pricing.models, deps.models, config.pricing.unpriced);
  const recorder = new UsageRecorder({
    store: deps.store.governance.usage,
    budgets,
    logger,
    metrics,
    flushIntervalMs: config.usage.flush_interval,
    batchSize: config.usage.batch_size,
    refreshIntervalMs: config.budgets.refresh_interval,
    journal: deps.usageJournal,
    now,
  });
  const lockdown = new LockdownController({
    settings: deps.store.governance.settings,
    logger,
    metrics,
    audit: (e) => deps.audit.record(e),
    pollMs: config.lockdown.poll_interval,
    now,
    ...(deps.env ? { env: deps.env } : {}),
  });
  const unpriced = new Set<string>();

  function lockdownGate(ctx: RequestContext, next: () => Promise<void>): Promise<void> {
    if (lockdown.on) throw new GatewayError('lockdown', LOCKDOWN_MESSAGE);
    lockdown.track(ctx);
    return next();
  }

  async function governInference(ctx: RequestContext, next: () => Promise<void>): Promise<void> {
    // Again here: the switch may have been thrown while this request was authenticating.
    if (lockdown.on) throw new GatewayError('lockdown', LOCKDOWN_MESSAGE);
    const instance = ctx.instance!;
    if (lockdown.isDisabled(instance.name)) {
      throw new GatewayError('instance_disabled', `instance "${instance.name}" is disabled by an operator; try again later or use another instance`);
    }
    const principal = ctx.principal!;
    await budgets.admit(principal, instance);
    const admission = await limiter.admit(principal, ctx.body, instance);
    ctx.governance = { admission, recorded: false };
    recordAtEnd(ctx);
    if (admission !== undefined) setRateLimitHeaders(ctx, admission.headers);
    return next();
  }

  /**
   * Records the usage row (journaled before it is buffered) and charges the budgets just before
   * the response's last byte is handed to the socket: a process killed once the client has its
   * answer has already written the row to its journal.
   */
  function recordAtEnd(ctx: RequestContext): void {
    const res = ctx.res;
    const end = res.end as (...args: unknown[]) => unknown;
    (res as { end: unknown }).end = function (this: unknown, ...args: unknown[]) {
      if (ctx.governance?.recorded === false) record(ctx, res.statusCode);
      return end.apply(this, args);
    };
  }

  function onFinish(ctx: RequestContext): void {
    lockdown.untrack(ctx);
    const governed = ctx.governance;
    if (governed === undefined) return;
    const admission = governed.admission as Admission | undefined;
    const completed = ctx.res.writableFinished;
    const status = completed ? ctx.res.statusCode : 499;
    if (!governed.recorded) record(ctx, status);
    ctx.governance = undefined;
    if (admission !== undefined) {
      const usage = ctx.usage;
      const actual = usage === undefined ? undefined : usage.inputTokens + usage.outputTokens;
      limiter.finish(admission, actual, completed && status < 400).catch((err: unknown) => logger.warn({ request_id: ctx.id, err }, 'releasing rate-limit counters failed'));
    }
  }

  function record(ctx: RequestContext, status: number): void {
    ctx.governance!.recorded = true;
    const principal = ctx.principal!;
    const usage = ctx.usage;
    const model = usage?.model ?? ctx.model ?? null;
    let costMicros = 0;
    if (usage !== undefined && model !== null) {
      const cost = prices.cost(model, usage.inputTokens, usage.outputTokens);
      costMicros = cost.micros;
      if (!cost.priced) reportUnpriced(ctx.instance?.name ?? '', model, usage.model);
    }
    const latencyMs = performance.now() - ctx.startedAt;
    const time = Math.round(now() - latencyMs);
    const keyId = principal.keyId ?? null;
    budgets.charge(keyId, principal.user, costMicros, time, ctx.instance?.name ?? null);
    if (keyId !== null) budgets.warnKey(keyId, principal.limits.budgetUsd);
    if (ctx.instance !== undefined) budgets.warnInstance(ctx.instance);
    recorder.record({
      time,
      requestId: ctx.id,
      keyId,
      user: principal.user,
      principalKind: principal.kind,
      instance: ctx.instance?.name ?? null,
      model,
      inputTokens: usage?.inputTokens ?? 0,
      outputTokens: usage?.outputTokens ?? 0,
      costMicros,
      latencyMs: Math.round(latencyMs),
      status,
    });
  }

  /**
   * Makes a request priced at `pricing.unpriced` visible: counted by instance and the model the
   * provider reported (a client's model name never becomes a label), and logged once per model
   * and process (the set is capped, as model ids come from outside).
   */
  function reportUnpriced(instance: string, model: string, reported: string | undefined): void {
    metrics.unpricedRequests.labels(instance, reported ?? 'unknown').inc();
    if (unpriced.has(model) || unpriced.size >= 1000) return;
    unpriced.add(model);
    const { input_per_mtok, output_per_mtok } = config.pricing.unpriced;
    logger.warn({ model, instance, input_per_mtok, output_per_mtok }, 'no price for this model: its requests are charged pricing.unpriced in usage and budgets; add it under pricing.models');
  }

  let started = false;
  return {
    before: [lockdownGate],
    after: [governInference],
    onFinish,
    flushUsage: () => recorder.flush(),
    async usageSummary(q) {
      await recorder.flush();
      const rows = await deps.store.governance.usage.summary(q);
      return q.by === 'model' ? markUnpriced(rows, prices) : rows;
    },
    async usageSeries(q) {
      await recorder.flush();
      return deps.store.governance.usage.series(q);
    },
    lockdown: {
      state: () => lockdown.state(),
      set: (on, actor, reason, meta) => lockdown.set(on, actor, reason, meta),
      refresh: () => lockdown.poll(),
      setInstance(name, disabled, actor, reason, meta) {
        // Only configured instances can be disabled (by name, not by provider type); any name can be re-enabled.
        if (disabled && !deps.instances.all.some((i) => i.name === name)) {
          return Promise.reject(new GatewayError('unknown_instance', `no instance named "${name.slice(0, 64)}"`));
        }
        return lockdown.setInstance(name, disabled, actor, reason, meta);
      },
    },
    async start() {
      if (started) return;
      started = true;
      await lockdown.start();
      await recorder.start();
      await budgets.settled();
    },
    async stop() {
      lockdown.stop();
      await recorder.stop();
      await ownCounters.close();
    },
  };
}

/**
 * OpenAI's x-ratelimit-* headers on this response, whatever answers it: set now for the
 * gateway's own answers, and kept over an upstream's own x-ratelimit-* (which describe the
 * gateway's provider account, not this client) on passed-through answers.
 */
function setRateLimitHeaders(ctx: RequestContext, headers: Record<string, string>): void {
  const res = ctx.res;
  for (const name of RATE_LIMIT_HEADERS) {
    const v = headers[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  if (ctx.mode !== 'transparent') return;
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => unknown;
  (res as { writeHead: Res['writeHead'] }).writeHead = (status: number, ...rest: unknown[]) => {
    const last = rest[rest.length - 1];
    if (last !== null && typeof last === 'object' && !Array.isArray(last)) {
      const h = last as Record<string, unknown>;
      for (const name of RATE_LIMIT_HEADERS) {
        if (name in h) {
          if (headers[name] === undefined) delete h[name];
          else h[name] = headers[name];
        }
      }
    }
    return writeHead(status, ...rest);
  };
}
