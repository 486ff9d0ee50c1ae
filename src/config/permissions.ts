import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSecretRef } from '../secrets/ref.js';
import type { LoadedConfig } from './load.js';

/** A file the gateway reads secrets from (or keeps them in) whose owner or mode lets others at it. */
export interface PermissionProblem {
  /** The path as resolved (a symlink's target is what was checked). */
  file: string;
  /** What the file is: `config file`, `secret file (instances.openai.authentication.api_key)`, `TLS key`, `SQLite database`. */
  role: string;
  /** Permission bits, octal (`0644`). */
  mode: string;
  /** `readable by others`, `writable by group`, `owned by uid 1001, not this process's uid 1000`, ... */
  problems: string[];
}

/** Who the process is: its effective uid and every group it is in. */
export interface ProcessIdentity {
  uid: number;
  groups: ReadonlySet<number>;
}

/** This process's identity; undefined where POSIX ownership does not apply (Windows). */
export function processIdentity(): ProcessIdentity | undefined {
  if (typeof process.geteuid !== 'function' || typeof process.getegid !== 'function') return undefined;
  return { uid: process.geteuid(), groups: new Set([process.getegid(), ...(process.getgroups?.() ?? [])]) };
}

/** The files to check and what each is: the config, every `${file:}` reference, the TLS key, the SQLite file. */
export function sensitiveFiles(loaded: LoadedConfig): Array<{ file: string; role: string }> {
  const { config, baseDir, source } = loaded;
  const files: Array<{ file: string; role: string }> = [];
  if (source !== 'built-in demo') files.push({ file: source, role: 'config file' });
  const walk = (value: unknown, path: string[]) => {
    if (typeof value === 'string') {
      const ref = parseSecretRef(value);
      if (ref?.scheme === 'file') {
        // `${file:/path#NAME}` names a variable in a dotenv-style file: the file is the path without it.
        const full = resolve(baseDir, ref.path);
        const file = existsSync(full) ? full : full.replace(/#[A-Za-z_][A-Za-z0-9_]*$/, '');
        files.push({ file, role: `secret file (${path.join('.')})` });
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, String(i)]));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(config, []);
  if (config.server.tls) files.push({ file: resolve(baseDir, config.server.tls.key_file), role: 'TLS key' });
  if (!config.storage.postgres && config.storage.sqlite.path !== ':memory:') files.push({ file: resolve(baseDir, config.storage.sqlite.path), role: 'SQLite database' });
  return files;
}

/**
 * What is wrong with one file's ownership and mode, for a process of `identity`:
 * - readable or writable by others, or writable by group: always a problem;
 * - readable by group: a problem, except for a root-owned file whose group is one of the
 *   groups of a process that is not root: how Kubernetes mounts a Secret volume for a pod with `fsGroup` (root,
 *   group fsGroup, 0440 whatever `defaultMode` says; kubernetes/kubernetes#57923);
 * - owned by someone other than the process's user or root: that user can change it.
 * A symlink is followed (a Kubernetes Secret file is a link into `..data/`). A missing file is
 * not this check's business (reading it fails on its own).
 */
export function permissionProblem(file: string, role: string, identity: ProcessIdentity): PermissionProblem | undefined {
  let st: { mode: number; uid: number; gid: number };
  try {
    st = statSync(file);
  } catch {
    return undefined;
  }
  const mode = st.mode & 0o777;
  const problems: string[] = [];
  // The fsGroup pattern: someone else (root) owns the file and lets the process in through a group it is in.
  const groupReadAllowed = st.uid === 0 && identity.uid !== 0 && identity.groups.has(st.gid);
  if (mode & 0o040 && !groupReadAllowed) problems.push('readable by group');
  if (mode & 0o020) problems.push('writable by group');
  if (mode & 0o004) problems.push('readable by others');
  if (mode & 0o002) problems.push('writable by others');
  if (st.uid !== identity.uid && st.uid !== 0) problems.push(`owned by uid ${st.uid}, not this process's uid ${identity.uid}`);
  return problems.length === 0 ? undefined : { file, role, mode: `0${mode.toString(8).padStart(3, '0')}`, problems };
}

/**
 * Every sensitive file of `loaded` (see `sensitiveFiles`) that others could read or change,
 * each file once. Empty where POSIX ownership does not apply.
 *
 * @example
 * for (const p of filePermissionProblems(loaded)) console.warn(describePermissionProblem(p));
 */
export function filePermissionProblems(loaded: LoadedConfig, identity = processIdentity()): PermissionProblem[] {
  if (identity === undefined) return [];
  const seen = new Set<string>();
  const out: PermissionProblem[] = [];
  for (const { file, role } of sensitiveFiles(loaded)) {
    if (seen.has(file)) continue;
    seen.add(file);
    const problem = permissionProblem(file, role, identity);
    if (problem) out.push(problem);
  }
  return out;
}

/** `/etc/llmproxy/llmproxy.yaml (config file): mode 0644: readable by others`. */
export function describePermissionProblem(p: PermissionProblem): string {
  return `${p.file} (${p.role}): mode ${p.mode}: ${p.problems.join(', ')}`;
}
