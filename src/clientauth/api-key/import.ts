import type { KeyScopes } from '../../store/access-types.js';
import type { KeyRecord, KeyStore } from '../../store/types.js';
import { BUILTIN_ROLE_TABLE, DEFAULT_ROLE, type RoleTable } from '../rbac.js';
import { newKeyId } from './format.js';
import { hashSecret } from './hash.js';
import { importedLookup, importedSecretProblem } from './imported.js';

/** One pre-made key to import: its name, where it came from (`env:API_KEY_CI`, `file:keys.env:3`, never the value) and the secret. */
export interface ImportEntry {
  name: string;
  source: string;
  secret: string;
}

export interface ImportOptions {
  role?: string;
  scopes?: Partial<KeyScopes>;
  user?: string | null;
}

/**
 * What importing an entry does: `create` a new key, or nothing (`unchanged`: the same name and
 * secret were imported before). `problem` entries stop the whole import (nothing is written):
 * a weak secret, a secret already imported under another name, or one whose key was revoked
 * (a revoked secret is never brought back).
 */
export type ImportStep =
  | { entry: ImportEntry; action: 'create'; lookup: string }
  | { entry: ImportEntry; action: 'unchanged'; record: KeyRecord }
  | { entry: ImportEntry; action: 'problem'; problem: string };

/** Name rule for imported keys: what `API_KEY_<NAME>` leaves, lower-cased. */
const NAME = /^[a-z0-9][a-z0-9_.-]{0,127}$/;

/**
 * `API_KEY_<NAME>=<secret>` variables of `env` whose name starts with `prefix`, as entries named
 * `<name>` lower-cased (`API_KEY_USER1` → `user1`). Empty values are skipped.
 */
export function entriesFromEnv(env: NodeJS.ProcessEnv, prefix: string): ImportEntry[] {
  return Object.entries(env)
    .filter(([name, value]) => name.startsWith(prefix) && name.length > prefix.length && value !== undefined && value !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name: name.slice(prefix.length).toLowerCase(), source: `env:${name}`, secret: value!.trim() }));
}

/**
 * Entries from a dotenv-style file: one `NAME=secret` per line (`export NAME=secret` and single or
 * double quotes around the value accepted; blank lines and `#` comments skipped). With `prefix`,
 * only names starting with it, named as `entriesFromEnv` names them; without, names as written,
 * lower-cased. A line that is not `NAME=value` is an error naming its line number (never its text).
 */
export function entriesFromFile(text: string, file: string, prefix?: string): ImportEntry[] {
  const entries: ImportEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new ImportFileError(`${file}:${i + 1}: not a NAME=secret line`);
    const [, name, raw] = m as unknown as [string, string, string];
    if (prefix !== undefined && !(name.startsWith(prefix) && name.length > prefix.length)) continue;
    const quoted = /^"(.*)"$/.exec(raw) ?? /^'(.*)'$/.exec(raw);
    const secret = (quoted ? quoted[1]! : raw).trim();
    if (secret === '') continue;
    entries.push({ name: (prefix === undefined ? name : name.slice(prefix.length)).toLowerCase(), source: `file:${file}:${i + 1}`, secret });
  }
  return entries;
}

export class ImportFileError extends Error {
  override readonly name = 'ImportFileError';
}

/**
 * Checks every entry against the rules and the store, writing nothing. Idempotent by design: the
 * same name and secret again is `unchanged`; the same name with a new secret is a new key (the
 * old one stays until revoked: see `keys list`).
 */
export async function planImport(store: KeyStore, entries: readonly ImportEntry[], options: ImportOptions, roles: RoleTable = BUILTIN_ROLE_TABLE): Promise<ImportStep[]> {
  const role = options.role ?? DEFAULT_ROLE;
  const seen = new Map<string, string>();
  const steps: ImportStep[] = [];
  for (const entry of entries) {
    const problem = (text: string): void => void steps.push({ entry, action: 'problem', problem: text });
    if (!roles.isKnown(role)) {
      problem(`unknown role "${role}" (known: ${roles.names.join(', ')})`);
      continue;
    }
    if (!NAME.test(entry.name)) {
      problem(`the key name "${entry.name}" must be lower-case letters, digits, "_", "." or "-"`);
      continue;
    }
    const weak = importedSecretProblem(entry.secret);
    if (weak !== undefined) {
      problem(`the secret ${weak}`);
      continue;
    }
    const lookup = importedLookup(entry.secret);
    const twin = seen.get(lookup);
    if (twin !== undefined) {
      problem(`has the same secret as ${twin}; each key needs its own`);
      continue;
    }
    seen.set(lookup, entry.source);
    const existing = await store.findByLookup(lookup);
    if (existing === undefined) steps.push({ entry, action: 'create', lookup });
    else if (existing.revokedAt !== null) problem(`this secret was imported as key ${existing.id} (${existing.name}), which is revoked; a revoked key is not brought back: make a new secret`);
    else if (existing.name !== entry.name) problem(`this secret is already key ${existing.id} (${existing.name}); one secret is one key`);
    else steps.push({ entry, action: 'unchanged', record: existing });
  }
  return steps;
}

/** Creates the keys a problem-free plan asks for; returns each entry's record. */
export async function applyImport(store: KeyStore, steps: readonly ImportStep[], options: ImportOptions): Promise<Array<{ step: ImportStep; record: KeyRecord; created: boolean }>> {
  if (steps.some((s) => s.action === 'problem')) throw new Error('an import plan with problems is not applied');
  const done: Array<{ step: ImportStep; record: KeyRecord; created: boolean }> = [];
  for (const step of steps) {
    if (step.action === 'unchanged') {
      done.push({ step, record: step.record, created: false });
      continue;
    }
    if (step.action !== 'create') continue;
    const record = await store.create({
      id: newKeyId(),
      name: step.entry.name,
      user: options.user ?? null,
      role: options.role ?? DEFAULT_ROLE,
      secretHash: await hashSecret(step.entry.secret),
      expiresAt: null,
      scopes: { instances: options.scopes?.instances ?? null, models: options.scopes?.models ?? null },
      limits: { rpm: null, tpm: null, budgetUsd: null },
      rotatedFrom: null,
      lookup: step.lookup,
    });
    done.push({ step, record, created: true });
  }
  return done;
}
