import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric the gateway exports, in one place (names are a public contract, DESIGN.md §2).
 * Labels never carry a user, a key or a secret; `model` comes from the provider's response,
 * never from the client, so a client cannot inflate label cardinality.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'llmproxy_requests_total',
    help: 'Requests answered, by instance, provider, region, mode and HTTP status.',
    labelNames: ['instance', 'provider', 'region', 'mode', 'status'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'llmproxy_request_duration_seconds',
    help: 'Time from request received to response finished (streams included).',
    labelNames: ['instance', 'provider', 'mode'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'llmproxy_upstream_duration_seconds',
    help: 'Time from upstream request sent to upstream response headers received.',
    labelNames: ['instance', 'provider'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });

  readonly authAttempts = new Counter({
    name: 'llmproxy_auth_attempts_total',
    help: 'Client authentication attempts by method and result (success, failure, throttled).',
    labelNames: ['method', 'result'] as const,
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'llmproxy_tokens_total',
    help: 'Tokens reported by providers, by instance, model and direction (input, output).',
    labelNames: ['instance', 'model', 'direction'] as const,
    registers: [this.registry],
  });

  readonly credentialRefresh = new Counter({
    name: 'llmproxy_credential_refresh_total',
    help: 'Provider credential fetches and refreshes, by provider, method and status.',
    labelNames: ['provider', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly upstreamCredentialRejections = new Counter({
    name: 'llmproxy_upstream_credential_rejections_total',
    help: "Requests failed because the provider refused the gateway's credential (502 upstream_credential_rejected), by instance and provider.",
    labelNames: ['instance', 'provider'] as const,
    registers: [this.registry],
  });

  #credentialSource: () => Array<{ instance: string; lastRefreshAt: number | undefined; expiresAt: number | undefined }> = () => [];

  readonly credentialAge = (() => {
    const source = () => this.#credentialSource();
    return new Gauge({
      name: 'llmproxy_credential_age_seconds',
      help: 'Seconds since the instance credential was last obtained.',
      labelNames: ['instance'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of source()) if (c.lastRefreshAt !== undefined) this.set({ instance: c.instance }, (now - c.lastRefreshAt) / 1000);
      },
    });
  })();

  readonly credentialExpiry = (() => {
    const source = () => this.#credentialSource();
    return new Gauge({
      name: 'llmproxy_credential_expiry_seconds',
      help: 'Seconds until the instance credential expires (absent for credentials without expiry).',
      labelNames: ['instance'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of source()) if (c.expiresAt !== undefined) this.set({ instance: c.instance }, (c.expiresAt - now) / 1000);
      },
    });
  })();

  #keyAgeSource: (() => Promise<ReadonlyArray<{ age: string; count: number }>>) | undefined;

  readonly apiKeysByAge = (() => {
    const source = () => this.#keyAgeSource?.();
    return new Gauge({
      name: 'llmproxy_api_keys',
      help: 'Active API keys by age since creation (age: <30d, 30-60d, 60-90d, >90d), counted in the store at scrape time; the keys a rotation policy (auth.api_keys.max_age) is about.',
      labelNames: ['age'] as const,
      registers: [this.registry],
      async collect() {
        // A store that cannot answer leaves the last counts (llmproxy_store_up says why).
        const counts = await source()?.catch(() => undefined);
        if (counts === undefined) return;
        for (const c of counts) this.set({ age: c.age }, c.count);
      },
    });
  })();

  /** Active keys by age bucket, counted by `source` at scrape time (a few indexed counts, not a walk over every key). */
  trackKeyAges(source: () => Promise<ReadonlyArray<{ age: string; count: number }>>): void {
    this.#keyAgeSource = source;
  }

  /** Credential age and expiry are computed at scrape time from the instances' states. */
  trackCredentials(source: () => Array<{ instance: string; lastRefreshAt: number | undefined; expiresAt: number | undefined }>): void {
    this.#credentialSource = source;
  }

  readonly secretRefresh = new Counter({
    name: 'llmproxy_secret_refresh_total',
    help: 'Secret reference reads by store and status (ok, changed, error).',
    labelNames: ['store', 'status'] as const,
    registers: [this.registry],
  });

  #leaseSource: () => Array<{ reference: string; expiresAt: number | undefined }> = () => [];

  readonly secretLeaseExpiry = (() => {
    const source = () => this.#leaseSource();
    return new Gauge({
      name: 'llmproxy_secret_lease_expiry_seconds',
      help: 'Seconds until the lease of a dynamic secret (${vault-dynamic:...}) expires, by reference (store and path, no field, no value).',
      labelNames: ['reference'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const l of source()) if (l.expiresAt !== undefined) this.set({ reference: l.reference }, (l.expiresAt - now) / 1000);
      },
    });
  })();

  /** Lease expiries are read at scrape time from the running resolver's leases. */
  trackSecretLeases(source: () => Array<{ reference: string; expiresAt: number | undefined }>): void {
    this.#leaseSource = source;
  }

  readonly secretLeaseReads = new Counter({
    name: 'llmproxy_secret_lease_reads_total',
    help: 'New leases read for dynamic secrets (the first, and each one replacing a lease that could not be renewed), by reference and result (ok, error).',
    labelNames: ['reference', 'result'] as const,
    registers: [this.registry],
  });

  readonly secretLeaseRenewals = new Counter({
    name: 'llmproxy_secret_lease_renewals_total',
    help: 'Lease renewals of dynamic secrets, by reference and result (renewed; max_ttl: renewed for less than asked, a new read follows; refused: a new read follows; error: Vault unreachable, retried).',
    labelNames: ['reference', 'result'] as const,
    registers: [this.registry],
  });

  readonly secretLeaseRevocations = new Counter({
    name: 'llmproxy_secret_lease_revocations_total',
    help: 'Leases of dynamic secrets revoked (a replaced lease, and every lease at shutdown), by reference and result (ok, error).',
    labelNames: ['reference', 'result'] as const,
    registers: [this.registry],
  });

  readonly configReloads = new Counter({
    name: 'llmproxy_config_reloads_total',
    help: 'Configuration reloads (SIGHUP), by result (success, failure: the running configuration stayed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'llmproxy_rate_limited_total',
    help: 'Requests refused with 429, by reason: rpm, tpm, concurrent, budget (a caller\'s own limits); instance_rpm, instance_tpm, instance_concurrency, instance_budget (an instance\'s shared limits).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly connectionsRefused = new Counter({
    name: 'llmproxy_connections_refused_total',
    help: 'Client connections refused at server.max_connections or max_connections_per_client, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly budgetWarnings = new Counter({
    name: 'llmproxy_budget_warnings_total',
    help: 'Monthly budgets that reached their warning share (budgets.warn_ratio), once per budget and month, by scope (key, user, instance, global).',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  readonly usageAnomalies = new Counter({
    name: 'llmproxy_usage_anomalies_total',
    help: 'Usage anomalies alerted (alerts.anomaly): a key or user whose last window exceeded its baseline, by scope (key, user) and measure (requests, tokens, cost); one alert counts once per measure it exceeded.',
    labelNames: ['scope', 'measure'] as const,
    registers: [this.registry],
  });

  readonly alertDeliveries = new Counter({
    name: 'llmproxy_alert_webhook_deliveries_total',
    help: 'Alerts POSTed to alerts.webhook_url, by result (delivered, failed: every attempt failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly unpricedRequests = new Counter({
    name: 'llmproxy_unpriced_requests_total',
    help: 'Requests with reported usage whose model has no price (charged pricing.unpriced), by instance and the model the provider reported ("unknown" when it named none).',
    labelNames: ['instance', 'model'] as const,
    registers: [this.registry],
  });

  #lockdownSource: () => number = () => 0;

  readonly lockdownActive = (() => {
    const source = () => this.#lockdownSource();
    return new Gauge({
      name: 'llmproxy_lockdown_active',
      help: '1 while the emergency lockdown refuses every inference request, else 0.',
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
  })();

  /** The lockdown state is read at scrape time. */
  trackLockdown(source: () => boolean): void {
    this.#lockdownSource = () => (source() ? 1 : 0);
  }

  readonly usageRowsDropped = new Counter({
    name: 'llmproxy_usage_rows_dropped_total',
    help: 'Usage rows dropped because the store refused writes for longer than the buffer holds.',
    registers: [this.registry],
  });

  /** Registered on first use, so a gateway without Redis exports no series an alert could read as "down". */
  readonly counterStoreUp = new Gauge({
    name: 'llmproxy_counter_store_up',
    help: '1 while the shared Redis counters (rate limits, budgets) answer, else 0; absent without storage.redis.',
    registers: [],
  });

  /** The shared counters' health (storage.redis only). */
  counterStoreHealth(up: boolean): void {
    if (this.registry.getSingleMetric('llmproxy_counter_store_up') === undefined) this.registry.registerMetric(this.counterStoreUp);
    this.counterStoreUp.set(up ? 1 : 0);
  }

  readonly counterStoreFailures = new Counter({
    name: 'llmproxy_counter_store_failures_total',
    help: 'Requests decided by governance.on_counter_failure because the shared counters were unreachable, by policy (open: admitted uncounted, closed: refused).',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  #storeUpSource: (() => number) | undefined;

  readonly storeUp = (() => {
    const source = () => this.#storeUpSource?.();
    return new Gauge({
      name: 'llmproxy_store_up',
      help: '1 while the primary store (PostgreSQL or SQLite) answered its last use, else 0.',
      registers: [this.registry],
      collect() {
        const v = source();
        if (v !== undefined) this.set(v);
      },
    });
  })();

  /** Whether the store answered its last use is read at scrape time. */
  trackStore(source: () => boolean): void {
    this.#storeUpSource = () => (source() ? 1 : 0);
  }

  #inflightSource: () => number = () => 0;

  readonly inflight = (() => {
    const source = () => this.#inflightSource();
    return new Gauge({
      name: 'llmproxy_inflight_requests',
      help: 'Requests currently being served (streams included).',
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
  })();

  /** The in-flight count is read at scrape time, so the request path pays nothing for it. */
  trackInflight(source: () => number): void {
    this.#inflightSource = source;
  }

  #auditBufferedSource: () => number = () => 0;

  readonly auditBuffered = (() => {
    const source = () => this.#auditBufferedSource();
    return new Gauge({
      name: 'llmproxy_audit_buffered_events',
      help: 'Audit events waiting to be written to the store (buffered, or in a write under way).',
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
  })();

  /** The audit trail's backlog is read at scrape time. */
  trackAuditBuffered(source: () => number): void {
    this.#auditBufferedSource = source;
  }

  readonly retentionPurged = new Counter({
    name: 'llmproxy_retention_purged_rows_total',
    help: 'Rows deleted because they passed their retention (audit.retention, usage.retention), by table (audit, usage).',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly auditEventsDropped = new Counter({
    name: 'llmproxy_audit_events_dropped_total',
    help: 'Audit events dropped because the store refused writes for longer than the buffer holds.',
    registers: [this.registry],
  });

  readonly journalReplayed = new Counter({
    name: 'llmproxy_journal_replayed_total',
    help: 'Records (usage rows, audit events) a process that died left in the journal and this one wrote to the store, by kind (records the store already held are counted too, and skipped by it).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly journalSkippedLines = new Counter({
    name: 'llmproxy_journal_skipped_lines_total',
    help: 'Journal lines a replay could not use, by kind and reason (torn: cut short by the death of its writer; malformed; oversized).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly journalWriteErrors = new Counter({
    name: 'llmproxy_journal_write_errors_total',
    help: 'Records that could not be appended to the journal (disk full, oversized), by kind: they wait for the store in memory only.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'llmproxy_' });
  }
}
