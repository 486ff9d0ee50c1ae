import { createHmac } from 'node:crypto';

/**
 * `privacy.pseudonymise`: a user name's stand-in in usage and audit rows after `users delete
 * --purge`, `anon:` and the first 16 hex digits of HMAC-SHA256(key, name). The same name gives
 * the same pseudonym, so totals per user stay grouped; without the key nobody can test a guessed
 * name against it (a plain hash could be reversed by hashing every known user name).
 *
 * @example
 * pseudonymiser(key)('alice') // 'anon:3f9c0d6a1b2e4f57'
 */
export function pseudonymiser(key: string): (name: string) => string {
  return (name) => `anon:${createHmac('sha256', key).update(name, 'utf8').digest('hex').slice(0, 16)}`;
}
