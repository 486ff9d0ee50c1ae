import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Access to the third-party vectors and transcripts in `../shared/testdata` (next to the repo,
 * not inside it; see its README). Tests that need them declare it in their options, so a
 * checkout without the folder reports them as skipped with the reason, while CI, which must
 * run them, fails instead:
 *
 * @example
 * describe('SseDecoder over recorded OpenAI streams', { skip: testdataSkip('wire/openai') }, () => {
 *   for (const name of testdataFiles('wire/openai', '.sse')) { ... }
 * });
 */

// This file runs as dist/test/helpers/testdata.js: the repo root is three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Absolute path of `../shared/testdata`. */
export const TESTDATA_ROOT = join(REPO_ROOT, '..', 'shared', 'testdata');

/** Absolute path of `../shared/testdata/<sub>` (whether or not it exists). */
export function testdataDir(sub: string): string {
  return join(TESTDATA_ROOT, sub);
}

/**
 * `false` when `../shared/testdata/<sub>` is a folder, else the skip reason for node:test's
 * `skip` option. Throws instead when `env.CI` is `"true"`: there the data is required, and a
 * silently skipped suite would hide a broken checkout.
 */
export function testdataSkip(sub: string, env: NodeJS.ProcessEnv = process.env): false | string {
  const dir = testdataDir(sub);
  if (isDirectory(dir)) return false;
  const reason = `../shared/testdata/${sub} not found (looked for ${dir})`;
  if (env['CI'] === 'true') throw new Error(`${reason}; it is required when CI=true`);
  return reason;
}

/** Names of the files in `../shared/testdata/<sub>` ending in `ext`, sorted; [] when absent. */
export function testdataFiles(sub: string, ext: string): string[] {
  const dir = testdataDir(sub);
  if (!isDirectory(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(ext))
    .sort();
}

/** The bytes of `../shared/testdata/<sub>/<name>`. */
export function readTestdata(sub: string, name: string): Buffer {
  return readFileSync(join(testdataDir(sub), name));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
