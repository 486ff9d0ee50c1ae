import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Histogram, Summary } from 'prom-client';
import { stringify } from 'yaml';
import { Metrics } from '../../src/observability/metrics.js';

/**
 * What the alert and dashboard tests share: the metric names the gateway really exports (read
 * from the `Metrics` registry the server uses, so a renamed metric breaks these tests), the
 * `llmproxy_*` names a PromQL expression mentions, and a PromQL syntax check through promtool.
 */

// This file runs as dist/test/deploy/metric-names.js: the repo root is three folders up.
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ExportedMetric {
  type: string;
  labelNames: readonly string[];
}

/**
 * Every metric of a fresh `Metrics` object, by name: the registry's (labelled metrics included
 * before their first observation, Node's default process metrics too) plus any metric object
 * the class holds but registers only in some deployments.
 */
export async function exportedMetrics(): Promise<Map<string, ExportedMetric>> {
  const metrics = new Metrics();
  const out = new Map<string, ExportedMetric>();
  for (const m of await metrics.registry.getMetricsAsJSON()) out.set(m.name, { type: String(m.type), labelNames: [] });
  for (const value of Object.values(metrics)) {
    if (value instanceof Counter || value instanceof Gauge || value instanceof Histogram || value instanceof Summary) {
      const m = value as unknown as { name: string; type: string; labelNames?: readonly string[] };
      out.set(m.name, { type: m.type, labelNames: m.labelNames ?? [] });
    }
  }
  return out;
}

/** The series suffixes a histogram or summary is exposed with. */
const SUFFIXES: Record<string, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

/** The `llmproxy_*` metric names an expression mentions (recording-rule names with a colon are not metrics). */
export function metricNamesIn(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/(?<![A-Za-z0-9_:])llmproxy_[A-Za-z0-9_]+(?![A-Za-z0-9_:])/g)) names.add(m[0]);
  return [...names].sort();
}

/** The names among `names` that are not series the gateway exports (histogram and summary suffixes allowed). */
export function unknownMetrics(names: Iterable<string>, exported: ReadonlyMap<string, ExportedMetric>): string[] {
  const unknown: string[] = [];
  for (const name of names) {
    if (exported.has(name)) {
      // A histogram's bare name is not a series: only its _bucket/_sum/_count are.
      if (SUFFIXES[exported.get(name)!.type] === undefined) continue;
      unknown.push(name);
      continue;
    }
    const known = Object.entries(SUFFIXES).some(([type, suffixes]) =>
      suffixes.some((s) => name.endsWith(s) && exported.get(name.slice(0, -s.length))?.type === type),
    );
    if (!known) unknown.push(name);
  }
  return unknown;
}

/**
 * A Grafana query as plain PromQL: interval macros become `5m`, any other variable (`$job`,
 * `${instance}`, `[[x]]`) the regex `.*` (variables are only used inside `=~"..."` matchers).
 */
export function grafanaToPromql(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{[A-Za-z0-9_]+(?::[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_]+\]\]/g, '.*');
}

/**
 * Runs `promtool check rules` over `exprs` wrapped as recording rules; exit status 0 means
 * every expression parses. The output names the failing rule (`expr_<n>`).
 */
export function checkPromql(promtool: string, exprs: readonly string[]): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-promql-'));
  try {
    const file = join(dir, 'exprs.yaml');
    const rules = exprs.map((expr, i) => ({ record: `expr_${i}`, expr }));
    writeFileSync(file, stringify({ groups: [{ name: 'expressions', rules }] }));
    const r = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** promtool from PATH or Debian's `prometheus` package (see test/helpers/tools.ts). */
export const PROMTOOL = { bin: 'promtool', deb: { package: 'prometheus', path: 'usr/bin/promtool' } } as const;
