import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { BackupCodeHash } from '../../store/identity-types.js';

/**
 * RFC 6238 parameters every authenticator app understands (Google Authenticator, Authy,
 * 1Password): HMAC-SHA1, 6 digits, 30 s steps. Do not change them: apps ignore other values in
 * the otpauth:// URI or compute different codes.
 */
export const TOTP_ISSUER = 'llmproxy';
export const TOTP_PERIOD_S = 30;
export const TOTP_DIGITS = 6;
/** Codes of the previous and next step are accepted too (clock drift; RFC 6238 §5.2). */
export const TOTP_WINDOW = 1;
export const BACKUP_CODE_COUNT = 10;

/** A new TOTP secret: 20 random bytes (160 bits, RFC 4226 §4's recommended length), base32. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function totpFor(secretBase32: string, label = 'llmproxy'): TOTP {
  return new TOTP({ issuer: TOTP_ISSUER, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_S, secret: Secret.fromBase32(secretBase32) });
}

/** The RFC 6238 time step of `now` (epoch ms). */
export function timeStep(now: number): number {
  return Math.floor(now / 1000 / TOTP_PERIOD_S);
}

/**
 * The step a 6-digit `code` belongs to, if it matches the secret within ±`TOTP_WINDOW` steps of
 * `now`; undefined otherwise.
 */
export function matchTotpStep(secretBase32: string, code: string, now: number): number | undefined {
  const delta = totpFor(secretBase32).validate({ token: code, timestamp: now, window: TOTP_WINDOW });
  return delta === null ? undefined : timeStep(now) + delta;
}

export function isTotpCodeShape(code: string): boolean {
  return /^[0-9]{6}$/.test(code);
}

// Backup codes: 12 characters from a 31-letter alphabet without look-alikes (no 0/o, 1/l/i),
// about 59 bits each, printed as `xxxx-xxxx-xxxx`. Clients may send them with or without dashes.
const BACKUP_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const BACKUP_LENGTH = 12;

/** A fresh backup code, formatted for printing (`abcd-efgh-jkmn`). */
export function newBackupCode(): string {
  let raw = '';
  for (let i = 0; i < BACKUP_LENGTH; i++) raw += BACKUP_ALPHABET[randomInt(BACKUP_ALPHABET.length)];
  return `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`;
}

/** The canonical form of a presented backup code, or undefined when it cannot be one. */
export function normaliseBackupCode(code: string): string | undefined {
  const raw = code.toLowerCase().replace(/[-\s]/g, '');
  if (raw.length !== BACKUP_LENGTH) return undefined;
  for (const c of raw) if (!BACKUP_ALPHABET.includes(c)) return undefined;
  return raw;
}

/*
 * Backup codes are stored as HMAC-SHA256(salt, code) with a random 128-bit salt per code, not
 * with argon2: each code is ~59 bits from the CSPRNG, so a stolen table still needs ~2^58 HMACs per
 * code on average (and a code is useless without the first factor), while checking a presented
 * code against up to ten stored ones stays a few microseconds instead of ten slow hashes per
 * request. The per-code salt stops one precomputation from covering every code.
 */
export function hashBackupCode(normalised: string, salt: string): string {
  return createHmac('sha256', Buffer.from(salt, 'hex')).update(normalised).digest('hex');
}

/** Hashes for storing `codes` (as printed), indexed 0..n-1. */
export function backupCodeHashes(codes: readonly string[]): BackupCodeHash[] {
  return codes.map((code, index) => {
    const salt = randomBytes(16).toString('hex');
    return { index, salt, hash: hashBackupCode(normaliseBackupCode(code)!, salt) };
  });
}

/**
 * The index of the stored code `normalised` matches, or undefined. Every stored code is compared
 * in constant time, without an early exit, so timing does not tell which one matched.
 */
export function findBackupCode(normalised: string, stored: readonly BackupCodeHash[]): number | undefined {
  let found: number | undefined;
  for (const s of stored) {
    const a = Buffer.from(hashBackupCode(normalised, s.salt), 'hex');
    const b = Buffer.from(s.hash, 'hex');
    if (a.length === b.length && timingSafeEqual(a, b) && found === undefined) found = s.index;
  }
  return found;
}
