import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { requireTool } from '../helpers/tools.js';
import { checkPromql, exportedMetrics, grafanaToPromql, metricNamesIn, PROMTOOL, REPO_ROOT, unknownMetrics, type ExportedMetric } from './metric-names.js';

/**
 * deploy/grafana/llmproxy-dashboard.json: an importable Grafana dashboard whose every panel
 * queries the `DS_PROMETHEUS` input, names only metrics the gateway exports, and whose PromQL
 * parses (promtool, with Grafana's variables substituted).
 */

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  gridPos?: { x: number; y: number; w: number; h: number };
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const FILE = join(REPO_ROOT, 'deploy', 'grafana', 'llmproxy-dashboard.json');
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const promtool = await requireTool(PROMTOOL);
const dashboard = JSON.parse(readFileSync(FILE, 'utf8')) as Dashboard;

/** Every panel, those inside rows (collapsed rows hold theirs) included. */
const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');
const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? String(p.id), expr: t.expr ?? '' })));
/** `label_values(<selector>, label)` variable queries: their selector is PromQL too. */
const variableSelectors = dashboard.templating.list.flatMap((v) => {
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  const m = v.type === 'query' && q !== undefined ? /^label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(q) : null;
  return m ? [{ panel: `variable ${v.name}`, expr: m[1]! }] : [];
});

/** What item 4 of issue 12 asks panels for, as the series each must read. */
const REQUIRED_METRICS = [
  'llmproxy_requests_total',
  'llmproxy_request_duration_seconds_bucket',
  'llmproxy_upstream_duration_seconds_bucket',
  'llmproxy_tokens_total',
  'llmproxy_auth_attempts_total',
  'llmproxy_rate_limited_total',
  'llmproxy_credential_expiry_seconds',
  'llmproxy_credential_refresh_total',
  'llmproxy_secret_refresh_total',
  'llmproxy_inflight_requests',
  'llmproxy_lockdown_active',
  'llmproxy_counter_store_up',
  'llmproxy_store_up',
  'llmproxy_audit_buffered_events',
  'llmproxy_audit_events_dropped_total',
];

describe('Grafana dashboard (deploy/grafana/llmproxy-dashboard.json)', () => {
  let exported: Map<string, ExportedMetric>;
  before(async () => {
    exported = await exportedMetrics();
  });

  test('is an importable dashboard: schema version, uid, the DS_PROMETHEUS input', () => {
    assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
    assert.match(dashboard.uid, /^[a-z0-9-]{1,40}$/);
    assert.ok(dashboard.title.length > 0);
    assert.deepEqual(
      dashboard.__inputs.map((i) => [i.name, i.type, i.pluginId]),
      [['DS_PROMETHEUS', 'datasource', 'prometheus']],
    );
  });

  test('has job and instance variables (and the gateway instance), all from the DS_PROMETHEUS data source', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    for (const name of ['job', 'instance', 'gateway_instance']) {
      assert.equal(vars.get(name)?.type, 'query', name);
      assert.deepEqual(vars.get(name)?.datasource, DATASOURCE, name);
    }
    // A file-provisioned dashboard has no import step: the variable resolves ${DS_PROMETHEUS} then.
    assert.equal(vars.get('DS_PROMETHEUS')?.type, 'datasource');
    assert.equal(variableSelectors.length, 3);
  });

  test('panel ids are unique and panels fit the 24-column grid', () => {
    const ids = panels.map((p) => p.id);
    assert.ok(ids.every((id) => Number.isInteger(id)), 'a panel without an id');
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), []);
    for (const p of panels) {
      assert.ok(p.gridPos !== undefined, `${p.title}: gridPos`);
      assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`);
    }
  });

  test('every panel has the data source and at least one target with a query and a unique refId', () => {
    assert.ok(queryPanels.length >= 15, `${queryPanels.length} panels`);
    for (const p of queryPanels) {
      assert.deepEqual(p.datasource, DATASOURCE, `${p.title}: datasource`);
      const ts = p.targets ?? [];
      assert.ok(ts.length > 0, `${p.title}: no targets`);
      for (const t of ts) {
        assert.ok((t.expr ?? '').trim().length > 0, `${p.title}: empty expr`);
        assert.deepEqual(t.datasource, DATASOURCE, `${p.title} ${t.refId}: datasource`);
      }
      const refIds = ts.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title}: refIds ${refIds.join(',')}`);
    }
  });

  test('every metric a panel or variable names is one the gateway exports', () => {
    const named = new Set([...targets, ...variableSelectors].flatMap((t) => metricNamesIn(t.expr)));
    assert.deepEqual(unknownMetrics(named, exported), []);
  });

  test('has the panels the issue asks for (each required series is queried)', () => {
    const named = new Set(targets.flatMap((t) => metricNamesIn(t.expr)));
    assert.deepEqual(REQUIRED_METRICS.filter((m) => !named.has(m)), []);
    for (const q of ['0.5', '0.95', '0.99']) {
      for (const h of ['llmproxy_request_duration_seconds_bucket', 'llmproxy_upstream_duration_seconds_bucket']) {
        assert.ok(
          targets.some((t) => t.expr.includes(`histogram_quantile(${q},`) && t.expr.includes(h)),
          `no p${Number(q) * 100} of ${h}`,
        );
      }
    }
  });

  test('Grafana variables become plain PromQL for the syntax check', () => {
    assert.equal(
      grafanaToPromql('sum by (le) (rate(x_bucket{job=~"$job", instance=~"${instance}", i=~"[[gw]]"}[$__rate_interval])) / $__range'),
      'sum by (le) (rate(x_bucket{job=~".*", instance=~".*", i=~".*"}[5m])) / 5m',
    );
  });

  test('every PromQL expression parses (promtool check rules over them as recording rules)', { skip: promtool.skip }, () => {
    const exprs = [...targets, ...variableSelectors].map((t) => grafanaToPromql(t.expr));
    const r = checkPromql(promtool.path, exprs);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${exprs.length} rules found`));
  });

  test('the syntax check rejects a broken expression', { skip: promtool.skip }, () => {
    const r = checkPromql(promtool.path, ['sum(rate(llmproxy_requests_total[5m])', 'llmproxy_requests_total']);
    assert.notEqual(r.status, 0, r.output);
    assert.match(r.output, /expr_0|parse error|unclosed/i);
  });
});
