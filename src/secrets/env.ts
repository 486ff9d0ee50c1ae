import type { SecretStore } from './types.js';

/** `${env:NAME}` (or `${NAME}`): an environment variable, re-read on every refresh. */
export const envStore: SecretStore = {
  scheme: 'env',
  validate(ref) {
    // No shell or process manager can set a name holding "=" or white space.
    return /[=\s]/.test(ref.path) ? `${ref.raw}: "${ref.path}" is not an environment variable name` : undefined;
  },
  async read(ref) {
    const value = process.env[ref.path];
    if (value === undefined || value === '') throw new Error(`environment variable ${ref.path} is not set or empty`);
    return value;
  },
};
