import { ERROR_SPECS, GatewayError } from './gateway-error.js';

/** The OpenAI error object, used for every error the gateway itself produces. */
export interface ErrorBody {
  error: { message: string; type: string; code: string; param: null };
}

export interface HttpError {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Maps any thrown value to the HTTP answer. Unknown errors become a generic 500. */
export function toHttp(err: unknown): HttpError {
  const e = err instanceof GatewayError ? err : new GatewayError('internal_error', 'internal gateway error');
  const spec = ERROR_SPECS[e.code];
  const body: ErrorBody = { error: { message: e.message, type: spec.type, code: e.code, param: null } };
  const headers: Record<string, string> = { 'content-type': 'application/json', ...e.headers };
  if (e.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(e.retryAfter)));
  return { status: spec.status, headers, body: JSON.stringify(body) };
}
