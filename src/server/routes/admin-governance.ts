import { z } from 'zod';
import { GatewayError } from '../../errors/gateway-error.js';
import type { LockdownState } from '../../governance/index.js';
import type { RequestContext } from '../../request/context.js';
import type { UsageGroupBy } from '../../store/governance-types.js';
import type { AdminEndpoint } from './admin-types.js';
import { queryOf, sinceOf } from './admin-query.js';

const GROUPS: readonly UsageGroupBy[] = ['key', 'user', 'instance', 'model'];
const reason = z.string().trim().min(1).max(500).optional();

function lockdownJson(s: LockdownState) {
  return {
    on: s.on,
    source: s.source,
    reason: s.reason,
    actor: s.actor,
    since: s.since === null ? null : new Date(s.since).toISOString(),
    disabled_instances: Object.fromEntries(
      Object.entries(s.disabledInstances).map(([name, d]) => [name, { reason: d.reason, actor: d.actor, since: new Date(d.since).toISOString() }]),
    ),
  };
}

/** Who made a lockdown change, for its audit event: the principal's user, else its id. */
function actor(ctx: RequestContext): string {
  const p = ctx.principal!;
  return p.user ?? p.id;
}

/**
 * Usage totals and the emergency switch. Lockdown changes are audited by the lockdown
 * controller itself (`event: 'lockdown'`, as for the CLI), so they are not audited twice here.
 */
export const GOVERNANCE_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'usage',
    permission: 'admin:read',
    async handle(ctx, _p, { deps }) {
      const q = queryOf(ctx);
      const by = (q['by'] ?? 'key') as UsageGroupBy;
      if (!GROUPS.includes(by)) throw new GatewayError('invalid_request', `"by" must be one of ${GROUPS.join(', ')}`);
      const now = Date.now();
      const since = sinceOf(q['since'] ?? '30d', now)!;
      const until = sinceOf(q['until'], now);
      if (until !== undefined && until <= since) throw new GatewayError('invalid_request', '"until" must be after "since"');
      const rows = await deps.governance.usageSummary({ by, since, ...(until !== undefined ? { until } : {}) });
      return { body: { by, since: new Date(since).toISOString(), until: until === undefined ? null : new Date(until).toISOString(), data: rows } };
    },
  },
  {
    method: 'GET',
    path: 'lockdown',
    permission: 'admin:read',
    async handle(_ctx, _p, { deps }) {
      return { body: lockdownJson(deps.governance.lockdown.state()) };
    },
  },
  {
    method: 'POST',
    path: 'lockdown',
    permission: 'llm:admin',
    async handle(ctx, _p, admin) {
      const b = admin.body(ctx, z.strictObject({ on: z.boolean(), reason }));
      const state = await admin.deps.governance.lockdown.set(b.on, actor(ctx), b.reason, { requestId: ctx.id, clientAddress: ctx.clientAddress });
      return { body: lockdownJson(state) };
    },
  },
  {
    method: 'POST',
    path: 'lockdown/instances/:name',
    permission: 'llm:admin',
    async handle(ctx, { name }, admin) {
      const b = admin.body(ctx, z.strictObject({ disabled: z.boolean(), reason }));
      if (!admin.deps.instances.all.some((i) => i.name === name)) throw new GatewayError('not_found', 'no instance with that name');
      const state = await admin.deps.governance.lockdown.setInstance(name!, b.disabled, actor(ctx), b.reason, { requestId: ctx.id, clientAddress: ctx.clientAddress });
      return { body: lockdownJson(state) };
    },
  },
];
