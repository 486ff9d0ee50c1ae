import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * How TOTP secrets are kept at rest. A TOTP secret must be readable to check codes, so it cannot
 * be hashed; with `auth.totp.encryption_key` configured it is encrypted with AES-256-GCM under a
 * key derived (HKDF-SHA256) from that secret's value, with the subject as associated data so a
 * ciphertext copied onto another subject does not decrypt. Without a key it is stored as is.
 *
 * Stored forms: `plain:<base32>` and `aes-256-gcm:<iv b64>:<tag b64>:<ciphertext b64>`. Both
 * are read whatever is configured now, so turning encryption on later keeps old enrolments
 * working (re-enrol them to encrypt them). Changing the key makes encrypted enrolments
 * unreadable: re-enrol after a key change.
 */
export class TotpSecretBox {
  readonly #key: Buffer | undefined;

  /** `keyMaterial`: the resolved value of `auth.totp.encryption_key` (at least 16 characters), or undefined. */
  constructor(keyMaterial: string | undefined) {
    if (keyMaterial !== undefined && keyMaterial.length < 16) {
      throw new Error('auth.totp.encryption_key must resolve to at least 16 characters (e.g. openssl rand -base64 32)');
    }
    this.#key =
      keyMaterial === undefined ? undefined : Buffer.from(hkdfSync('sha256', keyMaterial, 'llmproxy-totp', 'totp secret encryption v1', 32));
  }

  get encrypts(): boolean {
    return this.#key !== undefined;
  }

  seal(secretBase32: string, subject: string): string {
    if (!this.#key) return `plain:${secretBase32}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(subject));
    const ct = Buffer.concat([cipher.update(secretBase32, 'utf8'), cipher.final()]);
    return `aes-256-gcm:${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
  }

  /** The base32 secret; throws (without any secret in the message) when it cannot be read. */
  open(stored: string, subject: string): string {
    if (stored.startsWith('plain:')) return stored.slice('plain:'.length);
    const parts = stored.split(':');
    if (parts[0] !== 'aes-256-gcm' || parts.length !== 4) throw new Error(`the TOTP secret of ${subject} is in an unknown format`);
    if (!this.#key) throw new Error(`the TOTP secret of ${subject} is encrypted, but auth.totp.encryption_key is not configured`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(parts[1]!, 'base64'));
      decipher.setAAD(Buffer.from(subject));
      decipher.setAuthTag(Buffer.from(parts[2]!, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(parts[3]!, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`the TOTP secret of ${subject} does not decrypt with the configured auth.totp.encryption_key (was the key changed?)`);
    }
  }
}
