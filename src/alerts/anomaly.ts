import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SettingsStore, UsageStore, UsageSummaryRow } from '../store/governance-types.js';
import type { AuditEvent } from '../store/types.js';
import type { AnomalyConfig } from './config.js';
import type { AlertWebhook } from './webhook.js';

export type AnomalyScope = 'key' | 'user';
export type AnomalyMeasure = 'requests' | 'tokens' | 'cost';

/** One measure that exceeded its baseline: the window's value and the baseline's average per window. */
export interface ExceededMeasure {
  measure: AnomalyMeasure;
  value: number;
  baseline: number;
  /** value / baseline; null when the baseline is 0 (no history). */
  ratio: number | null;
}

/** A key or user whose last window exceeded its baseline. Names a key by id, never by its secret. */
export interface UsageAnomaly {
  scope: AnomalyScope;
  /** The key id or the user name. */
  subject: string;
  measures: ExceededMeasure[];
  windowStart: number;
  windowEnd: number;
}

export interface AnomalyDetectorOptions {
  config: AnomalyConfig;
  usage: UsageStore;
  /** Where an alert is claimed, so one replica of a fleet sends it (SettingsStore.claim). */
  settings: SettingsStore;
  audit: (event: AuditEvent) => void;
  logger: Logger;
  metrics: Metrics;
  webhook?: AlertWebhook | undefined;
  now?: () => number;
}

/** The baseline moves slowly (days); reading it at most this often keeps a large usage table off the event loop. */
const BASELINE_REFRESH_MS = 3_600_000;

const SCOPES: readonly AnomalyScope[] = ['key', 'user'];

/** One group's totals as the three measures. */
function measures(row: UsageSummaryRow | undefined): Record<AnomalyMeasure, number> {
  return { requests: row?.requests ?? 0, tokens: (row?.input_tokens ?? 0) + (row?.output_tokens ?? 0), cost: row?.cost_usd ?? 0 };
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

/**
 * Usage anomaly alerts (`alerts.anomaly`). Every `interval`, in the background, reads from the
 * usage store each key's and each user's requests, tokens and cost over the last `window` and
 * compares them with their average per window over the `baseline` before it. A measure is
 * exceeded when the window's value is at least `factor` times that average (any value, when
 * there is no history) and at least its minimum (`min_tokens`, `min_cost_usd`); a key or user is
 * considered only with `min_requests` requests in the window. Each anomaly is claimed in the
 * store first (`alert:anomaly:<scope>:<subject>`, held for `cooldown`), so a fleet of replicas
 * alerts once and the same key is not reported again while its burst stays in the window. An
 * alert is an audit event (`anomaly`, severity warning), a count in
 * `llmproxy_usage_anomalies_total{scope,measure}`, a warning log line and, with
 * `alerts.webhook_url`, a POST.
 *
 * @example
 * const detector = new AnomalyDetector({ config: config.alerts.anomaly, usage, settings, audit, logger, metrics });
 * detector.start();
 */
export class AnomalyDetector {
  readonly #o: AnomalyDetectorOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<UsageAnomaly[]> | undefined;
  #baseline: { readAt: number; groups: Record<AnomalyScope, Map<string | null, UsageSummaryRow>> } | undefined;
  readonly #deliveries = new Set<Promise<unknown>>();
  readonly #stopped = new AbortController();

  constructor(options: AnomalyDetectorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#timer = setInterval(() => void this.check(), this.#o.config.interval);
    this.#timer.unref();
    void this.check();
  }

  /** Stops the timer, waits for a check under way and cuts webhook deliveries still retrying. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    this.#stopped.abort();
    await Promise.all(this.#deliveries);
  }

  /** One comparison now (a check already running is joined); resolves to the anomalies this process alerted. */
  check(): Promise<UsageAnomaly[]> {
    this.#running ??= this.#check()
      .catch((err: unknown) => {
        this.#o.logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'usage anomaly check failed; retrying at the next interval');
        return [];
      })
      .finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<UsageAnomaly[]> {
    const { config, usage } = this.#o;
    const now = this.#now();
    const windowStart = now - config.window;
    if (this.#baseline === undefined || now - this.#baseline.readAt >= BASELINE_REFRESH_MS) {
      const since = windowStart - config.baseline;
      const [key, user] = await Promise.all(SCOPES.map((by) => usage.summary({ by, since, until: windowStart })));
      this.#baseline = { readAt: now, groups: { key: new Map(key!.map((r) => [r.group, r])), user: new Map(user!.map((r) => [r.group, r])) } };
    }
    const baseline = this.#baseline.groups;
    const perWindow = config.window / config.baseline;
    const alerted: UsageAnomaly[] = [];
    for (const scope of SCOPES) {
      for (const row of await usage.summary({ by: scope, since: windowStart, until: now })) {
        if (row.group === null || row.requests < config.min_requests) continue;
        const current = measures(row);
        const before = measures(baseline[scope].get(row.group));
        const exceeded: ExceededMeasure[] = [];
        for (const measure of ['requests', 'tokens', 'cost'] as const) {
          const value = current[measure];
          const average = before[measure] * perWindow;
          const minimum = measure === 'tokens' ? config.min_tokens : measure === 'cost' ? config.min_cost_usd : 0;
          if (value > 0 && value >= minimum && value >= config.factor * average) {
            exceeded.push({ measure, value: round(value), baseline: round(average), ratio: average > 0 ? Math.round((value / average) * 10) / 10 : null });
          }
        }
        if (exceeded.length === 0) continue;
        const anomaly: UsageAnomaly = { scope, subject: row.group, measures: exceeded, windowStart, windowEnd: now };
        const cooldown = config.cooldown ?? config.window;
        const claimed = await this.#o.settings.claim(`alert:anomaly:${scope}:${row.group}`, JSON.stringify({ at: now, measures: exceeded.map((m) => m.measure) }), now, now - cooldown);
        if (!claimed) continue; // alerted already, by this replica or another, within the cooldown
        this.#alert(anomaly);
        alerted.push(anomaly);
      }
    }
    return alerted;
  }

  #alert(a: UsageAnomaly): void {
    const { config, logger, metrics } = this.#o;
    for (const m of a.measures) metrics.usageAnomalies.inc({ scope: a.scope, measure: m.measure });
    const who = a.scope === 'key' ? { key_id: a.subject } : { user: a.subject };
    const summary = a.measures.map((m) => `${m.measure} ${m.ratio === null ? 'with no baseline' : `${m.ratio}x baseline`}`).join(', ');
    const measures = Object.fromEntries(a.measures.map((m) => [m.measure, { window: m.value, baseline_per_window: m.baseline, ratio: m.ratio }]));
    const detail = { scope: a.scope, ...who, window_start: new Date(a.windowStart).toISOString(), window_end: new Date(a.windowEnd).toISOString(), factor: config.factor, measures };
    logger.warn({ alert: 'usage_anomaly', ...detail }, `usage anomaly: ${a.scope} ${a.subject}: ${summary}`);
    this.#o.audit({
      time: a.windowEnd,
      requestId: '',
      event: 'anomaly',
      severity: 'warning',
      result: 'success',
      reason: `usage anomaly: ${summary}`,
      method: 'detector',
      keyId: a.scope === 'key' ? a.subject : null,
      user: a.scope === 'user' ? a.subject : null,
      clientAddress: 'local',
      httpMethod: 'INTERNAL',
      path: 'alerts/anomaly',
      instance: null,
      detail,
    });
    const webhook = this.#o.webhook;
    if (webhook) {
      const delivery = webhook.deliver({ alert: 'usage_anomaly', severity: 'warning', ...detail }, this.#stopped.signal).finally(() => this.#deliveries.delete(delivery));
      this.#deliveries.add(delivery);
    }
  }
}
