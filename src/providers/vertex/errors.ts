import type { ErrorShape } from '../../errors/http.js';

/**
 * The `google.rpc.Code` name Google APIs pair with an HTTP status (`error.status` in their JSON).
 * https://cloud.google.com/apis/design/errors#handling_errors
 */
function googleStatus(status: number): string {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'ABORTED';
  if (status === 429) return 'RESOURCE_EXHAUSTED';
  if (status === 501) return 'UNIMPLEMENTED';
  if (status === 502 || status === 503) return 'UNAVAILABLE';
  if (status === 504) return 'DEADLINE_EXCEEDED';
  if (status >= 500) return 'INTERNAL';
  return 'INVALID_ARGUMENT';
}

/** The `ErrorInfo` domain of the gateway's own errors: the product that produced them, as Google's error model asks. */
const DOMAIN = 'llm-proxy-auth';

/**
 * The gateway's own errors as Google APIs shape theirs (`google.rpc.Status` in JSON): `{"error":
 * {"code": <HTTP status>, "message", "status": <google.rpc.Code>, "details": [...]}}`. The
 * gateway's stable code is the `google.rpc.ErrorInfo` reason (upper case, as Google's reasons
 * are), and `Retry-After` is repeated as a `google.rpc.RetryInfo`.
 * https://cloud.google.com/apis/design/errors#error_model
 *
 * @example
 * googleErrorShape({ status: 403, code: 'model_not_in_scope', message: 'your key may not use model "x"', retryAfter: undefined, requestId: 'r1' }).body
 * // { error: { code: 403, message: '…', status: 'PERMISSION_DENIED', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'MODEL_NOT_IN_SCOPE', domain: 'llm-proxy-auth' }] } }
 */
export const googleErrorShape: ErrorShape = (e) => {
  const details: object[] = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: e.code.toUpperCase(), domain: DOMAIN }];
  if (e.retryAfter !== undefined) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${e.retryAfter}s` });
  return { body: { error: { code: e.status, message: e.message, status: googleStatus(e.status), details } } };
};
