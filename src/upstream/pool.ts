import { Pool, type Dispatcher } from 'undici';
import type { UpstreamSignal } from './abort.js';
import type { Timeouts } from './types.js';

/** Errors raised before a request reached the upstream at all: safe to retry any method once. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * One keep-alive pool per instance, bound to the instance's configured origin; the timeouts are
 * undici options, so no provider re-implements them.
 */
export function createUpstreamPool(origin: string, timeouts: Timeouts): Pool {
  return new Pool(origin, {
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.firstByteMs,
    bodyTimeout: timeouts.idleMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
  });
}

/**
 * `pool.request`, sent a second time when the first attempt failed before anything reached the
 * upstream (connection refused, host unreachable), whatever the method. A plain try/catch: undici's
 * retry interceptor wraps every request in a handler chain and cost measurable CPU per request.
 */
export async function requestUpstream(pool: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  try {
    return await pool.request(options);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !NOT_SENT_CODES.has(code) || (options.signal as UpstreamSignal | null | undefined)?.aborted) throw err;
    return pool.request(options);
  }
}
