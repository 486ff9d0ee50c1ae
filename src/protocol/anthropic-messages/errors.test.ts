import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError, type ErrorCode } from '../../errors/gateway-error.js';
import { toHttp } from '../../errors/http.js';
import { anthropicErrorShape } from './errors.js';

test('the gateway\'s errors in Anthropic\'s shape: the status kept, the type Anthropic gives it, the code and request id', () => {
  const cases: Array<[ErrorCode, number, string]> = [
    ['invalid_request', 400, 'invalid_request_error'],
    ['unauthorized', 401, 'authentication_error'],
    ['model_not_in_scope', 403, 'permission_error'],
    ['unknown_model', 404, 'not_found_error'],
    ['method_not_allowed', 405, 'invalid_request_error'],
    ['payload_too_large', 413, 'request_too_large'],
    ['rate_limited', 429, 'rate_limit_error'],
    ['budget_exceeded', 429, 'rate_limit_error'],
    ['internal_error', 500, 'api_error'],
    ['upstream_unreachable', 502, 'api_error'],
    ['credential_unavailable', 503, 'api_error'],
    ['upstream_timeout', 504, 'timeout_error'],
  ];
  for (const [code, status, type] of cases) {
    const answer = toHttp(new GatewayError(code, `m-${code}`), anthropicErrorShape, undefined, 'req-1');
    assert.equal(answer.status, status, code);
    assert.equal(answer.headers['request-id'], 'req-1');
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(answer.body), { type: 'error', error: { type, message: `m-${code}`, code }, request_id: 'req-1' }, code);
  }
});

test('Anthropic\'s shape keeps Retry-After and the scrubbed message; without a request id, none is invented', () => {
  const answer = toHttp(new GatewayError('rate_limited', 'slow down sk-secret', { retryAfter: 2.2 }), anthropicErrorShape, (t) => t.replace('sk-secret', '***'));
  assert.equal(answer.headers['retry-after'], '3');
  assert.equal(answer.headers['request-id'], undefined);
  assert.deepEqual(JSON.parse(answer.body), { type: 'error', error: { type: 'rate_limit_error', message: 'slow down ***', code: 'rate_limited' }, request_id: null });
});
