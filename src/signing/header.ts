import type { UpstreamRequest } from '../upstream/types.js';

/** A bearer token, sent as `Authorization: Bearer <token>`. */
export type BearerCredential = { type: 'bearer'; token: string; expiresAt?: number };
/** A key sent in a header of its own (`x-api-key`, `api-key`). */
export type NamedHeaderCredential = { type: 'header'; name: string; value: string; expiresAt?: number };
export type HeaderCredential = BearerCredential | NamedHeaderCredential;

/**
 * A copy of `req` carrying a bearer token (`Authorization: Bearer`) or a named header
 * (`x-api-key`, `api-key`); `req` itself is left as it was, so a retry can sign it afresh.
 */
export function applyHeaderCredential(req: UpstreamRequest, cred: HeaderCredential): UpstreamRequest {
  const headers = { ...req.headers };
  if (cred.type === 'bearer') headers['authorization'] = `Bearer ${cred.token}`;
  else headers[cred.name] = cred.value;
  return { ...req, headers };
}
