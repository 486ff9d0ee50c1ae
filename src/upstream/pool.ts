import { Pool, interceptors, type Dispatcher } from 'undici';
import type { Timeouts } from './types.js';

/** Errors raised before a request reached the upstream at all: safe to retry any method once. */
const NOT_SENT_CODES = ['ECONNREFUSED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'];

/**
 * One keep-alive pool per instance, bound to the instance's configured origin. Timeouts and the
 * retry-before-the-request-was-sent rule live here, as undici options and interceptors, so no
 * provider re-implements them.
 */
export function createUpstreamPool(origin: string, timeouts: Timeouts): Dispatcher {
  const pool = new Pool(origin, {
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.firstByteMs,
    bodyTimeout: timeouts.idleMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
  });
  return pool.compose(
    interceptors.retry({
      maxRetries: 1,
      minTimeout: 100,
      timeoutFactor: 1,
      methods: ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'],
      statusCodes: [],
      errorCodes: NOT_SENT_CODES,
    }),
  );
}
