import { hash } from 'node:crypto';
import { KEY_PREFIX, parseKey } from './format.js';

/**
 * Keys made outside the gateway and imported (`llmproxy keys import`), such as the seed's
 * `API_KEY_<NAME>` values from a Kubernetes Secret (`openssl rand -hex 32`).
 *
 * Such a key carries no id, so it is found by its lookup tag, SHA-256 of the whole key (hex,
 * stored in the key's `lookup` column), and then verified once against its argon2id hash like
 * any key, after which the verifier's cache answers. A fast unsalted digest is safe as a lookup
 * only for secrets with the entropy of a random token, so weak ones are refused at import
 * (`importedSecretProblem`). A presented credential is tried as an imported key only when it is
 * not `llmp_` and has an imported key's shape (`looksImported`); anything else stays `malformed`
 * without a store read.
 */
const SHAPE = /^[\x21-\x7e]{24,512}$/;
/** Bits an imported secret must carry, estimated from its length and the character classes it uses. */
export const MIN_IMPORTED_BITS = 96;
export const MIN_IMPORTED_LENGTH = 24;

/** Whether `presented` may be an imported key: 24 to 512 printable ASCII characters without spaces. */
export function looksImported(presented: string): boolean {
  return SHAPE.test(presented) && !presented.startsWith(KEY_PREFIX);
}

/** The lookup tag of an imported key: SHA-256 of the key, hex. */
export function importedLookup(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/** Why `secret` cannot be imported (never quoting it), or undefined when it can. */
export function importedSecretProblem(secret: string): string | undefined {
  if (secret.length < MIN_IMPORTED_LENGTH) return `is ${secret.length} characters; an imported key needs at least ${MIN_IMPORTED_LENGTH} random characters (e.g. openssl rand -hex 32)`;
  if (!SHAPE.test(secret)) return 'must be at most 512 printable ASCII characters without spaces';
  if (parseKey(secret) !== undefined || secret.startsWith(KEY_PREFIX)) return `starts with ${KEY_PREFIX}: a gateway key is not imported; it already works where its store is`;
  if (secret.startsWith('llms_')) return 'starts with llms_, the prefix of session tokens';
  // A credential with dots is taken for a JWT by the OIDC and Kubernetes authenticators.
  if (secret.includes('.')) return 'contains "."; a dotted credential is read as a JWT';
  if (estimatedBits(secret) < MIN_IMPORTED_BITS || new Set(secret).size < 8) return `looks too weak (under ${MIN_IMPORTED_BITS} bits of apparent randomness); use a random secret such as openssl rand -hex 32`;
  return undefined;
}

/** Length × log2 of the alphabet the character classes used span: an upper bound, good enough to refuse the obviously weak. */
function estimatedBits(s: string): number {
  let alphabet = 0;
  if (/[a-z]/.test(s)) alphabet += 26;
  if (/[A-Z]/.test(s)) alphabet += 26;
  if (/[0-9]/.test(s)) alphabet += 10;
  if (/[^a-zA-Z0-9]/.test(s)) alphabet += 32;
  return s.length * Math.log2(Math.max(alphabet, 2));
}
