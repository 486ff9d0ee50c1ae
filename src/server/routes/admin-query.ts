import { parseDuration } from '../../config-fields/units.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';

/** `?a=b` of the request as a plain record (first value wins). */
export function queryOf(ctx: RequestContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(ctx.query.slice(1))) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

/** `since=30d` (a duration back from now) or an ISO date; undefined when absent. `field` names the parameter in the 400. */
export function sinceOf(text: string | undefined, now = Date.now(), field = 'since'): number | undefined {
  if (text === undefined || text === '') return undefined;
  const ms = parseDuration(text);
  if (ms !== undefined) return now - ms;
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new GatewayError('invalid_request', `"${field}" must be a duration such as 24h or 30d, or an ISO date`);
  return at;
}
