import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SecretStore } from './types.js';

/**
 * `${file:/path}`: a file's content without its trailing newline. Read by path on every refresh,
 * so a Kubernetes Secret or CSI mount, which updates by swapping its `..data` symlink, is
 * picked up without a restart.
 */
export const fileStore: SecretStore = {
  scheme: 'file',
  validate(ref) {
    if (ref.path.includes('\u0000')) return `${ref.raw}: a file path cannot hold a NUL character`;
    // A folder is never a secret; a trailing slash is a path cut short.
    if (/[/\\]\s*$/.test(ref.path)) return `${ref.raw}: names a folder; expected \${file:<path of a file>}`;
    return undefined;
  },
  async read(ref, ctx) {
    const path = resolve(ctx.baseDir, ref.path);
    let text: string;
    try {
      text = await readFile(path, { encoding: 'utf8', signal: ctx.signal });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'read error';
      throw new Error(`cannot read secret file ${path}: ${code}`);
    }
    const value = text.replace(/\r?\n+$/, '');
    if (value === '') throw new Error(`secret file ${path} is empty`);
    return value;
  },
};
