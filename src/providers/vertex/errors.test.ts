import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError, type ErrorCode } from '../../errors/gateway-error.js';
import { toHttp } from '../../errors/http.js';
import { googleErrorShape } from './errors.js';

test('the gateway\'s errors in Google\'s shape: the HTTP status as code, its google.rpc.Code, the gateway\'s code as ErrorInfo reason', () => {
  const cases: Array<[ErrorCode, number, string]> = [
    ['invalid_request', 400, 'INVALID_ARGUMENT'],
    ['unauthorized', 401, 'UNAUTHENTICATED'],
    ['path_not_allowed', 403, 'PERMISSION_DENIED'],
    ['unknown_model', 404, 'NOT_FOUND'],
    ['payload_too_large', 413, 'INVALID_ARGUMENT'],
    ['rate_limited', 429, 'RESOURCE_EXHAUSTED'],
    ['internal_error', 500, 'INTERNAL'],
    ['upstream_error', 502, 'UNAVAILABLE'],
    ['shutting_down', 503, 'UNAVAILABLE'],
    ['upstream_timeout', 504, 'DEADLINE_EXCEEDED'],
  ];
  for (const [code, status, name] of cases) {
    const answer = toHttp(new GatewayError(code, `m-${code}`), googleErrorShape, undefined, 'req-1');
    assert.equal(answer.status, status, code);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(answer.body), {
      error: { code: status, message: `m-${code}`, status: name, details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: code.toUpperCase(), domain: 'llm-proxy-auth' }] },
    }, code);
  }
});

test('Google\'s shape repeats Retry-After as RetryInfo', () => {
  const answer = toHttp(new GatewayError('rate_limited', 'slow down', { retryAfter: 4 }), googleErrorShape);
  assert.equal(answer.headers['retry-after'], '4');
  const details = (JSON.parse(answer.body) as { error: { details: unknown[] } }).error.details;
  assert.deepEqual(details[1], { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '4s' });
});
