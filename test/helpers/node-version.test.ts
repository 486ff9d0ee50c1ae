import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { enginesMinMajor, NEEDS_NODE_PREFIX, NODE_MAJOR, requiresNode, requiresNodeFor } from './node-version.js';

// The multi-Node test plumbing (scripts/run-tests.mjs and friends), checked on whichever Node runs it.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPTS = join(REPO_ROOT, 'scripts');

/** Env for a child Node that must not think it is part of this test run. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

describe('node version gates', () => {
  test('enginesMinMajor reads the lowest admitted major', () => {
    const cases: [string, number | undefined][] = [
      ['>=22', 22],
      ['>=18.0.0', 18],
      ['>= 20.18.1', 20],
      ['^20.19.0 || >=22.12.0', 20],
      ['20.x || 22.x || 23.x || 24.x', 20],
      ['18 - 24', 18],
      ['>=20 <25', 20],
      ['v22', 22],
      ['*', undefined],
      ['', undefined],
      ['<22', undefined],
      ['>=22 || *', undefined],
    ];
    for (const [range, expected] of cases) assert.equal(enginesMinMajor(range), expected, range);
  });

  test('requiresNode passes on this Node and skips with the runner-visible prefix above it', () => {
    assert.deepEqual(requiresNode(NODE_MAJOR), { skip: false });
    assert.deepEqual(requiresNode(NODE_MAJOR - 1), { skip: false });
    const gate = requiresNode(NODE_MAJOR + 1, 'some-client engines >=99');
    assert.equal(typeof gate.skip, 'string');
    assert.ok((gate.skip as string).startsWith(`${NEEDS_NODE_PREFIX}${NODE_MAJOR + 1} (some-client engines >=99); this is Node ${process.version}`), String(gate.skip));
  });

  test('requiresNodeFor follows the installed packages’ engines', () => {
    // undici's engines (>=20.18.1) are the gateway's own floor, so this Node always satisfies them.
    assert.deepEqual(requiresNodeFor('undici'), { skip: false });
    const ai = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'ai', 'package.json'), 'utf8')) as { engines: { node: string } };
    const needed = enginesMinMajor(ai.engines.node)!;
    const gate = requiresNodeFor('undici', 'ai');
    if (NODE_MAJOR >= needed) assert.deepEqual(gate, { skip: false });
    else assert.ok(String(gate.skip).startsWith(`${NEEDS_NODE_PREFIX}${needed} (ai engines ${ai.engines.node})`), String(gate.skip));
  });
});

describe('test-run plumbing (scripts/)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-nodes-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A stand-in for the compiled better-sqlite3 copy, recording the ABI it claims. */
  function fakeCopy(name: string, modules: string): string {
    const copy = join(dir, name);
    mkdirSync(join(copy, 'lib'), { recursive: true });
    writeFileSync(join(copy, 'package.json'), '{"name":"better-sqlite3","main":"lib/index.js"}');
    // Shaped like better-sqlite3: a constructor re-exported through a relative require().
    writeFileSync(join(copy, 'lib', 'database.js'), `function Database() {}\nDatabase.redirectedTo = ${JSON.stringify(name)};\nmodule.exports = Database;\n`);
    writeFileSync(join(copy, 'lib', 'index.js'), `module.exports = require('./database');\n`);
    writeFileSync(join(copy, 'llmproxy-abi.json'), JSON.stringify({ node: 'test', modules }));
    return copy;
  }

  /** What `better-sqlite3` resolves to in a child with the redirect preloaded, by import and by require. */
  function resolveInChild(copy: string): { imported: string; required: string } {
    const script = `import { createRequire } from 'node:module';
const m = await import('better-sqlite3');
const r = createRequire(${JSON.stringify(join(REPO_ROOT, 'package.json'))})('better-sqlite3');
const seen = (exported) => typeof exported !== 'function' ? 'not a constructor: ' + typeof exported : exported.redirectedTo ?? 'installed';
console.log(JSON.stringify({ imported: seen(m.default), required: seen(r) }));`;
    const file = join(REPO_ROOT, 'dist', `redirect-probe-${process.pid}.mjs`);
    writeFileSync(file, script);
    try {
      const r = spawnSync(process.execPath, [file], {
        env: cleanEnv({ NODE_OPTIONS: `--import=${pathToFileURL(join(SCRIPTS, 'addon-redirect.mjs')).href}`, LLMPROXY_TEST_BETTER_SQLITE3: copy }),
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim()) as { imported: string; required: string };
    } finally {
      rmSync(file, { force: true });
    }
  }

  test('the addon redirect points better-sqlite3 at a copy built for this ABI', () => {
    const copy = fakeCopy('same-abi', process.versions.modules);
    const seen = resolveInChild(copy);
    assert.equal(seen.imported, 'same-abi');
    // registerHooks (Node >= 22.15) also covers require(); Node 20's off-thread hooks cover import only.
    if (typeof (module as { registerHooks?: unknown }).registerHooks === 'function') assert.equal(seen.required, 'same-abi');
  });

  test('the addon redirect leaves resolution alone for a copy of another ABI', () => {
    const copy = fakeCopy('other-abi', String(Number(process.versions.modules) + 1));
    assert.deepEqual(resolveInChild(copy), { imported: 'installed', required: 'installed' });
  });

  /** Runs a copy of scripts/run-tests.mjs over a fixture project holding the given compiled test files. */
  function runRunner(name: string, tests: Record<string, string>, env: Record<string, string>): { code: number | null; out: string } {
    const project = join(dir, name);
    mkdirSync(join(project, 'scripts'), { recursive: true });
    mkdirSync(join(project, 'dist', 'x'), { recursive: true });
    for (const f of ['run-tests.mjs', 'test-nodes.mjs', 'test-summary-reporter.mjs', 'addon-redirect.mjs']) copyFileSync(join(SCRIPTS, f), join(project, 'scripts', f));
    writeFileSync(join(project, 'package.json'), '{"type":"module","private":true}');
    for (const [file, body] of Object.entries(tests)) writeFileSync(join(project, 'dist', 'x', file), body);
    const r = spawnSync(process.execPath, [join(project, 'scripts', 'run-tests.mjs')], { env: cleanEnv(env), encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  }

  const PASSING = `import { test } from 'node:test';\ntest('a', () => {});\n`;
  const TOO_NEW = `import { test } from 'node:test';\ntest('needs the future', { skip: '${NEEDS_NODE_PREFIX}999 (fixture)' }, () => {});\n`;
  const SUITE_TOO_NEW = `import { describe, test } from 'node:test';\ndescribe('suite of the future', { skip: '${NEEDS_NODE_PREFIX}999 (fixture)' }, () => { test('inner', () => {}); });\n`;

  test('the runner summarises each Node and fails when a test fails', () => {
    const ok = runRunner('green', { 'a.test.js': PASSING }, { LLMPROXY_TEST_NODES: 'current', CI: 'false' });
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, new RegExp(`ok {4}Node ${process.version.replace(/\./g, '\\.')} \\(this machine's\\): 1 tests, 1 pass, 0 fail`));
    const bad = runRunner('red', { 'a.test.js': PASSING, 'b.test.js': `import { test } from 'node:test';\ntest('b', () => { throw new Error('no'); });\n` }, { LLMPROXY_TEST_NODES: 'current', CI: 'false' });
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.out, /FAIL {2}Node v[\d.]+ \(this machine's\): 2 tests, 1 pass, 1 fail/);
    assert.match(bad.out, /npm test FAILED/);
  });

  test('a test skipped for its Node on every Node that ran is a note outside CI and a failure under CI', () => {
    const local = runRunner('uncovered-local', { 'a.test.js': PASSING, 'n.test.js': TOO_NEW }, { LLMPROXY_TEST_NODES: 'current', CI: 'false' });
    assert.equal(local.code, 0, local.out);
    assert.match(local.out, /note: needs the future \(dist\/x\/n\.test\.js\) was skipped on every Node that ran/);
    const ci = runRunner('uncovered-ci', { 'a.test.js': PASSING, 'n.test.js': TOO_NEW }, { LLMPROXY_TEST_NODES: 'current', CI: 'true' });
    assert.equal(ci.code, 1, ci.out);
    assert.match(ci.out, /npm test FAILED:\n {2}- needs the future \(dist\/x\/n\.test\.js\) was skipped on every Node that ran: needs Node >= 999/);
    // requiresNode usually gates a whole describe(), which node:test reports as one skipped suite.
    const suite = runRunner('uncovered-suite', { 'a.test.js': PASSING, 's.test.js': SUITE_TOO_NEW }, { LLMPROXY_TEST_NODES: 'current', CI: 'true' });
    assert.equal(suite.code, 1, suite.out);
    assert.match(suite.out, /skipped 1× suite needs Node >= 999 \(fixture\)/);
    assert.match(suite.out, /- suite of the future \(dist\/x\/s\.test\.js\) was skipped on every Node that ran/);
  });

  test('LLMPROXY_TEST_NODES rejects what it does not know', () => {
    const r = runRunner('bad-knob', { 'a.test.js': PASSING }, { LLMPROXY_TEST_NODES: 'current,21' });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /LLMPROXY_TEST_NODES: unknown "21"/);
  });

  test('the summary reporter records totals and skip reasons', () => {
    const file = join(dir, 'fixture.test.mjs');
    writeFileSync(
      file,
      `import { test } from 'node:test';
test('runs', () => {});
test('too new', { skip: '${NEEDS_NODE_PREFIX}99 (fixture)' }, () => {});
test('bare skip', { skip: true }, () => {});`,
    );
    const out = join(dir, 'summary.json');
    const r = spawnSync(
      process.execPath,
      ['--test', '--test-reporter=dot', '--test-reporter-destination=stdout', `--test-reporter=${pathToFileURL(join(SCRIPTS, 'test-summary-reporter.mjs')).href}`, `--test-reporter-destination=${out}`, file],
      { env: cleanEnv({}), encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const summary = JSON.parse(readFileSync(out, 'utf8')) as { totals: Record<string, number>; skippedCount: number; skipped: { name: string; reason: string }[] };
    assert.equal(summary.totals['tests'], 3);
    assert.equal(summary.totals['pass'], 1); // node:test counts skipped tests apart from passed ones
    assert.equal(summary.totals['skipped'], 2);
    assert.equal(summary.totals['fail'], 0);
    assert.equal(summary.skippedCount, 2);
    assert.deepEqual(
      summary.skipped.map((s) => [s.name, s.reason]),
      [
        ['too new', `${NEEDS_NODE_PREFIX}99 (fixture)`],
        ['bare skip', ''],
      ],
    );
  });
});
