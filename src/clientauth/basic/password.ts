import { randomBase62 } from '../api-key/format.js';
import { hashSecret, verifySecret } from '../api-key/hash.js';

/** Password policy: at least this many characters (NIST SP 800-63B §5.1.1.2 asks for 8; we ask more). */
export const MIN_PASSWORD_LENGTH = 12;
/** Longer inputs are refused before hashing, so a huge password cannot be used to burn CPU. */
export const MAX_PASSWORD_LENGTH = 1024;

/** Why `password` is not acceptable, or undefined. Never echoes the password. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `a password needs at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `a password may have at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** A generated password: 24 base62 characters (~143 bits). */
export function generatePassword(): string {
  return randomBase62(24);
}

/** argon2id, the same parameters as API key secrets (api-key/hash.ts). */
export function hashPassword(password: string): Promise<string> {
  return hashSecret(password);
}

export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return verifySecret(hash, password);
}
