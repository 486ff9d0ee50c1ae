import type { SecretRef } from './ref.js';

export interface SecretReadContext {
  /** Folder of the config file; relative paths resolve against it. */
  baseDir: string;
  signal: AbortSignal;
}

/**
 * A backend behind `${scheme:...}`. One file per store in this folder; listed in registry.ts.
 * Every value `read` returns is registered with the log scrubber by `SecretResolver`, for every
 * store alike, so a store never handles the scrubber itself.
 *
 * @example
 * const store: SecretStore = {
 *   scheme: 'env',
 *   validate: (ref) => (ref.path.includes('=') ? 'an environment variable name has no "="' : undefined),
 *   read: async (ref) => process.env[ref.path]!,
 * };
 */
export interface SecretStore {
  readonly scheme: string;
  /**
   * Checks the reference's syntax when the config loads, without reading anything: returns what
   * is wrong (the config error, prefixed with the field's path), or undefined when it is usable.
   */
  validate(ref: SecretRef): string | undefined;
  /** Returns the current value. Errors must describe the reference, never a value. */
  read(ref: SecretRef, ctx: SecretReadContext): Promise<string>;
}
