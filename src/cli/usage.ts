import { loadConfig, locateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config-fields/units.js';
import { PriceTable, markUnpriced, type PricedUsageRow } from '../governance/pricing.js';
import { modelCatalog } from '../providers/catalog.js';
import { PROVIDERS_BY_TYPE } from '../providers/registry.js';
import { openCliStore } from '../store/open.js';
import type { UsageGroupBy } from '../store/governance-types.js';
import type { Store } from '../store/types.js';
import { UsageError, parse } from './args.js';
import { table } from './output.js';

export const USAGE_USAGE = `usage:
  llmproxy usage [--by key|user|instance|model] [--since 30d|2026-11-01] [--until DATE] [--json]`;

const GROUPS: readonly UsageGroupBy[] = ['key', 'user', 'instance', 'model'];

/**
 * `llmproxy usage`: requests, tokens and cost from the usage store, grouped by key, user,
 * instance or model. `--since` is a duration back from now (`30d`, `12h`) or a date/time
 * (`2026-11-01`, ISO 8601); default `30d`. By model, a model without a price is marked (`*`,
 * `"unpriced": true` in JSON): its cost is what `pricing.unpriced` charged.
 */
export async function usageCommand(args: string[], out: (s: string) => void): Promise<number> {
  return withCliStore(args, { by: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' } }, async (store, values, _positionals, config) => {
    const by = (values['by'] as string | undefined) ?? 'key';
    if (!GROUPS.includes(by as UsageGroupBy)) throw new UsageError(`--by must be one of ${GROUPS.join(', ')} (got "${by}")`);
    const now = Date.now();
    const since = pointInTime('since', (values['since'] as string | undefined) ?? '30d', now);
    const untilText = values['until'] as string | undefined;
    const until = untilText === undefined ? undefined : pointInTime('until', untilText, now);
    const summary = await store.governance.usage.summary({ by: by as UsageGroupBy, since, ...(until === undefined ? {} : { until }) });
    const rows: PricedUsageRow[] = by === 'model' ? markUnpriced(summary, new PriceTable(config.pricing.models, modelCatalog(PROVIDERS_BY_TYPE.values()))) : summary;
    if (values['json']) {
      out(JSON.stringify({ by, since: new Date(since).toISOString(), until: until === undefined ? null : new Date(until).toISOString(), rows }, null, 2));
      return;
    }
    if (rows.length === 0) return out(`no usage since ${new Date(since).toISOString()}`);
    const total = rows.reduce((t, r) => ({ requests: t.requests + r.requests, input: t.input + r.input_tokens, output: t.output + r.output_tokens, cost: t.cost + r.cost_usd }), { requests: 0, input: 0, output: 0, cost: 0 });
    out(
      table(
        [by.toUpperCase(), 'REQUESTS', 'INPUT TOKENS', 'OUTPUT TOKENS', 'COST USD'],
        [
          ...rows.map((r) => [`${r.group ?? '-'}${r.unpriced ? ' *' : ''}`, String(r.requests), String(r.input_tokens), String(r.output_tokens), r.cost_usd.toFixed(4)]),
          ['TOTAL', String(total.requests), String(total.input), String(total.output), total.cost.toFixed(4)],
        ],
      ),
    );
    if (rows.some((r) => r.unpriced)) out('* no price for this model: charged pricing.unpriced (add it under pricing.models)');
  });
}

/** A duration back from `now` (`30d`) or an absolute date/time (`2026-11-01`, `2026-11-01T12:00:00Z`). */
export function pointInTime(flag: string, text: string, now: number): number {
  const ms = parseDuration(text);
  if (ms !== undefined) return now - ms;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (Number.isFinite(t)) return t;
  }
  throw new UsageError(`--${flag} must be a duration such as 30d or a date such as 2026-11-01 (got "${text}")`);
}

/** Parses `args`, opens the configured store, runs `action`, closes the store. */
export async function withCliStore(
  args: string[],
  options: Parameters<typeof parse>[1],
  action: (store: Store, values: Record<string, string | boolean | undefined>, positionals: string[], config: Config) => Promise<void>,
): Promise<number> {
  const parsed = parse(args, options);
  const loaded = loadConfig(locateConfig(parsed.values.config as string | undefined));
  const store = await openCliStore(loaded.config, loaded.baseDir);
  try {
    await action(store, parsed.values as Record<string, string | boolean | undefined>, parsed.positionals, loaded.config);
    return 0;
  } finally {
    await store.close();
  }
}
