import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { DEMO_CONFIG } from './demo.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  config: Config;
  /** Where it came from: a file path, or "built-in demo". */
  source: string;
  /** Relative paths in the config resolve against this folder. */
  baseDir: string;
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

export function loadConfig(path: string | undefined, cwd = process.cwd()): LoadedConfig {
  if (path === undefined) return { config: validate(DEMO_CONFIG, 'built-in demo'), source: 'built-in demo', baseDir: cwd };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return { config: parseConfigText(text, path), source: path, baseDir: dirname(path) };
}

export function parseConfigText(text: string, source: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  return validate(doc.toJS() ?? {}, source);
}

export function validate(raw: unknown, source: string): Config {
  // reportInput lets "required" be told from "wrong type"; inputs are never printed (they may be secrets).
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(source, formatIssues(result.error.issues));
}

/** `instances.bedrock_us1.authentication.role_arn: required`-style lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String).join('.');
    const at = (p: string) => (p === '' ? '(root)' : p);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const k of issue.keys) lines.push(`${path ? `${path}.` : ''}${k}: unknown field`);
        break;
      case 'invalid_type':
        lines.push(`${at(path)}: ${issue.input === undefined ? 'required' : `expected ${issue.expected}`}`);
        break;
      case 'invalid_union':
        if ('discriminator' in issue && Array.isArray((issue as { options?: unknown[] }).options)) {
          const options = (issue as unknown as { options: unknown[] }).options.map(String).join(', ');
          lines.push(`${at(path)}: must be one of ${options}`);
        } else {
          lines.push(`${at(path)}: ${issue.message}`);
        }
        break;
      default:
        lines.push(`${at(path)}: ${issue.message}`);
    }
  }
  return lines;
}
