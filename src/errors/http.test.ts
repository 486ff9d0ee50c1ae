import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError, UNAUTHORIZED_MESSAGE } from './gateway-error.js';
import { toHttp } from './http.js';

test('a refusal a retry cannot cure says x-should-retry: false, in every error shape; rate limits and server errors do not', () => {
  const shaped = (body: unknown) => ({ body });
  for (const flavour of ['openai', 'aws', shaped] as const) {
    for (const code of ['unauthorized', 'model_not_in_scope', 'invalid_request', 'not_found'] as const) {
      assert.equal(toHttp(new GatewayError(code, 'no'), flavour).headers['x-should-retry'], 'false', `${code}`);
    }
    for (const code of ['too_many_auth_failures', 'upstream_timeout', 'credential_unavailable', 'internal_error'] as const) {
      assert.equal(toHttp(new GatewayError(code, 'later'), flavour).headers['x-should-retry'], undefined, `${code}`);
    }
  }
});

test('the unauthorized message names no header Claude Code reads as "not logged in" (x-api-key)', () => {
  assert.ok(!/x-api-key/i.test(UNAUTHORIZED_MESSAGE), UNAUTHORIZED_MESSAGE);
});
