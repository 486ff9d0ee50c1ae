import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freshDatabase, requireService } from '../../test/helpers/services.js';
import { ConfigError, validate } from '../config/load.js';
import { capturingLogger, manualClock } from '../governance/test-support.js';
import { Metrics } from '../observability/metrics.js';
import type { UsageRow } from '../store/governance-types.js';
import { openPostgresStore } from '../store/postgres/index.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { AuditEvent, Store } from '../store/types.js';
import { AnomalyDetector } from './anomaly.js';
import type { AnomalyConfig } from './config.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 5, 1, 12);

const postgres = await requireService('postgres');
const databases: Array<{ drop(): Promise<void> }> = [];
after(async () => {
  await Promise.all(databases.map((d) => d.drop()));
});

const BACKENDS: Array<{ name: string; skip: string | false; open(): Promise<Store> }> = [
  { name: 'SQLite', skip: false, open: async () => openSqliteStore(':memory:') },
  {
    name: 'PostgreSQL',
    skip: postgres.skip,
    async open() {
      const db = await freshDatabase();
      databases.push(db);
      return openPostgresStore(db.url, { poolSize: 4 });
    },
  },
];

const CONFIG: AnomalyConfig = { enabled: true, interval: 60_000, window: HOUR, baseline: 24 * HOUR, factor: 5, min_requests: 50, min_tokens: 0, min_cost_usd: 0 };

let seq = 0;
/** `n` rows spread over [from, to), each 15 tokens and `costMicros`. */
function rows(who: { keyId: string; user: string | null }, n: number, from: number, to: number, costMicros = 100): UsageRow[] {
  return Array.from({ length: n }, (_, i) => ({
    time: Math.floor(from + ((to - from) * i) / n),
    requestId: `r${++seq}`,
    recordId: `r${seq}`,
    keyId: who.keyId,
    user: who.user,
    principalKind: 'api-key',
    instance: 'oai',
    model: 'gpt-4o',
    inputTokens: 10,
    outputTokens: 5,
    costMicros,
    latencyMs: 3,
    status: 200,
  }));
}

/** A detector (one replica) on `store` with a frozen clock, keeping its audit events and log lines. */
function replica(store: Store, clock: { now: () => number }, config: Partial<AnomalyConfig> = {}) {
  const audit: AuditEvent[] = [];
  const { logger, lines } = capturingLogger();
  const metrics = new Metrics();
  const detector = new AnomalyDetector({ config: { ...CONFIG, ...config }, usage: store.governance.usage, settings: store.governance.settings, audit: (e) => void audit.push(e), logger, metrics, now: clock.now });
  const count = async (scope: string, measure: string) => (await metrics.usageAnomalies.get()).values.find((v) => v.labels.scope === scope && v.labels.measure === measure)?.value ?? 0;
  return { detector, audit, lines, count };
}

for (const backend of BACKENDS) {
  describe(`AnomalyDetector on ${backend.name}`, { skip: backend.skip }, () => {
    test('two replicas checking at once alert each anomalous key and user once; the cooldown holds while the burst stays in the window; a new burst after it alerts again', async () => {
      const store = await backend.open();
      try {
        const clock = manualClock(T0);
        const quiet = { keyId: 'kquiet', user: 'alice' };
        const steady = { keyId: 'ksteady', user: 'bob' };
        await store.governance.usage.append([
          ...rows(quiet, 12, T0 - 24 * HOUR, T0 - HOUR), // ~0.5 an hour
          ...rows(steady, 23 * 60, T0 - 24 * HOUR, T0 - HOUR), // 60 an hour
          ...rows(quiet, 60, T0 - HOUR + 1, T0), // the burst
          ...rows(steady, 70, T0 - HOUR + 1, T0), // as usual
        ]);
        const a = replica(store, clock);
        const b = replica(store, clock);
        const [fromA, fromB] = await Promise.all([a.detector.check(), b.detector.check()]);
        const alerted = [...fromA, ...fromB].map((x) => `${x.scope}:${x.subject}`).sort();
        assert.deepEqual(alerted, ['key:kquiet', 'user:alice'], 'each subject once across both replicas');
        const events = [...a.audit, ...b.audit];
        assert.equal(events.length, 2);
        for (const e of events) {
          assert.equal(e.event, 'anomaly');
          assert.equal(e.severity, 'warning');
          assert.match(e.reason!, /^usage anomaly: requests 120x baseline, tokens 120x baseline, cost 120x baseline$/);
        }
        const keyEvent = events.find((e) => e.keyId === 'kquiet')!;
        assert.equal(keyEvent.user, null);
        assert.deepEqual((keyEvent.detail as { measures: unknown }).measures, {
          requests: { window: 60, baseline_per_window: 0.5, ratio: 120 },
          tokens: { window: 900, baseline_per_window: 7.5, ratio: 120 },
          cost: { window: 0.006, baseline_per_window: 0.00005, ratio: 120 },
        });
        assert.equal(events.find((e) => e.user === 'alice')?.keyId, null);
        assert.equal((await a.count('key', 'requests')) + (await b.count('key', 'requests')), 1);
        assert.equal((await a.count('user', 'cost')) + (await b.count('user', 'cost')), 1);
        const warnings = [...a.lines, ...b.lines].filter((l) => l['alert'] === 'usage_anomaly');
        assert.equal(warnings.length, 2);

        // 30 minutes on, the burst is still in the window: no new alert (cooldown = window).
        clock.advance(30 * 60_000);
        assert.deepEqual(await a.detector.check(), []);
        assert.deepEqual(await b.detector.check(), []);

        // Past the cooldown, a second burst: alerted again, once.
        clock.advance(2 * HOUR);
        await store.governance.usage.append(rows(quiet, 60, clock.now() - 30 * 60_000, clock.now()));
        const again = [...(await a.detector.check()), ...(await b.detector.check())];
        assert.deepEqual(again.map((x) => `${x.scope}:${x.subject}`).sort(), ['key:kquiet', 'user:alice']);
      } finally {
        await store.close();
      }
    });

    test('minimums: too few requests is never an anomaly; min_tokens and min_cost_usd keep their measure out; no history at all is compared with zero', async () => {
      const store = await backend.open();
      try {
        const clock = manualClock(T0);
        await store.governance.usage.append([
          ...rows({ keyId: 'ksmall', user: null }, 49, T0 - HOUR + 1, T0), // below min_requests, no history
          ...rows({ keyId: 'knew', user: null }, 50, T0 - HOUR + 1, T0, 10), // no history; 750 tokens, $0.0005
        ]);
        const r = replica(store, clock, { min_tokens: 1000, min_cost_usd: 0.01 });
        const found = await r.detector.check();
        assert.equal(found.length, 1);
        assert.equal(found[0]!.subject, 'knew');
        assert.deepEqual(found[0]!.measures, [{ measure: 'requests', value: 50, baseline: 0, ratio: null }]);
        assert.equal(r.audit[0]!.reason, 'usage anomaly: requests with no baseline');
        assert.equal(await r.count('key', 'tokens'), 0);
      } finally {
        await store.close();
      }
    });
  });
}

describe('alerts config', () => {
  const base = { instances: { demo: { type: 'demo' } } };
  test('defaults; durations parsed; the baseline must cover the window; the webhook URL must be a secret reference', () => {
    const config = validate({ ...base, alerts: { anomaly: { enabled: true, window: '30m' } } }, 'test');
    assert.deepEqual(config.alerts.anomaly, { enabled: true, interval: 300_000, window: 1_800_000, baseline: 7 * 24 * HOUR, factor: 5, min_requests: 50, min_tokens: 0, min_cost_usd: 0 });
    assert.deepEqual([config.alerts.webhook_timeout, config.alerts.webhook_attempts, config.alerts.webhook_retry_delay], [5000, 4, 1000]);
    const problems = (raw: unknown) => {
      try {
        validate({ ...base, alerts: raw }, 'test');
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    assert.deepEqual(problems({ anomaly: { window: '2h', baseline: '1h' } }), ['alerts.anomaly.baseline: must be at least as long as alerts.anomaly.window']);
    assert.deepEqual(problems({ anomaly: { factor: 1 } }).length, 1);
    assert.match(problems({ webhook_url: 'https://hooks.example.test/T0KEN' })[0]!, /^alerts\.webhook_url: a literal secret is refused/);
    assert.deepEqual(problems({ anomaly: { treshold: 5 } }), ['alerts.anomaly.treshold: unknown field']);
  });
});
