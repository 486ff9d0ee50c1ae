import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { permissionProblem, type ProcessIdentity } from './permissions.js';

const dir = mkdtempSync(join(tmpdir(), 'llmproxy-perm-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const isRoot = process.geteuid?.() === 0;

/** A file with owner `uid`:`gid` and `mode` (chown needs root). */
function file(name: string, uid: number, gid: number, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, 'x');
  chownSync(path, uid, gid);
  chmodSync(path, mode);
  return path;
}

/** A non-root gateway (uid 1000) whose pod has fsGroup 2000. */
const pod: ProcessIdentity = { uid: 1000, groups: new Set([1000, 2000]) };

describe('permissionProblem', { skip: isRoot ? false : 'needs root to chown' }, () => {
  test('Kubernetes Secret with fsGroup (root:fsGroup 0440, whatever defaultMode says) is accepted for a non-root process in that group', () => {
    assert.equal(permissionProblem(file('k8s-fsgroup', 0, 2000, 0o440), 'secret', pod), undefined);
  });

  test('the same file for a process not in the group, or group-writable, or readable by others, is reported', () => {
    assert.deepEqual(permissionProblem(file('foreign-group', 0, 3000, 0o440), 'secret', pod)?.problems, ['readable by group']);
    assert.deepEqual(permissionProblem(file('group-writable', 0, 2000, 0o460), 'secret', pod)?.problems, ['writable by group']);
    const k8sDefault = permissionProblem(file('k8s-default', 0, 2000, 0o644), 'secret', pod);
    assert.deepEqual(k8sDefault?.problems, ['readable by others']);
    assert.equal(k8sDefault?.mode, '0644');
  });

  test("group-readable is a problem for root's own files when the gateway runs as root (the exemption is for reading someone else's file)", () => {
    assert.deepEqual(permissionProblem(file('root-640', 0, 0, 0o640), 'secret', { uid: 0, groups: new Set([0]) })?.problems, ['readable by group']);
  });

  test("owner: the process's user and root are fine; anyone else can rewrite the file", () => {
    assert.equal(permissionProblem(file('own', 1000, 1000, 0o600), 'config', pod), undefined);
    assert.equal(permissionProblem(file('root-own', 0, 0, 0o400), 'config', pod), undefined);
    assert.deepEqual(permissionProblem(file('other-user', 1001, 1000, 0o606), 'config', pod)?.problems, [
      'readable by others',
      'writable by others',
      "owned by uid 1001, not this process's uid 1000",
    ]);
  });

  test('a missing file is not reported (reading it fails on its own)', () => {
    assert.equal(permissionProblem(join(dir, 'absent'), 'secret', pod), undefined);
  });
});
