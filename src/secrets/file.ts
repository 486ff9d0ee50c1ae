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
