import { ERROR_SPECS, GatewayError } from './gateway-error.js';

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

/** Which clients the error is shaped for: OpenAI's error object, plus AWS's markers for AWS SDKs. */
export type ErrorFlavour = 'openai' | 'aws';

/**
 * Maps any thrown value to the HTTP answer. Unknown errors become a generic 500. `scrub` masks
 * secrets in the message (provider error text can echo a credential).
 */
export function toHttp(err: unknown, flavour: ErrorFlavour = 'openai', scrub?: (text: string) => string): HttpError {
  const e = err instanceof GatewayError ? err : new GatewayError('internal_error', 'internal gateway error');
  const spec = ERROR_SPECS[e.code];
  const message = scrub ? scrub(e.message) : e.message;
  const body: ErrorBody & { message?: string } = { error: { message, type: spec.type, code: e.code, param: e.param ?? null } };
  const headers: Record<string, string> = { 'content-type': 'application/json', ...e.headers };
  if (flavour === 'aws') {
    body.message = message;
    headers['x-amzn-errortype'] = awsErrorType(spec.status);
  }
  if (e.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(e.retryAfter)));
  return { status: spec.status, headers, body: JSON.stringify(body) };
}
