import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/**
 * External programs a test needs (promtool, kubectl, podman...), found or installed by the
 * project itself, never assumed:
 *
 * 1. on PATH;
 * 2. else in the project's tool cache (`node_modules/.cache/llmproxy-tools/`), where an earlier
 *    run unpacked it;
 * 3. else, when the tool names a Debian package holding a self-contained binary, that package is
 *    downloaded with `apt-get download` and unpacked into the cache with `dpkg-deb -x`: no
 *    root, no service started, nothing outside the project changed;
 * 4. else, when `install: 'apt'` is given (tools that need their dependencies, like podman),
 *    `apt-get install -y --no-install-recommends` runs as a test set-up step (root only).
 *
 * A tool still missing makes the tests that need it report themselves skipped, naming the tool
 * and what was tried; under `CI=true` a failing test says so instead. Never a silent pass.
 *
 * @example
 * const promtool = await requireTool({ bin: 'promtool', deb: { package: 'prometheus', path: 'usr/bin/promtool' } });
 * describe('alert rules', { skip: promtool.skip }, () => { ... spawnSync(promtool.path, ...) });
 */
export interface ToolSpec {
  /** The program's name on PATH. */
  bin: string;
  /** A Debian package whose `path` (inside the .deb) is a binary that runs on its own. */
  deb?: { package: string; path: string };
  /** Install these Debian packages system-wide when the binary is missing (needs root). */
  apt?: string[];
}

export interface ToolGate {
  /** For `describe`/`test` options: false when the tool is usable, else the skip reason. */
  skip: string | false;
  /** Absolute path of the program (meaningful only when `skip` is false). */
  path: string;
}

// This file runs as dist/test/helpers/tools.js: the repo root is three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TOOL_CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'llmproxy-tools');

function onPath(bin: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim();
  return { ok: r.status === 0, output };
}

/**
 * Unpacks `deb.path` from the package into the cache; returns the binary's path or why not.
 * Test files run in parallel processes: each unpacks into a folder of its own and renames it
 * into place, so none ever runs a binary another is still writing (ETXTBSY).
 */
function fromDeb(deb: { package: string; path: string }): { path?: string; problem?: string } {
  const root = join(TOOL_CACHE, deb.package);
  const target = join(root, deb.path);
  if (executable(target)) return { path: target };
  const work = join(TOOL_CACHE, `.download-${deb.package}-${process.pid}`);
  const unpacked = join(work, 'root');
  mkdirSync(work, { recursive: true });
  try {
    const dl = run('apt-get', ['download', deb.package], work);
    if (!dl.ok) return { problem: `apt-get download ${deb.package} failed: ${dl.output.slice(-300)}` };
    const file = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (file === undefined) return { problem: `apt-get download ${deb.package} left no .deb` };
    const x = run('dpkg-deb', ['-x', join(work, file), unpacked]);
    if (!x.ok) return { problem: `dpkg-deb -x failed: ${x.output.slice(-300)}` };
    if (!executable(join(unpacked, deb.path))) return { problem: `${deb.package} holds no ${deb.path}` };
    try {
      renameSync(unpacked, root);
    } catch (err) {
      // Another process put its copy in place first: use that one.
      if (!executable(target)) return { problem: `cannot move ${deb.package} into the tool cache: ${String(err)}` };
    }
    return { path: target };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const gates = new Map<string, ToolGate>();

export async function requireTool(spec: ToolSpec): Promise<ToolGate> {
  const cached = gates.get(spec.bin);
  if (cached) return cached;
  const tried: string[] = [];
  let path = onPath(spec.bin);
  if (path === undefined && spec.deb) {
    const got = fromDeb(spec.deb);
    path = got.path;
    if (got.problem) tried.push(got.problem);
  }
  if (path === undefined && spec.apt && spec.apt.length > 0) {
    if (process.getuid?.() !== 0) tried.push(`apt-get install ${spec.apt.join(' ')} needs root`);
    else {
      // Test files run in parallel: another one may hold the dpkg lock installing the same
      // tool, so wait for it instead of failing. A fresh image has no package lists yet.
      const install = () => run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...spec.apt!]);
      let r = install();
      if (!r.ok && /Unable to locate package|has no installation candidate/.test(r.output)) {
        const update = run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update']);
        r = update.ok ? install() : update;
      }
      if (!r.ok) tried.push(`apt-get install ${spec.apt.join(' ')} failed: ${r.output.slice(-300)}`);
      path = onPath(spec.bin);
    }
  }
  let gate: ToolGate;
  if (path !== undefined) gate = { skip: false, path };
  else {
    const reason = `${spec.bin} is not available (${tried.length > 0 ? tried.join('; ') : 'not on PATH'})`;
    if (process.env['CI'] === 'true') {
      test(`${spec.bin} is available (required under CI=true)`, () => {
        throw new Error(reason);
      });
    }
    gate = { skip: reason, path: '' };
  }
  gates.set(spec.bin, gate);
  return gate;
}
