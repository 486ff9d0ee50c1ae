import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../request/context.js';

const WELL_FORMED = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Gives the request its id: a well-formed incoming `X-Request-Id` (1-128 characters of
 * `[A-Za-z0-9._:-]`), else a new UUID. The id goes back in `X-LLMProxy-Request-Id` always, and in
 * `X-Request-Id` unless a passed-through upstream response brings its own.
 */
export function assignRequestId(ctx: RequestContext): void {
  const incoming = ctx.req.headers['x-request-id'];
  ctx.id = typeof incoming === 'string' && WELL_FORMED.test(incoming) ? incoming : randomUUID();
  ctx.res.setHeader('x-llmproxy-request-id', ctx.id);
  ctx.res.setHeader('x-request-id', ctx.id);
}
