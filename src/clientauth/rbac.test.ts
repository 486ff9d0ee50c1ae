import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUILTIN_ROLES, DEFAULT_ROLE, RoleTable, hasPermission, inferencePermission, isKnownRole, type Permission } from './rbac.js';

const ALL: Permission[] = ['llm:read', 'llm:write', 'llm:admin', 'admin:read', 'secrets:read', 'secrets:write', 'metrics:read'];

describe('roles and permissions', () => {
  const grants: Record<string, Permission[]> = {
    admin: ALL,
    developer: ['llm:read', 'llm:write'],
    viewer: ['llm:read', 'admin:read', 'secrets:read', 'metrics:read'],
  };
  for (const [role, granted] of Object.entries(grants)) {
    test(`${role} has exactly ${granted.join(', ')}`, () => {
      for (const p of ALL) assert.equal(hasPermission([role], p), granted.includes(p), `${role} / ${p}`);
    });
  }

  test('the built-in roles are admin, developer and viewer; the default is developer', () => {
    assert.deepEqual(Object.keys(BUILTIN_ROLES).sort(), ['admin', 'developer', 'viewer']);
    assert.equal(DEFAULT_ROLE, 'developer');
    assert.ok(isKnownRole(DEFAULT_ROLE));
  });

  test('several roles grant the union of their permissions', () => {
    assert.equal(hasPermission(['developer', 'viewer'], 'metrics:read'), true);
    assert.equal(hasPermission(['developer', 'viewer'], 'llm:write'), true);
    assert.equal(hasPermission(['developer', 'viewer'], 'llm:admin'), false);
  });

  test('no roles, or unknown roles, grant nothing', () => {
    for (const p of ALL) {
      assert.equal(hasPermission([], p), false);
      assert.equal(hasPermission(['Admin', 'root', ''], p), false);
    }
  });

  test('names of Object.prototype members are not roles', () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assert.equal(isKnownRole(name), false, name);
      assert.equal(hasPermission([name], 'llm:read'), false, name);
    }
  });

  test('isKnownRole', () => {
    assert.equal(isKnownRole('admin'), true);
    assert.equal(isKnownRole('viewer'), true);
    assert.equal(isKnownRole('superuser'), false);
  });

  test('inference routes: GET and HEAD read, everything else writes', () => {
    assert.equal(inferencePermission('GET'), 'llm:read');
    assert.equal(inferencePermission('HEAD'), 'llm:read');
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) assert.equal(inferencePermission(m), 'llm:write', m);
  });
});

describe('RoleTable with custom roles', () => {
  const table = new RoleTable({ auditor: ['llm:read', 'secrets:read'], batch: ['llm:write'] });

  test('a custom role grants exactly its permissions; built-ins stay', () => {
    for (const p of ALL) assert.equal(table.grants(['auditor'], p), p === 'llm:read' || p === 'secrets:read', p);
    assert.equal(table.grants(['admin'], 'llm:admin'), true);
    assert.equal(table.isKnown('batch'), true);
    assert.equal(isKnownRole('batch'), false, 'the built-in table does not know config roles');
    assert.deepEqual(table.names.sort(), ['admin', 'auditor', 'batch', 'developer', 'viewer']);
  });

  test('a custom role with llm:admin also reads the admin API (admin:read), one without does not', () => {
    const t = new RoleTable({ ops: ['llm:admin'], auditor: ['llm:read'] });
    assert.equal(t.grants(['ops'], 'admin:read'), true);
    assert.equal(t.grants(['auditor'], 'admin:read'), false);
    assert.deepEqual(t.permissions(['ops']), ['llm:admin', 'admin:read']);
    assert.deepEqual(t.permissions(['viewer']), ['llm:read', 'admin:read', 'secrets:read', 'metrics:read']);
  });

  test('a built-in role cannot be redefined', () => {
    assert.throws(() => new RoleTable({ admin: ['llm:read'] }), /built in/);
  });
});

describe('rbac.assignments', () => {
  const table = new RoleTable({ ops: ['secrets:write'] }, { 'oidc:https://idp.example.com#42': ['ops'], 'user:alice': ['viewer'], 'bob@example.com': ['admin', 'developer'] });

  test('adds the roles assigned to the principal id and to its user name, once each, after its own', () => {
    assert.deepEqual(table.withAssigned('oidc:https://idp.example.com#42', 'someone', ['developer']), ['developer', 'ops']);
    assert.deepEqual(table.withAssigned('user:alice', 'alice', ['developer']), ['developer', 'viewer']);
    assert.deepEqual(table.withAssigned('oidc:https://idp.example.com#7', 'bob@example.com', ['developer']), ['developer', 'admin']);
  });

  test('returns the same array when nothing is assigned; another issuer\'s subject 42 gets nothing', () => {
    const own = ['developer'];
    assert.equal(table.withAssigned('oidc:https://other.example.com#42', 'carol', own), own);
    assert.equal(new RoleTable().withAssigned('user:alice', 'alice', own), own);
  });

  test('an assignment to an unknown role is refused when the table is built', () => {
    assert.throws(() => new RoleTable({}, { 'user:alice': ['root'] }), /rbac\.assignments\."user:alice": unknown role "root"/);
  });
});
