import type { TestGateway } from './gateway.js';

/** Resolves once `predicate` holds, polling every 10 ms; throws naming `what` after `timeoutMs`. */
export async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The value of the series of `name` with exactly `labels` on the gateway's /metrics; 0 when absent. */
export async function metricValue(gw: TestGateway, name: string, labels: Record<string, string>): Promise<number> {
  return (await metricSample(gw.url, name, labels)) ?? 0;
}

/** The value of the series of `name` with exactly `labels` (none: the unlabelled series) at `${baseUrl}/metrics`; undefined when absent. */
export async function metricSample(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    let parts: string[];
    if (line.startsWith(`${name}{`)) parts = line.slice(name.length + 1, line.lastIndexOf('}')).split(',');
    else if (line.startsWith(`${name} `)) parts = [];
    else continue;
    if (want.length === parts.length && want.every((w) => parts.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
