import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { dotenvValue } from './dotenv.js';
import type { SecretRef } from './ref.js';
import type { SecretStore } from './types.js';

/** A shell variable name: what follows `#` in `${file:/vault/secrets/openai#OPENAI_API_KEY}`. */
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Splits `/vault/secrets/openai#OPENAI_API_KEY` into the file and the variable; without `#` the
 * whole file is the value. A `#` therefore always starts a variable name: a file whose name holds
 * one cannot be referenced.
 */
export function parseFilePath(ref: SecretRef): { path: string; variable: string | undefined } {
  const hash = ref.path.lastIndexOf('#');
  if (hash < 0) return { path: ref.path, variable: undefined };
  return { path: ref.path.slice(0, hash), variable: ref.path.slice(hash + 1) };
}

/**
 * `${file:/path}`: a file's content (its trailing newline is removed for every store, see
 * `value.ts`). `${file:/path#NAME}`: the variable `NAME` of a dotenv-style file (`NAME=value`,
 * `export NAME="value"`; see `dotenv.ts`), the form a Vault Agent template renders. Read by path
 * on every refresh, so a Kubernetes Secret or CSI mount, which updates by swapping its `..data`
 * symlink, or a re-rendered Agent template, is picked up without a restart.
 */
export const fileStore: SecretStore = {
  scheme: 'file',
  validate(ref) {
    const { path, variable } = parseFilePath(ref);
    if (path.includes('\u0000')) return `${ref.raw}: a file path cannot hold a NUL character`;
    if (path.trim() === '') return `${ref.raw}: expected \${file:<path>} or \${file:<path>#<VARIABLE>}`;
    // A folder is never a secret; a trailing slash is a path cut short.
    if (/[/\\]\s*$/.test(path)) return `${ref.raw}: names a folder; expected \${file:<path of a file>}`;
    if (variable !== undefined && !VARIABLE.test(variable)) return `${ref.raw}: "#${variable}" is not a variable name; expected \${file:<path>#<VARIABLE>}, e.g. \${file:/vault/secrets/openai#OPENAI_API_KEY}`;
    return undefined;
  },
  async read(ref, ctx) {
    const { path: relative, variable } = parseFilePath(ref);
    const path = resolve(ctx.baseDir, relative);
    let text: string;
    try {
      text = await readFile(path, { encoding: 'utf8', signal: ctx.signal });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'read error';
      throw new Error(`cannot read secret file ${path}: ${code}`);
    }
    if (variable === undefined) {
      if (text === '') throw new Error(`secret file ${path} is empty`);
      return text;
    }
    let value: string | undefined;
    try {
      value = dotenvValue(text, variable);
    } catch (err) {
      // The parser names a line number, never its text.
      throw new Error(`${ref.raw}: ${path} is not a dotenv file: ${(err as Error).message}`);
    }
    if (value === undefined) throw new Error(`${ref.raw}: ${path} does not set ${variable}`);
    if (value === '') throw new Error(`${ref.raw}: ${variable} is empty in ${path}`);
    return value;
  },
};
