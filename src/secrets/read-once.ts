import { parseSecretRef } from './ref.js';
import { SECRET_STORES } from './registry.js';
import { asWritten } from './value.js';

/**
 * Reads a secret reference once (settings read at start-up: a store's connection URL, the TOTP
 * encryption key, an OIDC client secret); trimmed. Errors name the config field and the
 * reference, never a value.
 *
 * @example
 * const secret = await readSecretOnce('auth.oidc.0.console.client_secret', '${env:OIDC_SECRET}', baseDir);
 */
export async function readSecretOnce(field: string, reference: string, baseDir: string): Promise<string> {
  const ref = parseSecretRef(reference);
  const store = ref && SECRET_STORES.get(ref.scheme);
  if (!ref || !store) throw new Error(`${field}: not a usable secret reference: ${reference}`);
  try {
    return asWritten(await store.read(ref, { baseDir, signal: AbortSignal.timeout(30_000) }), ref).trim();
  } catch (err) {
    throw new Error(`${field}: cannot resolve ${ref.raw}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
