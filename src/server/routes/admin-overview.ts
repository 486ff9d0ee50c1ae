import type { UsagePoint } from '../../store/governance-types.js';
import { credentialJson } from './admin-credentials.js';
import { lockdownJson } from './admin-governance.js';
import type { AdminEndpoint, AdminRouteDeps } from './admin-types.js';

/** The windows the overview sums, back from now. */
const WINDOWS = { '1h': 3_600_000, '24h': 86_400_000 } as const;

type Totals = Omit<UsagePoint, 'time'>;

const ZERO: Totals = { requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };

function add(a: Totals, b: Totals): Totals {
  return {
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    // Sums of micro-dollars as dollars: round away float noise.
    cost_usd: Math.round((a.cost_usd + b.cost_usd) * 1e6) / 1e6,
  };
}

/** One window's totals, overall and per instance (largest cost first; `instance` null for requests that reached none). */
async function windowTotals(deps: AdminRouteDeps, since: number, until: number) {
  // One bucket as long as the window: every instance's totals in one grouped query.
  const series = await deps.governance.usageSeries({ by: 'instance', since, until, bucketMs: until - since });
  const instances = series.map((s) => ({ instance: s.group, ...s.points.reduce<Totals>((t, { time: _time, ...p }) => add(t, p), ZERO) }));
  const total = instances.reduce<Totals>((t, { instance: _instance, ...i }) => add(t, i), ZERO);
  return { total, instances };
}

/** The console's home page in one call: recent traffic, each instance's state, the lockdown. */
export const OVERVIEW_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'overview',
    permission: 'admin:read',
    async handle(_ctx, _p, { deps }) {
      const now = Date.now();
      const lockdown = deps.governance.lockdown.state();
      const windows: Record<string, Awaited<ReturnType<typeof windowTotals>>> = {};
      for (const [name, ms] of Object.entries(WINDOWS)) windows[name] = await windowTotals(deps, now - ms, now);
      return {
        body: {
          generated_at: new Date(now).toISOString(),
          windows,
          instances: deps.instances.all.map((i) => {
            const { instance: _instance, type: _type, ...credential } = credentialJson(i, now);
            return { name: i.name, type: i.type, disabled: Object.hasOwn(lockdown.disabledInstances, i.name), credential };
          }),
          lockdown: lockdownJson(lockdown),
        },
      };
    },
  },
];
