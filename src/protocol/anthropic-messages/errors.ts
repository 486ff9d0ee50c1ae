import type { ErrorShape } from '../../errors/http.js';

/**
 * Anthropic's error `type` for a status, so Anthropic SDKs raise the class they would for
 * api.anthropic.com (the status picks the class; `type` is what the SDK reports).
 * https://docs.claude.com/en/api/errors
 */
function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  // "We may also use this error type for other 4XX status codes not listed."
  return 'invalid_request_error';
}

/**
 * The gateway's own errors as the Anthropic API shapes its errors: `{"type": "error", "error":
 * {"type", "message"}, "request_id"}` and the `request-id` header, which the SDK exposes as
 * `requestID`. `error.code` adds the gateway's stable code (an extra field SDKs ignore).
 *
 * @example
 * anthropicErrorShape({ status: 401, code: 'unauthorized', message: 'Authentication failed…', retryAfter: undefined, requestId: 'r1' }).body
 * // { type: 'error', error: { type: 'authentication_error', message: 'Authentication failed…', code: 'unauthorized' }, request_id: 'r1' }
 */
export const anthropicErrorShape: ErrorShape = (e) => ({
  body: { type: 'error', error: { type: anthropicErrorType(e.status), message: e.message, code: e.code }, request_id: e.requestId ?? null },
  ...(e.requestId !== undefined ? { headers: { 'request-id': e.requestId } } : {}),
});
