import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowedRoles, parseServiceAccount } from './service-account.js';

describe('service accounts and allow rules', () => {
  test('parses system:serviceaccount:<ns>:<name> and nothing else', () => {
    assert.deepEqual(parseServiceAccount('system:serviceaccount:ml:batch-runner'), { namespace: 'ml', name: 'batch-runner' });
    for (const bad of ['system:serviceaccount:ml', 'system:serviceaccount:ml:a:b', 'system:node:n1', 'alice', 'system:serviceaccount:ML:x', 42]) {
      assert.equal(parseServiceAccount(bad), undefined, String(bad));
    }
  });

  test('the first matching rule decides; "*" is any account in the namespace; no match is undefined', () => {
    const allow = [
      { namespace: 'ml', service_account: 'admin-bot', roles: ['admin'] },
      { namespace: 'ml', service_account: '*', roles: ['developer'] },
      { namespace: 'dash', service_account: 'grafana', roles: ['viewer'] },
    ];
    assert.deepEqual(allowedRoles(allow, { namespace: 'ml', name: 'admin-bot' }), ['admin']);
    assert.deepEqual(allowedRoles(allow, { namespace: 'ml', name: 'other' }), ['developer']);
    assert.deepEqual(allowedRoles(allow, { namespace: 'dash', name: 'grafana' }), ['viewer']);
    assert.equal(allowedRoles(allow, { namespace: 'dash', name: 'prometheus' }), undefined);
    assert.equal(allowedRoles(allow, { namespace: 'default', name: 'grafana' }), undefined);
  });
});
