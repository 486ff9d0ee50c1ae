import { ERROR_SPECS, GatewayError, type ErrorCode } from './gateway-error.js';

/** The OpenAI error object, used for every error the gateway itself produces. */
export interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

export interface HttpError {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * How an AWS SDK names an error from its status: on the native Bedrock routes the gateway's own
 * errors also carry `x-amzn-errortype` and a top-level `message`, so the SDK raises a typed
 * exception with the gateway's message instead of `UnknownError`.
 */
function awsErrorType(status: number): string {
  if (status === 401 || status === 403) return 'AccessDeniedException';
  if (status === 404) return 'ResourceNotFoundException';
  if (status === 429) return 'ThrottlingException';
  if (status === 503) return 'ServiceUnavailableException';
  if (status === 504) return 'ModelTimeoutException';
  if (status >= 500) return 'InternalServerException';
  return 'ValidationException';
}

/** A gateway error as a provider's own error shape sees it. */
export interface ShapedError {
  status: number;
  /** The gateway's stable code; a shape keeps it where its clients can read it. */
  code: ErrorCode;
  /** Scrubbed; never a secret. */
  message: string;
  /** Seconds, already sent as `Retry-After`. */
  retryAfter: number | undefined;
  /** The request's id (also sent as `x-request-id`). */
  requestId: string | undefined;
}

/**
 * A provider's own error shape for the gateway's errors on its transparent routes (the
 * definition's `errorShape`), so its SDKs raise their typed errors with the gateway's message:
 * the body, and headers beside `content-type` and `Retry-After`.
 *
 * @example
 * const shape: ErrorShape = (e) => ({ body: { error: { code: e.status, message: e.message } } });
 */
export type ErrorShape = (error: ShapedError) => { body: unknown; headers?: Record<string, string> };

/**
 * Which clients the error is shaped for: OpenAI's error object (the default, and protocol mode),
 * plus AWS's markers for AWS SDKs; or a provider's own {@link ErrorShape}.
 */
export type ErrorFlavour = 'openai' | 'aws' | ErrorShape;

/**
 * Maps any thrown value to the HTTP answer. Unknown errors become a generic 500. `scrub` masks
 * secrets in the message (provider error text can echo a credential); `requestId` is the
 * request's id, for shapes that repeat it.
 */
/** Client errors a retry may cure: timeout, conflict, rate limit. */
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 409, 429]);

export function toHttp(err: unknown, flavour: ErrorFlavour = 'openai', scrub?: (text: string) => string, requestId?: string): HttpError {
  const e = err instanceof GatewayError ? err : new GatewayError('internal_error', 'internal gateway error');
  const spec = ERROR_SPECS[e.code];
  const message = scrub ? scrub(e.message) : e.message;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...e.headers };
  const retryAfter = e.retryAfter === undefined ? undefined : Math.max(1, Math.ceil(e.retryAfter));
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  // The OpenAI and Anthropic SDKs (and Claude Code) retry on their own judgement unless told:
  // a refusal that will not change on a retry says so, so a wrong key fails at once.
  if (spec.status >= 400 && spec.status < 500 && !RETRYABLE_4XX.has(spec.status)) headers['x-should-retry'] = 'false';
  if (typeof flavour === 'function') {
    const shaped = flavour({ status: spec.status, code: e.code, message, retryAfter, requestId });
    return { status: spec.status, headers: { ...headers, ...shaped.headers }, body: JSON.stringify(shaped.body) };
  }
  const body: ErrorBody & { message?: string } = { error: { message, type: spec.type, code: e.code, param: e.param ?? null } };
  if (flavour === 'aws') {
    body.message = message;
    headers['x-amzn-errortype'] = awsErrorType(spec.status);
  }
  return { status: spec.status, headers, body: JSON.stringify(body) };
}
