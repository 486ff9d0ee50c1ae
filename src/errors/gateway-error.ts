/**
 * The gateway's one error type. Every failure the gateway reports itself carries a stable
 * `code` from the closed union below; `toHttp` in ./http.ts is the only place that turns a
 * code into a status and a body.
 *
 * @example
 * throw new GatewayError('payload_too_large', `request body exceeds ${limit} bytes`);
 */
export type ErrorCode =
  | 'unauthorized'
  | 'too_many_auth_failures'
  | 'totp_required'
  | 'totp_not_enrolled'
  | 'permission_denied'
  | 'csrf_failed'
  | 'instance_not_in_scope'
  | 'model_not_in_scope'
  | 'endpoint_not_in_scope'
  | 'path_not_allowed'
  | 'not_found'
  | 'unknown_instance'
  | 'unknown_model'
  | 'method_not_allowed'
  | 'invalid_path'
  | 'invalid_request'
  | 'payload_too_large'
  | 'request_timeout'
  | 'too_many_connections'
  | 'upstream_timeout'
  | 'upstream_unreachable'
  | 'upstream_credential_rejected'
  | 'upstream_bad_request'
  | 'upstream_not_found'
  | 'upstream_rate_limited'
  | 'upstream_error'
  | 'upstream_stream_incomplete'
  | 'credential_unavailable'
  | 'store_unavailable'
  | 'counters_unavailable'
  | 'identity_provider_unavailable'
  | 'shutting_down'
  | 'rate_limited'
  | 'budget_exceeded'
  | 'lockdown'
  | 'instance_disabled'
  | 'internal_error';

export interface ErrorSpec {
  status: number;
  /** OpenAI error `type`, so OpenAI SDKs classify the error the way they would upstream. */
  type: string;
}

export const ERROR_SPECS: Readonly<Record<ErrorCode, ErrorSpec>> = {
  unauthorized: { status: 401, type: 'authentication_error' },
  too_many_auth_failures: { status: 429, type: 'rate_limit_error' },
  // The credential is right but its second factor is missing (clientauth/totp/).
  totp_required: { status: 401, type: 'authentication_error' },
  totp_not_enrolled: { status: 403, type: 'permission_error' },
  permission_denied: { status: 403, type: 'permission_error' },
  // A console session's change without its CSRF token, or from another origin (src/console/).
  csrf_failed: { status: 403, type: 'permission_error' },
  instance_not_in_scope: { status: 403, type: 'permission_error' },
  model_not_in_scope: { status: 403, type: 'permission_error' },
  // The key's or user's endpoint scopes (chat, embeddings, ...) do not include the request's.
  endpoint_not_in_scope: { status: 403, type: 'permission_error' },
  path_not_allowed: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  unknown_instance: { status: 404, type: 'invalid_request_error' },
  unknown_model: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  invalid_path: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  // The client did not send its whole request within server.request_timeout.
  request_timeout: { status: 408, type: 'invalid_request_error' },
  // server.max_connections or max_connections_per_client reached; the connection is closed.
  too_many_connections: { status: 503, type: 'api_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
  upstream_unreachable: { status: 502, type: 'api_error' },
  upstream_credential_rejected: { status: 502, type: 'api_error' },
  // Protocol mode: a provider's error, translated (its own body cannot be passed through).
  upstream_bad_request: { status: 400, type: 'invalid_request_error' },
  upstream_not_found: { status: 404, type: 'invalid_request_error' },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error' },
  upstream_error: { status: 502, type: 'api_error' },
  upstream_stream_incomplete: { status: 502, type: 'api_error' },
  credential_unavailable: { status: 503, type: 'api_error' },
  store_unavailable: { status: 503, type: 'api_error' },
  // The shared Redis counters are unreachable and governance.on_counter_failure is closed.
  counters_unavailable: { status: 503, type: 'api_error' },
  // An OIDC issuer's discovery or keys, the Kubernetes API server (TokenReview) or the ALB key endpoint.
  identity_provider_unavailable: { status: 503, type: 'api_error' },
  shutting_down: { status: 503, type: 'api_error' },
  // Governance: the gateway's own limits (Retry-After set), budgets and emergency switches.
  rate_limited: { status: 429, type: 'rate_limit_error' },
  budget_exceeded: { status: 429, type: 'insufficient_quota' },
  lockdown: { status: 503, type: 'api_error' },
  instance_disabled: { status: 503, type: 'api_error' },
  internal_error: { status: 500, type: 'api_error' },
};

export interface GatewayErrorOptions {
  cause?: unknown;
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number;
  /** Extra response headers (e.g. `Allow` on 405). Never carries a secret. */
  headers?: Record<string, string>;
  /** The request field at fault, as a path (`messages[0].content`); OpenAI's error `param`. */
  param?: string;
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly retryAfter: number | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly param: string | undefined;

  /** `message` is sent to the client: it must never contain a secret. */
  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers;
    this.param = options.param;
  }

  get status(): number {
    return ERROR_SPECS[this.code].status;
  }
}

/** The single 401 message: it never says which part of a credential was wrong. */
/**
 * 404s say what was not found without echoing the request: a path (or an instance segment of it)
 * can carry what a confused client pasted there, and an error body is logged and shown widely.
 */
export const NO_ROUTE_MESSAGE = 'No route matches this method and path (see "Routes" in the README).';
export const UNKNOWN_INSTANCE_MESSAGE = 'No instance or provider type has the name given in the path.';

export const UNAUTHORIZED_MESSAGE =
  'Authentication failed: send a valid gateway credential (a gateway API key or session token, as a Bearer token or in the API-key header your SDK uses; or a configured Basic, OIDC or Kubernetes credential).';
