import type { Principal } from './principal.js';

/**
 * Who owns a stored response (the Responses API's `store: true`): the caller's user when it has
 * one — Basic, OIDC and Kubernetes users, and API keys issued to a user — so every key and
 * session of that user sees the user's responses; otherwise the API key itself (its id), so a
 * rotated or second key of a user-less service does not. Prefixed so a key id can never equal a
 * user name. The store reads and deletes by id *and* owner: another owner's response is not
 * found, exactly like one that never existed.
 *
 * @example
 * responseOwner({ id: 'k1', keyId: 'k1', user: null, ... })   // 'key:k1'
 * responseOwner({ id: 'alice', user: 'alice', ... })           // 'user:alice'
 */
export function responseOwner(principal: Pick<Principal, 'id' | 'keyId' | 'user'>): string {
  if (principal.user !== null && principal.user !== '') return `user:${principal.user}`;
  return `key:${principal.keyId ?? principal.id}`;
}
