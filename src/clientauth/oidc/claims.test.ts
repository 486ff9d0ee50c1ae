import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RoleTable } from '../rbac.js';
import { checkRoleNames, claimAt, claimMatches, claimValues, mapRoles } from './claims.js';

const roles = new RoleTable({ auditor: ['llm:read', 'secrets:read'] });

describe('claims and roles', () => {
  test('claimAt: exact names (cognito:groups, URLs with dots) before dotted paths', () => {
    const payload = {
      'cognito:groups': ['a'],
      'https://example.com/roles': ['b'],
      realm_access: { roles: ['c'] },
      resource_access: { llmproxy: { roles: ['d'] } },
    };
    assert.deepEqual(claimAt(payload, 'cognito:groups'), ['a']);
    assert.deepEqual(claimAt(payload, 'https://example.com/roles'), ['b']);
    assert.deepEqual(claimAt(payload, 'realm_access.roles'), ['c']);
    assert.deepEqual(claimAt(payload, 'resource_access.llmproxy.roles'), ['d']);
    assert.equal(claimAt(payload, 'realm_access.missing'), undefined);
    assert.equal(claimAt(payload, 'realm_access.roles.length'), undefined, 'does not walk into arrays or prototypes');
    assert.equal(claimAt(payload, 'constructor'), undefined);
  });

  test('claimValues: a list keeps its strings; a string is one value; anything else none', () => {
    assert.deepEqual(claimValues(['admin', 3, 'viewer', null]), ['admin', 'viewer']);
    assert.deepEqual(claimValues('admin'), ['admin']);
    assert.deepEqual(claimValues({ admin: true }), []);
    assert.deepEqual(claimValues(undefined), []);
  });

  test('mapRoles: role_map renames, known roles pass, the rest is dropped; default_role only when nothing is left', () => {
    assert.deepEqual(mapRoles(['llm-admins', 'viewer', 'payroll'], { 'llm-admins': 'admin' }, undefined, roles).sort(), ['admin', 'viewer']);
    assert.deepEqual(mapRoles(['auditor'], {}, 'viewer', roles), ['auditor'], 'custom roles from rbac.roles are known');
    assert.deepEqual(mapRoles(['payroll'], {}, 'viewer', roles), ['viewer']);
    assert.deepEqual(mapRoles(['payroll'], {}, undefined, roles), []);
    assert.deepEqual(mapRoles(['x'], { x: 'superuser' }, undefined, roles), [], 'a mapping to an unknown role gives nothing');
    assert.deepEqual(mapRoles(['admin', 'admin'], {}, undefined, roles), ['admin']);
  });

  test('checkRoleNames names the path of an unknown role', () => {
    assert.throws(() => checkRoleNames('auth.oidc.0', { devs: 'developers' }, undefined, roles), /auth\.oidc\.0\.role_map\.devs: unknown role "developers"/);
    assert.throws(() => checkRoleNames('auth.alb', {}, 'root', roles), /auth\.alb\.default_role: unknown role "root"/);
    assert.doesNotThrow(() => checkRoleNames('auth.oidc.0', { devs: 'developer' }, 'auditor', roles));
  });

  test('claimMatches: equal values, or contained in a list', () => {
    assert.equal(claimMatches({ token_use: 'access' }, 'token_use', 'access'), true);
    assert.equal(claimMatches({ token_use: 'id' }, 'token_use', 'access'), false);
    assert.equal(claimMatches({ amr: ['pwd', 'mfa'] }, 'amr', 'mfa'), true);
    assert.equal(claimMatches({}, 'amr', 'mfa'), false);
  });
});
