import { readSecretOnce } from '../../secrets/read-once.js';
import type { TotpEnrolment, TotpStore, TotpSubject } from '../../store/identity-types.js';
import { BACKUP_CODE_COUNT, backupCodeHashes, newBackupCode, newTotpSecret, totpFor } from './codes.js';
import { TotpSecretBox } from './secret-box.js';

export interface TotpEnrolmentOutput {
  record: TotpEnrolment;
  /** Base32; shown once (enrolment output only). */
  secret: string;
  otpauthUri: string;
  /** As printed (`abcd-efgh-jkmn`); shown once, stored only as salted HMACs. */
  backupCodes: string[];
}

/**
 * Enrols (or re-enrols) `subject`: a new secret, stored sealed by `box`, and ten new backup
 * codes; any previous enrolment and its codes are replaced atomically.
 *
 * @example
 * const out = await enrolTotp(store.identity.totp, box, 'key:abc123', 'ci-bot', true);
 * out.otpauthUri; // otpauth://totp/llmproxy:ci-bot?issuer=llmproxy&secret=...&algorithm=SHA1&digits=6&period=30
 */
export async function enrolTotp(store: TotpStore, box: TotpSecretBox, subject: TotpSubject, label: string, required: boolean, now = Date.now()): Promise<TotpEnrolmentOutput> {
  const secret = newTotpSecret();
  const backupCodes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
  const record = await store.enroll({ subject, secret: box.seal(secret, subject), required, backupCodes: backupCodeHashes(backupCodes), createdAt: now });
  return { record, secret, otpauthUri: totpFor(secret, label).toString(), backupCodes };
}

/** What an enrolment shows once, as JSON (the CLI's `--json` and the admin API): never stored or logged. */
export function enrolmentJson(out: TotpEnrolmentOutput) {
  return { secret: out.secret, otpauth_uri: out.otpauthUri, backup_codes: out.backupCodes };
}

/** Reads `auth.totp.encryption_key` (a secret reference) once; undefined when none is configured. */
export async function readTotpKey(reference: string | undefined, baseDir: string): Promise<string | undefined> {
  return reference === undefined ? undefined : readSecretOnce('auth.totp.encryption_key', reference, baseDir);
}

/** The box that seals and opens TOTP secrets under `auth.totp.encryption_key` (stores them as they are without one). */
export async function totpSecretBox(reference: string | undefined, baseDir: string): Promise<TotpSecretBox> {
  return new TotpSecretBox(await readTotpKey(reference, baseDir));
}
