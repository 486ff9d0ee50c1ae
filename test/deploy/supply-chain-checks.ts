/**
 * The supply-chain checks as pure functions over what npm prints and installs, so each verdict
 * can be tested on recorded outputs (a registry refusing the audit, a report with findings) as
 * well as run for real by supply-chain.test.ts.
 *
 * @example
 * const verdict = auditVerdict(stdout, exitCode);
 * if (verdict.kind === 'findings') throw new Error(verdict.findings.join('\n'));
 */

export type AuditVerdict =
  | { kind: 'clean'; counts: Record<string, number> }
  | { kind: 'findings'; findings: string[]; counts: Record<string, number> }
  /** npm could not get an answer (registry unreachable, endpoint refused): nothing was checked. */
  | { kind: 'unavailable'; reason: string };

const FAILING = new Set(['high', 'critical']);

interface AuditReport {
  auditReportVersion?: number;
  vulnerabilities?: Record<string, { name: string; severity: string; range?: string; via?: Array<string | { title?: string; url?: string; severity?: string }> }>;
  metadata?: { vulnerabilities?: Record<string, number> };
  message?: string;
  statusCode?: number;
  error?: { code?: string; summary?: string; detail?: string };
}

/** `npm audit --json` output and exit code -> clean, findings at high/critical, or unavailable. */
export function auditVerdict(stdout: string, exitCode: number | null, stderr = ''): AuditVerdict {
  let report: AuditReport;
  try {
    report = JSON.parse(stdout) as AuditReport;
  } catch {
    const line = `${stderr}\n${stdout}`.trim().split('\n').filter((l) => l.trim() !== '').at(-1) ?? `exit ${exitCode}`;
    return { kind: 'unavailable', reason: `npm audit printed no report: ${line}` };
  }
  const counts = report.metadata?.vulnerabilities;
  if (report.auditReportVersion === undefined || counts === undefined) {
    const what = report.message ?? report.error?.summary ?? report.error?.code ?? JSON.stringify(report).slice(0, 300);
    return { kind: 'unavailable', reason: `${what}${report.error?.detail ? ` (${report.error.detail})` : ''}` };
  }
  const findings = Object.values(report.vulnerabilities ?? {})
    .filter((v) => FAILING.has(v.severity))
    .map((v) => {
      const advisories = (v.via ?? []).flatMap((a) => (typeof a === 'string' ? [`via ${a}`] : [`${a.title ?? 'advisory'}${a.url ? ` ${a.url}` : ''}`]));
      return `${v.name}${v.range ? ` ${v.range}` : ''}: ${v.severity}: ${advisories.join('; ')}`;
    });
  if (findings.length > 0) return { kind: 'findings', findings, counts };
  // --audit-level=high exits non-zero only for high/critical; anything else means npm saw a problem it did not report.
  if (exitCode !== 0) return { kind: 'findings', findings: [`npm audit exited ${exitCode} without a high or critical finding in its report`], counts };
  return { kind: 'clean', counts };
}

/**
 * Whether an SPDX licence expression is acceptable: `A OR B` needs one allowed side, `A AND B`
 * both, parentheses group, `WITH <exception>` keeps the licence's verdict (an exception only adds
 * permissions), `X+` is judged as `X`. Anything else (legacy strings, `SEE LICENSE IN ...`) is not.
 */
export function licenceAllowed(expression: string, allowed: ReadonlySet<string>): boolean {
  const tokens = expression.match(/\(|\)|[^\s()]+/g) ?? [];
  let i = 0;
  const fail = (): never => {
    throw new Error(`not an SPDX expression: ${expression}`);
  };
  const atom = (): boolean => {
    const t = tokens[i++] ?? fail();
    if (t === '(') {
      const v = or();
      if (tokens[i++] !== ')') fail();
      return v;
    }
    if (/^(AND|OR|WITH)$/i.test(t) || t === ')') fail();
    if (tokens[i]?.toUpperCase() === 'WITH') i += 2;
    return allowed.has(t.replace(/\+$/, ''));
  };
  const and = (): boolean => {
    let v = atom();
    while (tokens[i]?.toUpperCase() === 'AND') {
      i++;
      v = atom() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (tokens[i]?.toUpperCase() === 'OR') {
      i++;
      v = and() || v;
    }
    return v;
  };
  try {
    const v = or();
    return i === tokens.length && v;
  } catch {
    return false;
  }
}

/** The licence a package.json declares, as one SPDX-style string (legacy object and array forms joined with OR). */
export function declaredLicence(pkg: { license?: unknown; licenses?: unknown }): string | undefined {
  const one = (l: unknown): string | undefined => (typeof l === 'string' ? l : l && typeof l === 'object' && typeof (l as { type?: unknown }).type === 'string' ? (l as { type: string }).type : undefined);
  const direct = one(pkg.license);
  if (direct) return direct;
  if (Array.isArray(pkg.licenses)) {
    const all = pkg.licenses.map(one).filter((l): l is string => l !== undefined);
    if (all.length > 0) return all.length === 1 ? all[0] : `(${all.join(' OR ')})`;
  }
  return undefined;
}

export interface CycloneDxComponent {
  'bom-ref'?: string;
  type?: string;
  name?: string;
  version?: string;
  purl?: string;
  licenses?: Array<{ license?: { id?: string; name?: string }; expression?: string }>;
}

export interface CycloneDxBom {
  bomFormat?: string;
  specVersion?: string;
  serialNumber?: string;
  version?: number;
  metadata?: { component?: CycloneDxComponent; timestamp?: string };
  components?: CycloneDxComponent[];
  dependencies?: Array<{ ref?: string; dependsOn?: string[] }>;
}

const COMPONENT_TYPES = new Set(['application', 'framework', 'library', 'container', 'platform', 'operating-system', 'device', 'device-driver', 'firmware', 'file', 'machine-learning-model', 'data', 'cryptographic-asset']);

/** The purl of an npm package (`@scope/name` -> `pkg:npm/%40scope/name@version`). */
export function npmPurl(name: string, version: string): string {
  return `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${version}`;
}

/**
 * Problems with a CycloneDX JSON BOM against the fields the specification requires (1.4-1.6),
 * the root component, purls, reference integrity, and the expected package set (`name@version`).
 */
export function cycloneDxProblems(bom: CycloneDxBom, root: { name: string; version: string }, expected: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  if (bom.bomFormat !== 'CycloneDX') problems.push(`bomFormat is ${bom.bomFormat}`);
  if (!['1.4', '1.5', '1.6'].includes(bom.specVersion ?? '')) problems.push(`specVersion ${bom.specVersion}`);
  if (!/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(bom.serialNumber ?? '')) problems.push(`serialNumber ${bom.serialNumber}`);
  if (!Number.isInteger(bom.version) || (bom.version ?? 0) < 1) problems.push(`version ${bom.version}`);
  const main = bom.metadata?.component;
  if (main?.name !== root.name || main.version !== root.version) problems.push(`metadata.component is ${main?.name}@${main?.version}, expected ${root.name}@${root.version}`);
  if (main?.purl !== npmPurl(root.name, root.version)) problems.push(`metadata.component.purl ${main?.purl}`);
  const refs = new Set<string>();
  if (main?.['bom-ref']) refs.add(main['bom-ref']);
  const seen = new Set<string>();
  for (const c of bom.components ?? []) {
    const id = `${c.name}@${c.version}`;
    if (!c.name || !c.version) problems.push(`component without name or version: ${JSON.stringify(c).slice(0, 120)}`);
    if (!COMPONENT_TYPES.has(c.type ?? '')) problems.push(`${id}: type ${c.type}`);
    if (!c['bom-ref'] || refs.has(c['bom-ref'])) problems.push(`${id}: missing or duplicate bom-ref ${c['bom-ref']}`);
    else refs.add(c['bom-ref']);
    if (c.purl !== npmPurl(c.name ?? '', c.version ?? '')) problems.push(`${id}: purl ${c.purl}`);
    if (!c.licenses || c.licenses.length === 0) problems.push(`${id}: no licence`);
    seen.add(id);
  }
  for (const d of bom.dependencies ?? []) {
    if (!d.ref || !refs.has(d.ref)) problems.push(`dependencies: unknown ref ${d.ref}`);
    for (const on of d.dependsOn ?? []) if (!refs.has(on)) problems.push(`dependencies: ${d.ref} depends on unknown ${on}`);
  }
  for (const id of expected) if (!seen.has(id)) problems.push(`missing component ${id}`);
  for (const id of seen) if (!expected.has(id)) problems.push(`unexpected component ${id} (not a production dependency)`);
  return problems;
}
