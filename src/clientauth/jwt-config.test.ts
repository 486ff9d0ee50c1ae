import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate } from '../config/load.js';

const base = { instances: { d: { type: 'demo' } } };
const issuer = 'https://idp.example.com/realms/corp';

function errorOf(auth: Record<string, unknown>): string {
  try {
    validate({ ...base, auth }, 'test');
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('auth.oidc / auth.kubernetes / auth.alb config', () => {
  test('defaults: groups claim, sub as user, asymmetric algorithms, 60s skew, lazy discovery', () => {
    const c = validate({ ...base, auth: { oidc: [{ issuer, audience: 'llmproxy' }] } }, 'test');
    const o = c.auth.oidc[0]!;
    assert.deepEqual(o.audience, ['llmproxy']);
    assert.equal(o.roles_claim, 'groups');
    assert.equal(o.user_claim, 'sub');
    assert.equal(o.clock_skew, 60_000);
    assert.equal(o.jwks_uri, undefined);
    assert.ok(o.algorithms.includes('RS256') && o.algorithms.includes('ES256'));
    assert.ok(!o.algorithms.some((a) => a.startsWith('HS')));
  });

  test('"none" and HMAC algorithms are refused, with the path', () => {
    for (const alg of ['none', 'HS256']) {
      const msg = errorOf({ oidc: [{ issuer, audience: 'x', algorithms: ['RS256', alg] }] });
      assert.match(msg, /auth\.oidc\.0\.algorithms\.1/, alg);
      assert.match(msg, /never accepted/, alg);
    }
  });

  test('an issuer without audience or client_id is refused: any token of that IdP would pass', () => {
    assert.match(errorOf({ oidc: [{ issuer }] }), /auth\.oidc\.0\.audience: required \(or client_id\)/);
    assert.equal(errorOf({ oidc: [{ issuer, client_id: 'abc' }] }), '');
  });

  test('duplicate issuers, unknown fields and non-URL issuers are refused', () => {
    assert.match(errorOf({ oidc: [{ issuer, audience: 'a' }, { issuer, audience: 'b' }] }), /auth\.oidc\.1\.issuer: .*configured twice/);
    assert.match(errorOf({ oidc: [{ issuer, audience: 'a', groups_claim: 'x' }] }), /auth\.oidc\.0\.groups_claim: unknown field/);
    assert.match(errorOf({ oidc: [{ issuer: 'idp.example.com', audience: 'a' }] }), /auth\.oidc\.0\.issuer/);
  });

  test('kubernetes: audiences and allow rules are required; mode defaults to jwks; service_account to any', () => {
    assert.match(errorOf({ kubernetes: { issuer, allow: [{ namespace: 'ml', roles: ['developer'] }] } }), /auth\.kubernetes\.audiences/);
    assert.match(errorOf({ kubernetes: { issuer, audiences: ['llmproxy'] } }), /auth\.kubernetes\.allow/);
    const c = validate({ ...base, auth: { kubernetes: { issuer, audiences: ['llmproxy'], allow: [{ namespace: 'ml', roles: ['developer'] }] } } }, 'test');
    assert.equal(c.auth.kubernetes?.mode, 'jwks');
    assert.equal(c.auth.kubernetes?.allow[0]?.service_account, '*');
    assert.equal(c.auth.kubernetes?.token_file, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  });

  test('alb: region is checked; the key endpoint may be overridden', () => {
    assert.match(errorOf({ alb: { region: 'not a region' } }), /auth\.alb\.region/);
    const c = validate({ ...base, auth: { alb: { region: 'eu-west-1', public_key_endpoint: 'http://127.0.0.1:9/keys' } } }, 'test');
    assert.equal(c.auth.alb?.public_key_endpoint, 'http://127.0.0.1:9/keys');
  });
});
