#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's built-in runner, on this machine's
// Node and then on the pinned Node 22 and 24 LTS releases (scripts/test-nodes.mjs fetches them
// from the npm registry and builds better-sqlite3 for them; scripts/addon-redirect.mjs makes
// those runs load that build). Every run uses the same compiled dist/.
// Node 20's --test does not expand globs, so the files are listed here.
//
// Usage: node scripts/run-tests.mjs [substring filter ...]
//   LLMPROXY_TEST_NODES  which Nodes: "all" (current,22,24), "current", or a list such as "22,24".
//                        Default: all for the whole suite, current when filtering.
//   CI=true              a Node that cannot be fetched or built fails the run (outside CI it is
//                        reported and skipped), as does a test that needs a newer Node and was
//                        skipped on every Node that ran.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PINNED_NODES, prepareNode } from './test-nodes.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const CI = process.env.CI === 'true';
/** The prefix test/helpers/node-version.ts gives a skip for a too-old Node. */
const NEEDS_NODE = 'needs Node >= ';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk(dist, [])
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'}; run "npm run build" first`);
  process.exit(1);
}

const currentMajor = Number(process.versions.node.split('.')[0]);
const wanted = selectNodes(process.env.LLMPROXY_TEST_NODES ?? (filters.length === 0 ? 'all' : 'current'));
const problems = [];
/** Nodes that could not be prepared outside CI: reported, not run. */
const unavailable = [];

/** @type {{ label: string, node: string, env: NodeJS.ProcessEnv }[]} */
const runs = [];
if (wanted.current) runs.push({ label: `Node ${process.version} (this machine's)`, node: process.execPath, env: withoutTestHooks(process.env) });
for (const major of wanted.majors) {
  if (wanted.current && major === currentMajor) {
    console.log(`Node ${major}: this machine's Node is already ${process.version}; not run twice`);
    continue;
  }
  try {
    const started = Date.now();
    const prepared = prepareNode(major, (line) => console.log(`Node ${major}: ${line}`));
    if (Date.now() - started > 1000) console.log(`Node ${major}: ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    runs.push({ label: `Node v${prepared.version} (${relative(root, prepared.node)})`, node: prepared.node, env: alternateEnv(prepared) });
  } catch (err) {
    const message = `Node ${major} is unavailable: ${err instanceof Error ? err.message : String(err)}`;
    console.error(`\n${'!'.repeat(78)}\n${message}\n${CI ? 'CI=true: this fails the run.' : `Its run is SKIPPED (outside CI). Set LLMPROXY_TEST_NODES=current to silence this.`}\n${'!'.repeat(78)}\n`);
    // Under CI, fail before spending minutes on runs whose result cannot make the build green.
    if (CI) process.exit(1);
    unavailable.push(`Node ${major}`);
  }
}

const summaryDir = mkdtempSync(join(tmpdir(), 'llmproxy-test-summary-'));
const results = [];
try {
  for (const [i, run] of runs.entries()) results.push(runSuite(run, join(summaryDir, `${i}.json`)));
} finally {
  rmSync(summaryDir, { recursive: true, force: true });
}

console.log(`\n${'='.repeat(78)}\nTest runs (${files.length} files${filters.length > 0 ? `, filter: ${filters.join(' ')}` : ''})`);
for (const r of results) {
  const t = r.summary?.totals ?? {};
  const counts = r.summary ? `${t.tests ?? '?'} tests, ${t.pass ?? '?'} pass, ${t.fail ?? '?'} fail, ${t.cancelled ?? 0} cancelled, ${t.skipped ?? '?'} skipped, ${t.todo ?? 0} todo` : 'no summary (the runner did not finish)';
  console.log(`  ${r.ok ? 'ok  ' : 'FAIL'}  ${r.label}: ${counts}; ${(r.ms / 1000).toFixed(0)} s`);
  for (const [reason, n] of groupSkips(r.summary?.skipped ?? [])) console.log(`          skipped ${n}× ${reason}`); // "suite …": a whole describe()
  if (!r.ok) problems.push(`${r.label}: the suite failed (exit ${r.status})`);
}
for (const node of unavailable) console.log(`  NOT RUN  ${node}: unavailable (see the message above)`);
for (const test of uncovered(results)) {
  const message = `${test.name} (${test.file ? relative(root, test.file) : 'unknown file'}) was skipped on every Node that ran: ${test.reason}`;
  if (CI) problems.push(message);
  else console.log(`  note: ${message}`);
}
if (problems.length > 0) {
  console.log(`\nnpm test FAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(results.length === 0 ? 'nothing ran' : unavailable.length > 0 ? `the runs passed, but ${unavailable.join(' and ')} did not run` : 'all runs passed');
process.exit(results.length > 0 ? 0 : 1);

/** Parses LLMPROXY_TEST_NODES ("all", "current", "22,24", "current,24"). */
function selectNodes(spec) {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const majors = new Set();
  let current = false;
  for (const part of parts) {
    if (part === 'all') {
      current = true;
      for (const m of Object.keys(PINNED_NODES)) majors.add(Number(m));
    } else if (part === 'current') current = true;
    else if (/^\d+$/.test(part) && PINNED_NODES[part]) majors.add(Number(part));
    else {
      console.error(`LLMPROXY_TEST_NODES: unknown "${part}" (use all, current or one of ${Object.keys(PINNED_NODES).join(', ')})`);
      process.exit(2);
    }
  }
  if (!current && majors.size === 0) {
    console.error('LLMPROXY_TEST_NODES selects no Node');
    process.exit(2);
  }
  return { current, majors: [...majors].sort((a, b) => a - b) };
}

function withoutTestHooks(env) {
  const out = { ...env };
  delete out.LLMPROXY_TEST_BETTER_SQLITE3;
  delete out.LLMPROXY_TEST_PRELOAD;
  return out;
}

/** The alternate Node first on PATH (so `node` and npm's shebang mean it too) and the addon redirect preloaded everywhere. */
function alternateEnv(prepared) {
  const preload = pathToFileURL(join(root, 'scripts', 'addon-redirect.mjs')).href;
  const env = withoutTestHooks(process.env);
  env.PATH = `${prepared.binDir}:${env.PATH ?? ''}`;
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ? `${env.NODE_OPTIONS} ` : ''}--import=${preload}`;
  env.LLMPROXY_TEST_BETTER_SQLITE3 = prepared.betterSqlite3;
  // test/helpers/cli.ts strips NODE_OPTIONS from the gateways it starts, then restores this.
  env.LLMPROXY_TEST_PRELOAD = preload;
  return env;
}

function runSuite(run, summaryFile) {
  console.log(`\n${'='.repeat(78)}\n${run.label}: ${files.length} test files\n${'='.repeat(78)}`);
  const started = Date.now();
  const result = spawnSync(
    run.node,
    [
      '--enable-source-maps', '--test', '--test-concurrency=3',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      `--test-reporter=${pathToFileURL(join(root, 'scripts', 'test-summary-reporter.mjs')).href}`, `--test-reporter-destination=${summaryFile}`,
      ...files,
    ],
    { stdio: 'inherit', cwd: root, env: run.env },
  );
  let summary;
  try {
    summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  } catch {
    summary = undefined;
  }
  if (result.error) console.error(`${run.label}: ${result.error.message}`);
  return { label: run.label, ok: result.status === 0, status: result.status ?? result.signal, ms: Date.now() - started, summary };
}

function groupSkips(skipped) {
  const counts = new Map();
  for (const s of skipped) {
    const reason = `${s.suite ? 'suite ' : ''}${s.reason || '(no reason given)'}`;
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

/** Tests skipped for a too-old Node in every run: no run covered them. */
function uncovered(all) {
  if (all.length === 0 || all.some((r) => !r.summary)) return [];
  const key = (s) => `${s.file}\u0000${s.name}`;
  const [first, ...rest] = all.map((r) => new Map(r.summary.skipped.filter((s) => s.reason.startsWith(NEEDS_NODE)).map((s) => [key(s), s])));
  return [...first.values()].filter((s) => rest.every((m) => m.has(key(s))));
}
