import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { DEMO_CONFIG } from '../providers/demo/config.js';
import { applyOverrides, environmentOverrides, flagOverrides, layerOverrides, under, type ListenFlags, type Override, type OverrideEntry } from './env.js';
import { expandEnvReferences } from './expand.js';
import { configSchema, type Config } from './schema.js';

export type { ListenFlags, Override };

export interface LoadedConfig {
  config: Config;
  /** Where it came from: a file path, or "built-in demo". */
  source: string;
  /** Relative paths in the config resolve against this folder. */
  baseDir: string;
  /**
   * Values that did not come from the file: environment variables, flags, `${env:...}` in plain
   * fields (for `config check` and the startup log). Absent when built without loadConfig.
   */
  overrides?: readonly Override[];
}

export interface LoadOptions {
  /** Where `PORT`, `LLMPROXY_SERVER_*`, `${env:...}` are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** `--host` / `--port`: beat the environment. */
  flags?: ListenFlags;
}

/** A config that failed validation; `problems` are `path: message` lines. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** `--config`, else `LLMPROXY_CONFIG`, else `./llmproxy.yaml` if present, else the built-in demo. */
export function locateConfig(flag: string | undefined, env = process.env, cwd = process.cwd()): string | undefined {
  if (flag) return resolve(cwd, flag);
  if (env['LLMPROXY_CONFIG']) return resolve(cwd, env['LLMPROXY_CONFIG']);
  const local = resolve(cwd, 'llmproxy.yaml');
  return existsSync(local) ? local : undefined;
}

/**
 * The file (or the built-in demo) with the environment and `flags` applied on top, then
 * validated: flag > environment > file > default. `${env:NAME}` in plain fields is expanded.
 */
export function loadConfig(path: string | undefined, cwd = process.cwd(), options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  let raw: unknown = DEMO_CONFIG;
  let source = 'built-in demo';
  let baseDir = cwd;
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(path, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
    }
    raw = parseYaml(text, path);
    source = path;
    baseDir = dirname(path);
  }
  const fromEnv = environmentOverrides(env, cwd);
  const entries = layerOverrides(fromEnv.entries, flagOverrides(options.flags ?? {}));
  const { config, overrides } = build(raw, source, env, entries, fromEnv.problems);
  return { config, source, baseDir, overrides };
}

/** A YAML text validated as a config; `${env:NAME}` in plain fields is read from `env`. No server overrides. */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  return validate(parseYaml(text, source), source, env);
}

/** A config object (as YAML would give it) validated; `${env:NAME}` in plain fields is read from `env`. */
export function validate(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  return build(raw, source, env, [], []).config;
}

function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  return doc.toJS() ?? {};
}

function build(raw: unknown, source: string, env: NodeJS.ProcessEnv, entries: readonly OverrideEntry[], problems: string[]): { config: Config; overrides: Override[] } {
  const overridden = entries.map((e) => e.path.join('.'));
  const isOverridden = (path: string) => overridden.some((p) => under(path, p));
  // A field an override replaces keeps no file value, so a reference in it neither fails nor counts.
  const expansion = expandEnvReferences(configSchema, raw, env);
  const expansionProblems = expansion.problems.filter((p) => !isOverridden(p.path));
  const lines = [...problems, ...expansionProblems.map((p) => `${p.path}: ${p.message}`)];

  // reportInput lets "required" be told from "wrong type"; inputs are never printed (they may be secrets).
  const result = configSchema.safeParse(applyOverrides(expansion.value, entries), { reportInput: true });
  if (!result.success) {
    for (const issue of issueLines(result.error.issues)) {
      // The field whose reference could not be expanded has already been reported.
      if (expansionProblems.some((p) => under(issue.path, p.path))) continue;
      const entry = entries.filter((e) => under(issue.path, e.path.join('.'))).at(-1);
      if (entry === undefined) lines.push(`${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`);
      else {
        // An override's text is not a secret (server block, log level): showing it helps.
        const got = entry.override.value !== undefined && !issue.message.includes('(got ') ? ` (got "${entry.override.value}")` : '';
        lines.push(`${entry.label} (${issue.path}): ${issue.message}${got}`);
      }
    }
  }
  if (lines.length > 0 || !result.success) throw new ConfigError(source, lines);
  const references: Override[] = expansion.references
    .filter((r) => !isOverridden(r.path))
    .map((r) => ({ path: r.path, source: `${r.defaulted ? 'env-default' : 'env'}:${r.variable}`, kind: 'reference' }));
  return { config: result.data, overrides: [...entries.map((e) => e.override), ...references] };
}

/** `instances.bedrock_us1.authentication.role_arn: required`-style lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issueLines(issues).map((i) => `${i.path === '' ? '(root)' : i.path}: ${i.message}`);
}

/**
 * Fields the seed documents spell that this gateway names otherwise: instead of a bare "unknown
 * field", the error says what replaces them.
 */
const REPLACED_FIELDS: Readonly<Record<string, string>> = {
  access_control:
    'unknown field: RBAC is configured under "rbac": custom roles as rbac.roles.<name>.permissions (admin, developer and viewer are built in and cannot be redefined), ' +
    'and the roles of OIDC subjects and users as rbac.assignments ("alice@example.com": [admin], "oidc:<issuer>#<sub>": [viewer])',
};

function issueLines(issues: readonly z.core.$ZodIssue[]): Array<{ path: string; message: string }> {
  const lines: Array<{ path: string; message: string }> = [];
  for (const issue of issues) {
    const path = issue.path.map(String).join('.');
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const k of issue.keys) {
          const full = `${path ? `${path}.` : ''}${k}`;
          lines.push({ path: full, message: Object.hasOwn(REPLACED_FIELDS, full) ? REPLACED_FIELDS[full]! : 'unknown field' });
        }
        break;
      case 'invalid_type':
        lines.push({ path, message: issue.input === undefined ? 'required' : `expected ${issue.expected}` });
        break;
      case 'invalid_union':
        if ('discriminator' in issue && Array.isArray((issue as { options?: unknown[] }).options)) {
          const options = (issue as unknown as { options: unknown[] }).options.map(String).join(', ');
          lines.push({ path, message: `must be one of ${options}` });
        } else {
          lines.push({ path, message: issue.message });
        }
        break;
      default:
        lines.push({ path, message: issue.message });
    }
  }
  return lines;
}
