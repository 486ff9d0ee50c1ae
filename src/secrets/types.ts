import type { SecretRef } from './ref.js';

export interface SecretReadContext {
  /** Folder of the config file; relative paths resolve against it. */
  baseDir: string;
  signal: AbortSignal;
}

/** A backend behind `${scheme:...}`. One file per store in this folder; listed in registry.ts. */
export interface SecretStore {
  readonly scheme: string;
  /** Returns the current value. Errors must describe the reference, never a value. */
  read(ref: SecretRef, ctx: SecretReadContext): Promise<string>;
}
