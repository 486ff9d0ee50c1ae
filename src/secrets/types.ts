import type { SecretScrubber } from '../observability/scrubber.js';
import type { SecretRef } from './ref.js';

export interface SecretReadContext {
  /** Folder of the config file; relative paths resolve against it. */
  baseDir: string;
  signal: AbortSignal;
  /**
   * Where a store registers the credentials it obtains in order to read (access tokens of Google
   * or IBM IAM), so no log line shows them; absent for one-off reads at start-up. The values a
   * store returns are registered by `SecretResolver`, not here.
   */
  scrubber?: SecretScrubber;
}

/**
 * A backend behind `${scheme:...}`. One file per store in this folder; listed in registry.ts.
 * Every value `read` returns is registered with the log scrubber by `SecretResolver`, for every
 * store alike, so a store never registers its values itself; a store that obtains a credential
 * to read with (a token) masks it through `ctx.scrubber`. Values are taken as written (one
 * trailing newline dropped, see value.ts) by the caller, so a store returns them untrimmed.
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
