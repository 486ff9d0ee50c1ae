import type { InstanceLimits } from '../providers/instance-schema.js';
import type { Principal } from '../request/principal.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Metrics } from '../observability/metrics.js';
import type { CounterStore } from '../store/types.js';
import type { CounterFailurePolicy, LimitSet, LimitsConfig } from './config.js';
import { estimateTokens, type CompletionCaps } from './estimate.js';

/** Limits are fixed one-minute windows. */
export const WINDOW_MS = 60_000;

/** One set of counters a request is charged to: the principal's own, its user's or its instance's (shared). */
export interface LimitScope {
  kind: 'key' | 'user' | 'instance';
  /** Counter key prefix (`rl:key:<id>` / `rl:user:<name>` / `rl:instance:<name>`); a store key, never a metric label. */
  prefix: string;
  rpm: number | undefined;
  tpm: number | undefined;
  concurrent: number | undefined;
  /** The instance's name, for the refusal's message (kind `instance`). */
  name?: string;
}

/**
 * The scopes that limit `principal`: its own (key record rpm/tpm, else the smallest of its
 * roles', else `limits.default`; concurrent from its roles, else the default) and, when
 * `limits.users` names its user, the user's shared one. Empty when nothing limits it.
 */
export function limitScopes(principal: Principal, limits: LimitsConfig): LimitScope[] {
  const scopes: LimitScope[] = [];
  const fromRoles: LimitSet = {};
  for (const role of principal.roles) {
    const set = limits.roles[role];
    if (set === undefined) continue;
    for (const dim of ['rpm', 'tpm', 'concurrent'] as const) {
      const v = set[dim];
      if (v !== undefined && (fromRoles[dim] === undefined || v < fromRoles[dim])) fromRoles[dim] = v;
    }
  }
  const pick = (dim: 'rpm' | 'tpm' | 'concurrent', own: number | null | undefined) => own ?? fromRoles[dim] ?? limits.default?.[dim];
  const id = principal.keyId ?? `${principal.kind}:${principal.id}`;
  const own: LimitScope = {
    kind: 'key',
    prefix: `rl:key:${id}`,
    rpm: pick('rpm', principal.limits.rpm),
    tpm: pick('tpm', principal.limits.tpm),
    concurrent: pick('concurrent', undefined),
  };
  if (own.rpm !== undefined || own.tpm !== undefined || own.concurrent !== undefined) scopes.push(own);
  const userSet = principal.user === null ? undefined : limits.users[principal.user];
  if (userSet !== undefined) scopes.push({ kind: 'user', prefix: `rl:user:${principal.user}`, rpm: userSet.rpm, tpm: userSet.tpm, concurrent: userSet.concurrent });
  return scopes;
}

/** An instance as rate limits see it: its name and `instances.X.limits`. */
export interface LimitedInstance {
  readonly name: string;
  readonly limits: InstanceLimits | undefined;
}

/**
 * The scope of an instance's own limits (`instances.X.limits`: rpm, tpm, concurrency), which every
 * caller of the instance shares; undefined when it sets none of them.
 */
export function instanceLimitScope(instance: LimitedInstance): LimitScope | undefined {
  const l = instance.limits;
  if (l === undefined || (l.rpm === undefined && l.tpm === undefined && l.concurrency === undefined)) return undefined;
  return { kind: 'instance', prefix: `rl:instance:${instance.name}`, rpm: l.rpm, tpm: l.tpm, concurrent: l.concurrency, name: instance.name };
}

/** What one admitted request holds: token charges to correct and slots to release at finish. */
export interface Admission {
  /** Counter key → tokens charged at admission. */
  tokens: Array<{ key: string; charged: number }>;
  slots: string[];
  /** OpenAI's x-ratelimit-* headers for this response. */
  headers: Record<string, string>;
  released: boolean;
  /** The counters it was taken from (the local fallback while the shared ones are unreachable). */
  counters: CounterStore;
}

/** OpenAI's reset format: `20ms`, `1.5s`, `6m0s`. */
export function formatReset(ms: number): string {
  const clamped = Math.max(0, Math.ceil(ms));
  if (clamped < 1000) return `${clamped}ms`;
  const seconds = clamped / 1000;
  if (seconds < 60) return `${Math.round(seconds * 1000) / 1000}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${Math.round(seconds - m * 60)}s`;
}

/** The tightest of several windows, for the x-ratelimit-* headers. */
class Tightest {
  limit = 0;
  remaining = Infinity;
  resetAt = 0;
  seen = false;

  note(limit: number, total: number, resetAt: number): void {
    const remaining = Math.max(0, limit - total);
    if (!this.seen || remaining < this.remaining || (remaining === this.remaining && limit < this.limit)) {
      this.limit = limit;
      this.remaining = remaining;
      this.resetAt = resetAt;
      this.seen = true;
    }
  }

  write(headers: Record<string, string>, kind: 'requests' | 'tokens', now: number): void {
    if (!this.seen) return;
    headers[`x-ratelimit-limit-${kind}`] = String(this.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(this.remaining);
    headers[`x-ratelimit-reset-${kind}`] = formatReset(this.resetAt - now);
  }
}

export interface RateLimiterOptions {
  counters: CounterStore;
  limits: LimitsConfig;
  /** Where bodies name their completion cap, for the token estimate. */
  caps: CompletionCaps;
  metrics: Metrics;
  now?: () => number;
  /**
   * What happens when `counters` (shared, networked) fail: `open` counts in `fallback` (this
   * process alone), `closed` refuses with 503 `counters_unavailable`. Default open.
   */
  onFailure?: CounterFailurePolicy;
  /** This process's own counters, for `open` (required with networked `counters`). */
  fallback?: CounterStore;
}

/**
 * Admits requests against every applicable limit, all or nothing: a refusal by one scope rolls
 * back what the others took. Tokens are admitted against an estimate and corrected with the
 * reported usage in `finish`. Principals' scopes are resolved once per principal object.
 */
export class RateLimiter {
  readonly #counters: CounterStore;
  readonly #limits: LimitsConfig;
  readonly #caps: CompletionCaps;
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #scopes = new WeakMap<Principal, LimitScope[]>();
  readonly #instanceScopes = new WeakMap<LimitedInstance, LimitScope | null>();
  readonly #onFailure: CounterFailurePolicy;
  readonly #fallback: CounterStore | undefined;

  constructor(options: RateLimiterOptions) {
    this.#counters = options.counters;
    this.#limits = options.limits;
    this.#caps = options.caps;
    this.#metrics = options.metrics;
    this.#now = options.now ?? Date.now;
    this.#onFailure = options.onFailure ?? 'open';
    this.#fallback = options.fallback;
  }

  scopesOf(principal: Principal): LimitScope[] {
    let scopes = this.#scopes.get(principal);
    if (scopes === undefined) {
      scopes = limitScopes(principal, this.#limits);
      this.#scopes.set(principal, scopes);
    }
    return scopes;
  }

  /** The instance's own scope, resolved once per instance object. */
  instanceScopeOf(instance: LimitedInstance): LimitScope | undefined {
    let scope = this.#instanceScopes.get(instance);
    if (scope === undefined) {
      scope = instanceLimitScope(instance) ?? null;
      this.#instanceScopes.set(instance, scope);
    }
    return scope ?? undefined;
  }

  /**
   * Takes what the request needs or throws 429 `rate_limited` (with Retry-After and the headers).
   * Undefined when nothing limits the principal or its instance. When the shared counters fail,
   * the `on_counter_failure` policy decides: this process's own counters, or 503.
   */
  async admit(principal: Principal, body: Buffer | null, instance?: LimitedInstance): Promise<Admission | undefined> {
    const own = this.scopesOf(principal);
    const shared = instance === undefined ? undefined : this.instanceScopeOf(instance);
    const scopes = shared === undefined ? own : [...own, shared];
    if (scopes.length === 0) return undefined;
    try {
      return await this.#admitWith(this.#counters, scopes, body);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (this.#onFailure === 'closed' || this.#fallback === undefined) {
        this.#metrics.counterStoreFailures.inc({ policy: 'closed' });
        throw new GatewayError('counters_unavailable', 'The shared rate-limit counters are unreachable, so requests with a rate limit are refused for now; try again shortly.', { cause: err, retryAfter: 1 });
      }
      this.#metrics.counterStoreFailures.inc({ policy: 'open' });
      return this.#admitWith(this.#fallback, scopes, body);
    }
  }

  async #admitWith(counters: CounterStore, scopes: LimitScope[], body: Buffer | null): Promise<Admission> {
    const taken: Array<{ key: string; amount: number }> = [];
    const admission: Admission = { tokens: [], slots: [], headers: {}, released: false, counters };
    const requests = new Tightest();
    const tokens = new Tightest();
    let refusal: { reason: 'rpm' | 'tpm' | 'concurrent'; scope: LimitScope; retryAt: number } | undefined;
    try {
      for (const s of scopes) {
        if (s.rpm === undefined) continue;
        const key = `${s.prefix}:rpm`;
        const r = await counters.tryAdd(key, 1, s.rpm, WINDOW_MS);
        requests.note(s.rpm, r.total, r.resetAt);
        if (!r.admitted) {
          refusal = { reason: 'rpm', scope: s, retryAt: r.resetAt };
          break;
        }
        taken.push({ key, amount: 1 });
      }
      let estimate: number | undefined;
      for (const s of refusal ? [] : scopes) {
        if (s.tpm === undefined) continue;
        estimate ??= estimateTokens(body, this.#limits.estimate, this.#caps);
        // While the window is not full a request is admitted, reserving at most what is left
        // (an estimate is an upper bound; the reported usage replaces it at finish). A full
        // window refuses. Reservations never exceed the limit, so concurrent requests cannot
        // overshoot it.
        let amount = Math.min(estimate, s.tpm);
        const key = `${s.prefix}:tpm`;
        let r = await counters.tryAdd(key, amount, s.tpm, WINDOW_MS);
        if (!r.admitted && r.total < s.tpm) {
          amount = s.tpm - r.total;
          r = await counters.tryAdd(key, amount, s.tpm, WINDOW_MS);
        }
        tokens.note(s.tpm, r.total, r.resetAt);
        if (!r.admitted) {
          refusal = { reason: 'tpm', scope: s, retryAt: r.resetAt };
          break;
        }
        taken.push({ key, amount });
        admission.tokens.push({ key, charged: amount });
      }
      for (const s of refusal ? [] : scopes) {
        if (s.concurrent === undefined) continue;
        const key = `${s.prefix}:concurrent`;
        if (!(await counters.acquire(key, s.concurrent, this.#limits.concurrency_ttl))) {
          refusal = { reason: 'concurrent', scope: s, retryAt: this.#now() + 1000 };
          break;
        }
        admission.slots.push(key);
      }
    } catch (err) {
      await this.#undo(counters, taken, admission.slots).catch(() => undefined);
      throw err;
    }
    const now = this.#now();
    requests.write(admission.headers, 'requests', now);
    tokens.write(admission.headers, 'tokens', now);
    if (refusal === undefined) return admission;

    await this.#undo(counters, taken, admission.slots);
    const byInstance = refusal.scope.kind === 'instance';
    this.#metrics.rateLimited.inc({ reason: byInstance ? `instance_${refusal.reason === 'concurrent' ? 'concurrency' : refusal.reason}` : refusal.reason });
    const whose = byInstance ? `instance "${refusal.scope.name}", shared by all its callers` : refusal.scope.kind === 'key' ? 'your key' : 'your user';
    const what =
      refusal.reason === 'rpm'
        ? `requests per minute (limit ${refusal.scope.rpm} for ${whose})`
        : refusal.reason === 'tpm'
          ? `tokens per minute (limit ${refusal.scope.tpm} for ${whose})`
          : `concurrent requests (limit ${refusal.scope.concurrent} for ${whose})`;
    const retryAfter = Math.max(1, Math.ceil((refusal.retryAt - now) / 1000));
    throw new GatewayError('rate_limited', `Rate limit reached for ${what}; retry after ${retryAfter}s.`, { retryAfter, headers: admission.headers });
  }

  /**
   * Ends an admission once: releases its slots and corrects its token charges with `actual`
   * (input + output reported by the provider). Without a report, a failed request gives its
   * estimate back and a successful one keeps it.
   */
  async finish(admission: Admission, actual: number | undefined, succeeded: boolean): Promise<void> {
    if (admission.released) return;
    admission.released = true;
    const counters = admission.counters;
    for (const key of admission.slots) await counters.release(key);
    for (const { key, charged } of admission.tokens) {
      const delta = actual !== undefined ? actual - charged : succeeded ? 0 : -charged;
      if (delta !== 0) await counters.add(key, delta, WINDOW_MS);
    }
  }

  async #undo(counters: CounterStore, taken: Array<{ key: string; amount: number }>, slots: string[]): Promise<void> {
    for (const { key, amount } of taken) await counters.add(key, -amount, WINDOW_MS);
    for (const key of slots) await counters.release(key);
    slots.length = 0;
  }
}
