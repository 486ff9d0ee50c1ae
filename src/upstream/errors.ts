import { GatewayError } from '../errors/gateway-error.js';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** The error code of an undici or socket error, e.g. `ECONNREFUSED`; `unknown` if none. */
export function errorCode(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = e.cause;
  }
  return 'unknown';
}

/**
 * Maps a failure to reach an upstream to the gateway's error: a timeout is 504, anything else
 * (refused, reset, DNS, TLS) 502. The message names the instance and the error code only.
 */
export function upstreamFailure(instance: string, err: unknown): GatewayError {
  const code = errorCode(err);
  if (TIMEOUT_CODES.has(code)) {
    const what =
      code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connecting to the upstream timed out'
      : code === 'UND_ERR_BODY_TIMEOUT' ? 'the upstream stopped sending'
      : 'the upstream did not answer in time';
    return new GatewayError('upstream_timeout', `instance ${instance}: ${what}`, { cause: err });
  }
  return new GatewayError('upstream_unreachable', `instance ${instance}: the upstream could not be reached (${code})`, { cause: err });
}
