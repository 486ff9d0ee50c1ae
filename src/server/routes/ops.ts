import type { Middleware, RouteSpec } from '../../request/types.js';
import type { Metrics } from '../../observability/metrics.js';
import type { InstanceDirectory } from '../../providers/directory.js';
import type { ProviderProbes } from '../../providers/probe.js';
import type { CounterStore, Store } from '../../store/types.js';

function sendJson(res: { writeHead(s: number, h: Record<string, string | number>): unknown; end(b: string): unknown }, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** `GET /health`: the process is alive and serving. */
export function healthRoute(): RouteSpec {
  return {
    name: 'health',
    path: '/health',
    methods: ['GET', 'HEAD'],
    mode: 'ops',
    quiet: true,
    middleware: [async (ctx) => sendJson(ctx.res, 200, { status: 'ok' })],
  };
}

export interface ReadinessDeps {
  store: Store;
  /** Shared rate-limit counters (Redis), when configured. */
  counters?: CounterStore | undefined;
  instances: InstanceDirectory;
  isDraining: () => boolean;
  /** `readiness.probe_providers`: the background probes' last results. */
  probes?: ProviderProbes | undefined;
}

/**
 * `GET /ready`: config loaded, store reachable, every instance credential usable, not draining.
 * With provider probes, `probe:{instance}` per instance: failing while it is `pending` (not
 * probed yet) or `credential rejected`; a provider that could not be reached or answered
 * otherwise is shown (`unreachable`, `error 500`) without failing readiness, as an outage of
 * the provider is not this replica's fault.
 */
export function readyRoute(deps: ReadinessDeps): RouteSpec {
  return {
    name: 'ready',
    path: '/ready',
    methods: ['GET', 'HEAD'],
    mode: 'ops',
    quiet: true,
    middleware: [
      async (ctx) => {
        const checks: Record<string, string> = { config: 'ok' };
        // A store cut off by the network would hold the probe for its connect timeout: answer within 2 s.
        const within = (ping: Promise<void>) =>
          Promise.race([ping, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]).then(
            () => 'ok',
            () => 'unreachable',
          );
        checks['store'] = await within(deps.store.ping());
        if (deps.counters?.ping) checks['counters'] = await within(deps.counters.ping());
        for (const i of deps.instances.all) {
          const s = i.credential.state;
          const expired = s.expiresAt !== undefined && s.expiresAt <= Date.now();
          checks[`instance:${i.name}`] = s.status === 'ok' && !expired ? 'ok' : expired ? 'credential expired' : `credential ${s.status}`;
        }
        const informational = new Set<string>();
        if (deps.probes) {
          for (const i of deps.instances.all) {
            const r = deps.probes.result(i);
            const name = `probe:${i.name}`;
            if (r === undefined) checks[name] = 'pending';
            else if (r.status === 'rejected') checks[name] = `credential rejected${r.http_status === null ? '' : ` (${r.http_status})`}`;
            else {
              checks[name] = r.status === 'error' && r.http_status !== null ? `error ${r.http_status}` : r.status;
              informational.add(name);
            }
          }
        }
        if (deps.isDraining()) checks['server'] = 'shutting down';
        const ready = Object.entries(checks).every(([name, v]) => v === 'ok' || informational.has(name));
        sendJson(ctx.res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks });
      },
    ],
  };
}

/** `GET /metrics`: Prometheus text; `guard` is authentication when `server.metrics.require_auth`. */
export function metricsRoute(metrics: Metrics, guard: readonly Middleware[]): RouteSpec {
  return {
    name: 'metrics',
    path: '/metrics',
    methods: ['GET'],
    mode: 'ops',
    quiet: true,
    middleware: [
      ...guard,
      async (ctx) => {
        const text = await metrics.registry.metrics();
        ctx.res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        ctx.res.end(text);
      },
    ],
  };
}
