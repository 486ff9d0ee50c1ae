import type { SecretRef } from './ref.js';

/**
 * A store's value as the operator wrote it: one trailing newline (`\n` or `\r\n`) removed, the
 * one `echo`, editors, `kubectl create secret --from-file` and templates leave at the end. Only
 * one: anything else (inner newlines of a PEM, spaces) is part of the value. Applied to every
 * store's reads in one place (`SecretHandle`, `readSecretOnce`), so no store trims on its own.
 * A value that is empty or only white space is refused: no credential is blank.
 *
 * @example
 * asWritten('sk-live-123\n', ref); // 'sk-live-123'
 */
export function asWritten(value: string, ref: SecretRef): string {
  const trimmed = value.endsWith('\r\n') ? value.slice(0, -2) : value.endsWith('\n') ? value.slice(0, -1) : value;
  if (trimmed.trim() === '') throw new Error(`${ref.raw}: the value is empty`);
  return trimmed;
}
