/** A time-series line chart (uPlot) for usage/series answers. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { UsagePoint, UsageSeries } from './api.js';

export type Metric = 'requests' | 'errors' | 'tokens' | 'cost_usd';

export const METRICS: { value: Metric; label: string }[] = [
  { value: 'requests', label: 'Requests' },
  { value: 'errors', label: 'Errors' },
  { value: 'tokens', label: 'Tokens (in + out)' },
  { value: 'cost_usd', label: 'Cost (USD)' },
];

// distinguishable on white, each with at least 3:1 contrast against it
const COLORS = ['#1d4ed8', '#b45309', '#047857', '#b91c1c', '#6d28d9', '#0e7490', '#a21caf', '#4d7c0f', '#334155', '#c2410c'];
const MAX_SERIES = 10;
const COUNT_STEPS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].map((p) => m * p)).sort((a, b) => a - b);

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function bucketMs(bucket: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(bucket);
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}

function value(p: UsagePoint, metric: Metric): number {
  return metric === 'tokens' ? p.input_tokens + p.output_tokens : p[metric];
}

/**
 * Aligns the groups on one time axis: every bucket from `since` to `until` (the API sends
 * points only for buckets with traffic; an absent bucket is a zero, not a gap). The largest
 * groups are drawn; the rest are summed into "other".
 */
export function toChartData(s: UsageSeries, metric: Metric): { labels: string[]; data: uPlot.AlignedData } {
  const step = bucketMs(s.bucket);
  const since = Date.parse(s.since);
  const until = s.until ? Date.parse(s.until) : Date.now();
  let times: number[];
  if (step && Number.isFinite(since) && (until - since) / step <= 5000) {
    times = [];
    for (let t = Math.floor(since / step) * step; t < until; t += step) times.push(t);
  } else {
    times = [...new Set(s.series.flatMap((g) => g.points.map((p) => Date.parse(p.time))))].sort((a, b) => a - b);
  }
  const index = new Map(times.map((t, i) => [t, i]));
  const ranked = s.series
    .map((g) => ({ label: g.group ?? '(none)', points: g.points, total: g.points.reduce((n, p) => n + value(p, metric), 0) }))
    .sort((a, b) => b.total - a.total);
  const shown = ranked.length > MAX_SERIES ? [...ranked.slice(0, MAX_SERIES - 1), { label: 'other', points: ranked.slice(MAX_SERIES - 1).flatMap((g) => g.points), total: 0 }] : ranked;
  const ys = shown.map((g) => {
    const ys = new Array<number>(times.length).fill(0);
    for (const p of g.points) {
      const i = index.get(Date.parse(p.time));
      if (i !== undefined) ys[i]! += value(p, metric);
    }
    return ys;
  });
  return { labels: shown.map((g) => g.label), data: [times.map((t) => t / 1000), ...ys] };
}

/** The chart, sized to its container; `label` names it for assistive technology. */
export function Chart({ labels, data, label, yLabel, metric }: { labels: string[]; data: uPlot.AlignedData; label: string; yLabel: string; metric: Metric }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 280,
        series: [{}, ...labels.map((l, i) => ({ label: l, stroke: COLORS[i % COLORS.length]!, width: 2, points: { show: false } }))],
        // counts tick at whole numbers (no "0.2 requests"); cost keeps uPlot's default steps
        axes: [{}, { label: yLabel, size: 70, ...(metric === 'cost_usd' ? {} : { incrs: COUNT_STEPS }) }],
        scales: { x: { time: true } },
        cursor: { drag: { x: true, y: false } },
      },
      data,
      el,
    );
    plot.ctx.canvas.setAttribute('role', 'img');
    plot.ctx.canvas.setAttribute('aria-label', label);
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 280 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [labels.join('\u0000'), data, yLabel, label, metric]);
  return (
    <figure class="chart">
      <div ref={box} />
      <figcaption class="visually-hidden">{label}</figcaption>
    </figure>
  );
}
