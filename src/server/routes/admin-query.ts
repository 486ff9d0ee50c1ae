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

/*
 * Typed query parameters for the admin lists. An absent or empty parameter is undefined (a
 * console form sends `?role=` for "any role"); a present one that does not fit is a 400 naming it.
 */

/** Query parameter `name` as a time: a duration back from `now` (`24h`, `30d`) or an ISO date. */
export function timeParam(q: Readonly<Record<string, string>>, name: string, now = Date.now()): number | undefined {
  return sinceOf(q[name], now, name);
}

/** Query parameter `name` as a whole number from `min` to `max`. */
export function intParam(q: Readonly<Record<string, string>>, name: string, min: number, max: number): number | undefined {
  const text = q[name];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new GatewayError('invalid_request', `"${name}" must be an integer from ${min} to ${max}`);
  return n;
}

/** Query parameter `name` as text of at most `max` characters. */
export function textParam(q: Readonly<Record<string, string>>, name: string, max = 256): string | undefined {
  const text = q[name];
  if (text === undefined || text === '') return undefined;
  if (text.length > max) throw new GatewayError('invalid_request', `"${name}" must be at most ${max} characters`);
  return text;
}

/** Query parameter `name` as one of `allowed`. */
export function choiceParam<T extends string>(q: Readonly<Record<string, string>>, name: string, allowed: readonly T[]): T | undefined {
  const text = q[name];
  if (text === undefined || text === '') return undefined;
  if (!(allowed as readonly string[]).includes(text)) throw new GatewayError('invalid_request', `"${name}" must be one of ${allowed.join(', ')}`);
  return text as T;
}
