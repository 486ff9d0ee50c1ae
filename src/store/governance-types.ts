/**
 * Stores for governance: one usage row per finished inference request, and a few gateway-wide
 * settings (lockdown) every process polls. SQLite implements them in store/sqlite/governance.ts;
 * a PostgreSQL implementation must keep the same semantics. Methods are async so a networked
 * store fits the same shape.
 *
 * @example
 * await store.governance.usage.append([row]);
 * const byModel = await store.governance.usage.summary({ by: 'model', since: Date.now() - 30 * 86_400_000 });
 * const hourly = await store.governance.usage.series({ by: 'none', since: dayStart, until: dayStart + 86_400_000, bucketMs: 3_600_000 });
 * await store.governance.settings.set('lockdown', JSON.stringify({ on: true }));
 */

/** One finished inference request. Never holds a secret (no credential, no query string). */
export interface UsageRow {
  /** When the request started (epoch ms). */
  time: number;
  requestId: string;
  /**
   * Unique per row, given by the recorder (the request id is not: a client may send its own).
   * The store writes a row with a given `recordId` once, so a journal replay or a retried batch
   * never doubles it. Absent on rows written before it existed.
   */
  recordId?: string;
  keyId: string | null;
  user: string | null;
  /** `api-key`, `basic`, `oidc`, `kubernetes`. */
  principalKind: string | null;
  instance: string | null;
  /** The model the provider reported (else the one the request named), or null. */
  model: string | null;
  inputTokens: number;
  outputTokens: number;
  /** Whole micro-dollars (1 USD = 1,000,000), so sums are exact. */
  costMicros: number;
  latencyMs: number;
  /** HTTP status sent; 499 when the response did not complete (client left, emergency stop). */
  status: number;
}

export type UsageGroupBy = 'key' | 'user' | 'instance' | 'model';

/** Only rows with these attributes (each an exact match; absent: any). */
export interface UsageFilter {
  keyId?: string;
  user?: string;
  instance?: string;
  model?: string;
}

export interface UsageQuery {
  by: UsageGroupBy;
  /** Inclusive, epoch ms. */
  since: number;
  /** Exclusive, epoch ms; default: now and later. */
  until?: number;
  filter?: UsageFilter;
}

/**
 * Usage over time: rows in `[since, until)` counted per bucket of `bucketMs` starting at `since`
 * (a caller wanting buckets on UTC boundaries passes a `since` that is a multiple of `bucketMs`).
 * `by: 'none'` is one series, group `'all'`.
 */
export interface UsageSeriesQuery {
  by: UsageGroupBy | 'none';
  since: number;
  until: number;
  bucketMs: number;
  filter?: UsageFilter;
  /** Only the groups with the largest cost (then most requests, then name); default: every group. */
  maxGroups?: number;
}

/** One bucket of a usage series: `time` is the bucket's start (epoch ms); `errors` counts rows with status >= 400. */
export interface UsagePoint {
  time: number;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** One group's buckets, oldest first; only buckets that have rows. */
export interface UsageSeries {
  group: string | null;
  points: UsagePoint[];
}

/** One group of a usage summary; `group` is null for rows without that attribute (e.g. no user). */
export interface UsageSummaryRow {
  group: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** Spend since a point in time, in micro-dollars, by scope (the budget ledger is seeded from it). */
export interface SpendTotals {
  global: number;
  keys: Record<string, number>;
  users: Record<string, number>;
  /** Per instance name (`instances.X.limits.budget_usd`). */
  instances: Record<string, number>;
}

export interface UsageStore {
  /** Appends rows in one transaction (the gateway batches them); a row whose `recordId` is already stored is skipped. */
  append(rows: readonly UsageRow[]): Promise<void>;
  /** Totals grouped by `q.by`, largest cost first. */
  summary(q: UsageQuery): Promise<UsageSummaryRow[]>;
  /** Totals per group and time bucket, summed by the database; groups largest cost first. */
  series(q: UsageSeriesQuery): Promise<UsageSeries[]>;
  /** Cost of rows with `time >= since`: overall, per key id, per user and per instance. */
  spendSince(since: number): Promise<SpendTotals>;
  /** Deletes rows older than `before`, at most `limit` of them (oldest first) when given; returns how many. */
  prune(before: number, limit?: number): Promise<number>;
  /**
   * Erases a user from these rows: with `replacement` null deletes the rows naming `user`; otherwise
   * writes `replacement` (a pseudonym) in their place, keeping the aggregates. Returns how many rows.
   */
  eraseUser(user: string, replacement: string | null): Promise<number>;
}

/** A named setting: its JSON text and when it was last written (epoch ms). */
export interface Setting {
  value: string;
  updatedAt: number;
}

/** Gateway-wide settings (`lockdown`, `disabled_instances`): small JSON values, last write wins. */
export interface SettingsStore {
  get(name: string): Promise<Setting | undefined>;
  /** Writes `value`; null deletes the setting. */
  set(name: string, value: string | null): Promise<void>;
  /**
   * Writes `value` as of `at` unless the setting exists and was written at or after
   * `staleBefore`; returns whether it wrote. Atomic: of processes (replicas) racing to claim the
   * same name, exactly one wins until the claim goes stale. Used to send an alert once per fleet.
   *
   * @example
   * if (await settings.claim('anomaly:key:k1', '{}', now, now - cooldownMs)) notify();
   */
  claim(name: string, value: string, at: number, staleBefore: number): Promise<boolean>;
}

export interface GovernanceStores {
  readonly usage: UsageStore;
  readonly settings: SettingsStore;
}
