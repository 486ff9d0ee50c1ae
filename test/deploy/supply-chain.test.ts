import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from './image-model.js';
import { auditVerdict, cycloneDxProblems, declaredLicence, licenceAllowed, npmPurl, type CycloneDxBom } from './supply-chain-checks.js';

/**
 * Supply-chain checks, run by `npm test` (and alone by `npm run supply-chain`), all on the
 * production dependency tree exactly as `npm ci --omit=dev` installs it (the image's tree),
 * staged in a clean folder:
 *
 * - `npm audit --omit=dev --audit-level=high`: a high or critical advisory fails. A registry
 *   that cannot be reached or refuses the audit is reported as a skipped test quoting npm's
 *   error, never a pass (this machine's registry answers 405 to the audit endpoint, which the
 *   project cannot change). Where the registry has one, LLMPROXY_AUDIT=required makes an audit
 *   that cannot run a failure.
 * - `npm sbom --sbom-format cyclonedx --omit dev` written to dist/sbom/llm-proxy-auth.cdx.json
 *   and checked: CycloneDX fields, purls, references, and exactly one component per production
 *   package of package-lock.json.
 * - every production package's licence (its own package.json) against
 *   scripts/licence-allowlist.json.
 *
 * The staged package.json has no devDependencies: `npm sbom --omit dev` in a tree that has them
 * drops production packages also reached from a dev dependency (npm/cli#7909: 53 of 241 here),
 * and in a tree without them installed it refuses to run (ESBOMPROBLEMS).
 */

const SBOM_FILE = join(REPO_ROOT, 'dist', 'sbom', 'llm-proxy-auth.cdx.json');
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string; devDependencies?: unknown };
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean; optional?: boolean }> };
const allowlist = JSON.parse(readFileSync(join(REPO_ROOT, 'scripts', 'licence-allowlist.json'), 'utf8')) as { allowed: string[]; exceptions: Record<string, string> };

/** Lock paths of the production packages (`node_modules/a`, `node_modules/a/node_modules/b`); optional ones only where installed. */
let productionPaths: string[] = [];
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

function npm(args: string[], cwd: string, timeoutMs: number): { code: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  const r = spawnSync('npm', args, { cwd, env: { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false' }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

describe('supply chain: the production dependencies', () => {
  let work: string;
  let staged: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'llmproxy-supply-'));
    staged = join(work, pkg.name); // npm names the SBOM's root component after the folder
    mkdirSync(staged);
    copyFileSync(join(REPO_ROOT, 'package.json'), join(staged, 'package.json'));
    copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(staged, 'package-lock.json'));
    // No install scripts: only the files matter here (the image test builds the addons).
    const ci = npm(['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], staged, 300_000);
    assert.equal(ci.code, 0, `npm ci --omit=dev: ${ci.stderr.slice(-1500)}`);
    const trimmed = JSON.parse(readFileSync(join(staged, 'package.json'), 'utf8')) as Record<string, unknown>;
    delete trimmed['devDependencies'];
    writeFileSync(join(staged, 'package.json'), JSON.stringify(trimmed, null, 2));
    productionPaths = Object.entries(lock.packages)
      .filter(([path, e]) => path !== '' && e.dev !== true && (e.optional !== true || existsSync(join(staged, path, 'package.json'))))
      .map(([path]) => path);
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('npm audit --omit=dev --audit-level=high: no high or critical advisory', (t) => {
    const r = npm(['audit', '--omit=dev', '--audit-level=high', '--json'], staged, 120_000);
    const verdict = auditVerdict(r.stdout, r.code, r.stderr);
    switch (verdict.kind) {
      case 'clean':
        t.diagnostic(`advisories by severity: ${JSON.stringify(verdict.counts)}`);
        return;
      case 'findings':
        assert.fail(`npm audit: high or critical advisories in production dependencies:\n  ${verdict.findings.join('\n  ')}`);
        break;
      case 'unavailable': {
        const reason = `npm audit could not run, so nothing was checked: ${verdict.reason}`;
        if (process.env['LLMPROXY_AUDIT'] === 'required') assert.fail(`${reason} (LLMPROXY_AUDIT=required)`);
        t.skip(reason);
      }
    }
  });

  test('npm sbom: CycloneDX JSON with exactly one component per production package, written to dist/sbom/', (t) => {
    const r = npm(['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'], staged, 120_000);
    assert.equal(r.code, 0, r.stderr.slice(-1500));
    const bom = JSON.parse(r.stdout) as CycloneDxBom;
    const expected = new Set(productionPaths.map((p) => `${nameOf(p)}@${lock.packages[p]!.version}`));
    assert.deepEqual(cycloneDxProblems(bom, pkg, expected), []);
    mkdirSync(join(SBOM_FILE, '..'), { recursive: true });
    writeFileSync(SBOM_FILE, `${JSON.stringify(bom, null, 2)}\n`);
    t.diagnostic(`${bom.components?.length} components, CycloneDX ${bom.specVersion}: ${SBOM_FILE}`);
  });

  test('licences: every production package is under a licence of scripts/licence-allowlist.json', (t) => {
    const allowed = new Set(allowlist.allowed);
    const refused: string[] = [];
    const byLicence = new Map<string, number>();
    for (const path of productionPaths) {
      const installed = JSON.parse(readFileSync(join(staged, path, 'package.json'), 'utf8')) as { name: string; version: string; license?: unknown; licenses?: unknown };
      const id = `${installed.name}@${installed.version}`;
      const licence = declaredLicence(installed);
      byLicence.set(licence ?? '(none)', (byLicence.get(licence ?? '(none)') ?? 0) + 1);
      if (allowlist.exceptions[id] !== undefined) continue;
      if (licence === undefined || !licenceAllowed(licence, allowed)) refused.push(`${id}: ${licence ?? 'no licence declared'}`);
    }
    t.diagnostic(`${productionPaths.length} packages: ${[...byLicence].map(([l, n]) => `${l} ${n}`).join(', ')}`);
    assert.deepEqual(refused, [], `production dependencies under licences outside scripts/licence-allowlist.json`);
    for (const id of Object.keys(allowlist.exceptions)) {
      assert.ok(productionPaths.some((p) => `${nameOf(p)}@${lock.packages[p]!.version}` === id), `exception ${id} names no production package: remove it`);
    }
  });
});

describe('supply chain: the checks themselves', () => {
  test('LICENSE is the Apache License 2.0 that package.json declares', () => {
    assert.equal(pkg.license, 'Apache-2.0');
    const text = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
    assert.match(text, /^\s+Apache License\n\s+Version 2\.0, January 2004\n\s+http:\/\/www\.apache\.org\/licenses\/\n/);
    assert.match(text, /END OF TERMS AND CONDITIONS/);
    assert.equal(text.split('\n').length, 203, 'the full text (202 lines), not an excerpt');
  });

  test('audit verdicts: a registry refusing the audit is "unavailable" with its message; high/critical findings fail; lower ones pass', () => {
    // What this machine's registry answered (npm 11, 2026-12): POST is not allowed on the bulk advisory endpoint.
    const refused = JSON.stringify({ message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', method: 'POST', statusCode: 405, body: '', error: { summary: '', detail: '' } });
    assert.deepEqual(auditVerdict(refused, 1), { kind: 'unavailable', reason: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk' });
    const offline = JSON.stringify({ error: { code: 'ENOTFOUND', summary: 'request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org', detail: '' } });
    assert.equal(auditVerdict(offline, 1).kind, 'unavailable');
    assert.match((auditVerdict(offline, 1) as { reason: string }).reason, /ENOTFOUND/);
    assert.equal(auditVerdict('', 1, 'npm error code ECONNREFUSED').kind, 'unavailable');

    const report = (severity: string) =>
      JSON.stringify({
        auditReportVersion: 2,
        vulnerabilities: { 'left-pad': { name: 'left-pad', severity, range: '<1.3.1', via: [{ title: 'Prototype pollution', url: 'https://github.com/advisories/GHSA-xxxx', severity }], effects: [] } },
        metadata: { vulnerabilities: { info: 0, low: 0, moderate: severity === 'moderate' ? 1 : 0, high: severity === 'high' ? 1 : 0, critical: severity === 'critical' ? 1 : 0, total: 1 } },
      });
    assert.deepEqual(auditVerdict(report('high'), 1), {
      kind: 'findings',
      findings: ['left-pad <1.3.1: high: Prototype pollution https://github.com/advisories/GHSA-xxxx'],
      counts: { info: 0, low: 0, moderate: 0, high: 1, critical: 0, total: 1 },
    });
    assert.equal(auditVerdict(report('critical'), 1).kind, 'findings');
    assert.equal(auditVerdict(report('moderate'), 0).kind, 'clean');
    assert.equal(auditVerdict(report('moderate'), 1).kind, 'findings', 'a non-zero exit is never read as clean');
    assert.equal(auditVerdict(JSON.stringify({ auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: { high: 0, critical: 0, total: 0 } } }), 0).kind, 'clean');
  });

  test('licence expressions: OR needs one allowed side, AND both; WITH, "+" and parentheses; anything else is refused', () => {
    const allowed = new Set(['MIT', 'Apache-2.0', 'BSD-3-Clause']);
    const cases: Array<[string, boolean]> = [
      ['MIT', true],
      ['GPL-3.0-only', false],
      ['(MIT OR GPL-3.0-only)', true],
      ['(AFL-2.1 OR BSD-3-Clause)', true],
      ['MIT AND GPL-3.0-only', false],
      ['MIT AND (Apache-2.0 OR GPL-2.0-only)', true],
      ['Apache-2.0 WITH LLVM-exception', true],
      ['GPL-2.0-only WITH Classpath-exception-2.0', false],
      ['Apache-2.0+', true],
      ['mit or gpl-3.0', false], // ids are case-sensitive in the allowlist
      ['SEE LICENSE IN LICENSE.txt', false],
      ['(MIT', false],
      ['', false],
    ];
    for (const [expr, want] of cases) assert.equal(licenceAllowed(expr, allowed), want, expr);
    assert.equal(declaredLicence({ license: { type: 'MIT' } }), 'MIT');
    assert.equal(declaredLicence({ licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }), '(MIT OR Apache-2.0)');
    assert.equal(declaredLicence({}), undefined);
  });

  test('SBOM check: a missing production package, an extra dev package or a dangling reference is a problem', () => {
    const comp = (name: string, version: string) => ({ 'bom-ref': `${name}@${version}`, type: 'library', name, version, purl: npmPurl(name, version), licenses: [{ license: { id: 'MIT' } }] });
    const bom: CycloneDxBom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      serialNumber: 'urn:uuid:1902b0c3-5510-4c6a-8db1-a3a4741dcf29',
      version: 1,
      metadata: { component: { ...comp('llm-proxy-auth', '0.1.0'), type: 'application' } },
      components: [comp('zod', '4.6.7'), comp('@aws-sdk/core', '3.981.0')],
      dependencies: [{ ref: 'llm-proxy-auth@0.1.0', dependsOn: ['zod@4.6.7', '@aws-sdk/core@3.981.0'] }],
    };
    const root = { name: 'llm-proxy-auth', version: '0.1.0' };
    assert.deepEqual(cycloneDxProblems(bom, root, new Set(['zod@4.6.7', '@aws-sdk/core@3.981.0'])), []);
    assert.equal(npmPurl('@aws-sdk/core', '3.981.0'), 'pkg:npm/%40aws-sdk/core@3.981.0');
    assert.deepEqual(cycloneDxProblems(bom, root, new Set(['zod@4.6.7', '@aws-sdk/core@3.981.0', 'pg@8.23.1'])), ['missing component pg@8.23.1']);
    assert.deepEqual(cycloneDxProblems({ ...bom, components: [...bom.components!, comp('typescript', '5.9.3')] }, root, new Set(['zod@4.6.7', '@aws-sdk/core@3.981.0'])), [
      'unexpected component typescript@5.9.3 (not a production dependency)',
    ]);
    assert.deepEqual(cycloneDxProblems({ ...bom, dependencies: [{ ref: 'llm-proxy-auth@0.1.0', dependsOn: ['pino@10.4.0'] }] }, root, new Set(['zod@4.6.7', '@aws-sdk/core@3.981.0'])), [
      'dependencies: llm-proxy-auth@0.1.0 depends on unknown pino@10.4.0',
    ]);
    assert.ok(cycloneDxProblems({ ...bom, bomFormat: 'SPDX' }, root, new Set(['zod@4.6.7', '@aws-sdk/core@3.981.0'])).includes('bomFormat is SPDX'));
  });
});
