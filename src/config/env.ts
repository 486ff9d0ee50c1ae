import { resolve } from 'node:path';
import { configSchema } from './schema.js';
import { kindOf, shapeOf, unionOptions, type Schema } from './schema-walk.js';

/**
 * Configuration from the environment and the command line, for twelve-factor deployments.
 * Precedence, per field: flag (`serve --host/--port`) > environment > file > default.
 *
 * - `LLMPROXY_SERVER_<FIELD>` for every field of the `server:` block, nested fields joined by
 *   `_` and upper-cased: `LLMPROXY_SERVER_PORT`, `LLMPROXY_SERVER_HEADERS_TIMEOUT`,
 *   `LLMPROXY_SERVER_METRICS_PORT`, `LLMPROXY_SERVER_TLS_CERT_FILE`. The names are generated from
 *   the schema (SERVER_VARIABLES) and looked up, never split, so underscores inside field names
 *   are not ambiguous. Any other `LLMPROXY_SERVER_*` is an error; other `LLMPROXY_*` are not ours.
 * - The conventional short names `PORT`, `HOST`, `TLS_CERT_FILE`, `TLS_KEY_FILE` and
 *   `LOG_LEVEL` (→ `logging.level`); the `LLMPROXY_SERVER_*` name wins when both are set.
 * - `AUTH_ENABLED` (the seed's spelling): `false` → `auth.mode: none`, `true` → `required`.
 * - An empty variable counts as unset.
 */

/** How a variable's text becomes a config value; the schema then validates it like file input. */
export type ValueKind = 'string' | 'number' | 'boolean' | 'list' | 'number-or-string' | 'auth-switch';

export interface OverrideVariable {
  name: string;
  /** Config path, e.g. `['server', 'port']`. */
  path: readonly string[];
  kind: ValueKind;
}

/**
 * One config value that did not come from the file, as `config check` and the startup log show
 * it. `source` is `env:<NAME>`, `flag:--<name>`, or for a `${env:NAME:-default}` whose variable
 * was unset, `env-default:<NAME>`.
 *
 * @example { path: 'server.port', source: 'env:PORT', kind: 'override', value: '9000' }
 * @example { path: 'instances.openai.organization', source: 'env:OPENAI_ORG_ID', kind: 'reference' }
 */
export interface Override {
  path: string;
  source: string;
  /** `override`: a whole field set from a variable or flag; `reference`: `${env:...}` expanded in a plain field. */
  kind: 'override' | 'reference';
  /** The text as given; only for overrides (server block, log level), never for references. */
  value?: string;
}

/** An override ready to apply: where, what, and how to name it in an error. */
export interface OverrideEntry {
  path: readonly string[];
  value: unknown;
  /** `environment PORT`, `flag --port`: prefixed to a validation error of this value. */
  label: string;
  override: Override;
}

export const SERVER_PREFIX = 'LLMPROXY_SERVER_';

function valueKind(schema: Schema): ValueKind {
  switch (kindOf(schema)) {
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return 'list';
    case 'union':
      return unionOptions(schema)!.some((o) => kindOf(o) === 'number') ? 'number-or-string' : 'string';
    default:
      return 'string';
  }
}

function leaves(schema: Schema, path: string[]): OverrideVariable[] {
  const shape = shapeOf(schema);
  if (shape) return Object.entries(shape).flatMap(([field, s]) => leaves(s, [...path, field]));
  return [{ name: `LLMPROXY_${path.join('_').toUpperCase()}`, path, kind: valueKind(schema) }];
}

/** Every `LLMPROXY_SERVER_*` variable, one per leaf field of the `server:` block. */
export const SERVER_VARIABLES: readonly OverrideVariable[] = leaves(configSchema.shape.server, ['server']);

const byPath = (path: string) => SERVER_VARIABLES.find((v) => v.path.join('.') === path);

/** The conventional names; each is overridden by its `LLMPROXY_SERVER_*` twin when both are set. */
export const SHORT_VARIABLES: readonly OverrideVariable[] = [
  { name: 'PORT', path: ['server', 'port'], kind: byPath('server.port')!.kind },
  { name: 'HOST', path: ['server', 'host'], kind: byPath('server.host')!.kind },
  { name: 'TLS_CERT_FILE', path: ['server', 'tls', 'cert_file'], kind: 'string' },
  { name: 'TLS_KEY_FILE', path: ['server', 'tls', 'key_file'], kind: 'string' },
  { name: 'LOG_LEVEL', path: ['logging', 'level'], kind: 'string' },
  { name: 'AUTH_ENABLED', path: ['auth', 'mode'], kind: 'auth-switch' },
];

// Two fields must never share a name; the table is generated, so check it once at load.
{
  const names = [...SERVER_VARIABLES, ...SHORT_VARIABLES].map((v) => v.name);
  const clash = names.find((n, i) => names.indexOf(n) !== i);
  if (clash !== undefined) throw new Error(`two config fields map to the environment variable ${clash}`);
}

const TLS_PAIR = ['server.tls.cert_file', 'server.tls.key_file'] as const;

/** Kubernetes injects `<SERVICE>_PORT=tcp://...` and friends for every Service (enableServiceLinks). */
function serviceLinkHint(name: string, value: string): string {
  const looksLikeLink = /^(tcp|udp|sctp):\/\//.test(value) || /_SERVICE_(HOST|PORT)(_|$)|_PORT_\d+_(TCP|UDP|SCTP)/.test(name);
  return looksLikeLink
    ? '; this looks like a Kubernetes service link (a Service named "llmproxy-server"): set enableServiceLinks: false on the pod or rename the Service'
    : '';
}

function convert(variable: OverrideVariable, text: string, cwd: string): unknown {
  switch (variable.kind) {
    case 'number':
    case 'number-or-string':
      return /^[+-]?\d+$/.test(text) ? Number(text) : text;
    case 'boolean':
      return /^true$/i.test(text) ? true : /^false$/i.test(text) ? false : text;
    case 'auth-switch':
      // Anything else reaches the schema as is and is refused there, naming the variable.
      return /^true$/i.test(text) ? 'required' : /^false$/i.test(text) ? 'none' : text;
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'string':
      // A file named on the command line or in the environment is relative to the working directory.
      return variable.path.at(-1)!.endsWith('_file') ? resolve(cwd, text) : text;
  }
}

/**
 * The overrides the environment asks for, one per field (the `LLMPROXY_SERVER_*` name beating the
 * short one), and the problems: an unknown `LLMPROXY_SERVER_*` name, a TLS file without its pair.
 * Values are converted only as far as their kind needs (`"9000"` → 9000); the schema validates them.
 *
 * @example environmentOverrides({ PORT: '9000', LLMPROXY_SERVER_HEADERS_TIMEOUT: '15s' }, '/srv')
 *   // entries: server.port = 9000 (environment PORT), server.headers_timeout = '15s'
 */
export function environmentOverrides(env: NodeJS.ProcessEnv, cwd: string): { entries: OverrideEntry[]; problems: string[] } {
  const problems: string[] = [];
  const chosen = new Map<string, OverrideEntry>();
  const set = (variable: OverrideVariable, text: string) => {
    const path = variable.path.join('.');
    chosen.set(path, {
      path: variable.path,
      value: convert(variable, text, cwd),
      label: `environment ${variable.name}`,
      override: { path, source: `env:${variable.name}`, kind: 'override', value: text },
    });
  };
  const present = (name: string) => {
    const text = env[name];
    return text === undefined || text === '' ? undefined : text;
  };

  for (const variable of SHORT_VARIABLES) {
    const text = present(variable.name);
    if (text !== undefined) set(variable, text);
  }
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(SERVER_PREFIX)) continue;
    const variable = SERVER_VARIABLES.find((v) => v.name === name);
    if (variable === undefined) {
      problems.push(`environment ${name}: unknown variable; ${SERVER_PREFIX}* names a field of server: (${SERVER_VARIABLES.map((v) => v.name).join(', ')})${serviceLinkHint(name, text ?? '')}`);
    } else if (text !== undefined && text !== '') {
      const hint = serviceLinkHint(name, text);
      if (hint !== '') problems.push(`environment ${name} (${variable.path.join('.')}): not a value for this field${hint}`);
      else set(variable, text);
    }
  }

  const [cert, key] = TLS_PAIR.map((p) => chosen.get(p));
  if ((cert === undefined) !== (key === undefined)) {
    const given = (cert ?? key)!;
    const missing = cert === undefined ? 'TLS_CERT_FILE (or LLMPROXY_SERVER_TLS_CERT_FILE)' : 'TLS_KEY_FILE (or LLMPROXY_SERVER_TLS_KEY_FILE)';
    problems.push(`${given.label} is set without ${missing}: set both, or neither`);
    for (const p of TLS_PAIR) chosen.delete(p);
  }
  // In schema order, whatever the order of the environment.
  const rank = (e: OverrideEntry) => {
    const i = SERVER_VARIABLES.findIndex((v) => v.path.join('.') === e.override.path);
    return i === -1 ? SERVER_VARIABLES.length : i;
  };
  return { entries: [...chosen.values()].sort((a, b) => rank(a) - rank(b)), problems };
}

/** `llmproxy serve --host H --port N` (and `config check`, to show what serve would use). */
export interface ListenFlags {
  host?: string;
  port?: number;
}

export function flagOverrides(flags: ListenFlags): OverrideEntry[] {
  const entries: OverrideEntry[] = [];
  const add = (field: 'host' | 'port', value: string | number) =>
    entries.push({ path: ['server', field], value, label: `flag --${field}`, override: { path: `server.${field}`, source: `flag:--${field}`, kind: 'override', value: String(value) } });
  if (flags.host !== undefined) add('host', flags.host);
  if (flags.port !== undefined) add('port', flags.port);
  return entries;
}

/** `overrides` as the flags change them: a flag replaces the environment's entry for its field. */
export function withFlags(overrides: readonly Override[], flags: ListenFlags): Override[] {
  const fromFlags = flagOverrides(flags).map((e) => e.override);
  return [...overrides.filter((o) => !fromFlags.some((f) => under(o.path, f.path))), ...fromFlags];
}

/** Whether dotted `path` is `prefix` or a field inside it. */
export function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}.`);
}

/** `entries` with `later` applied on top: a later entry for the same field replaces an earlier one. */
export function layerOverrides(entries: readonly OverrideEntry[], later: readonly OverrideEntry[]): OverrideEntry[] {
  const paths = new Set(later.map((e) => e.path.join('.')));
  return [...entries.filter((e) => !paths.has(e.path.join('.'))), ...later];
}

/**
 * `raw` with every entry's value set at its path; objects along the way are copied, never
 * mutated (the built-in demo config is a shared constant), and created when absent. A path
 * through something that is not an object is left alone for validation to report.
 */
export function applyOverrides(raw: unknown, entries: readonly OverrideEntry[]): unknown {
  let root: unknown = raw;
  for (const entry of entries) {
    const copy = (node: unknown, depth: number): unknown => {
      if (depth === entry.path.length) return entry.value;
      if (node !== undefined && node !== null && (typeof node !== 'object' || Array.isArray(node))) return node;
      const object = { ...((node ?? {}) as Record<string, unknown>) };
      const field = entry.path[depth]!;
      object[field] = copy(object[field], depth + 1);
      return object;
    };
    root = copy(root, 0);
  }
  return root;
}
