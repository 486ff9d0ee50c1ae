import type { UpstreamRequest } from '../upstream/types.js';

/** A bearer token, sent as `Authorization: Bearer <token>`. */
export type BearerCredential = { type: 'bearer'; token: string; expiresAt?: number };
/** A key sent in a header of its own (`x-api-key`, `api-key`). */
export type NamedHeaderCredential = { type: 'header'; name: string; value: string; expiresAt?: number };
export type HeaderCredential = BearerCredential | NamedHeaderCredential;

/** Applies a bearer token (`Authorization: Bearer`) or a named header (`x-api-key`, `api-key`). */
export function applyHeaderCredential(req: UpstreamRequest, cred: HeaderCredential): UpstreamRequest {
  if (cred.type === 'bearer') req.headers['authorization'] = `Bearer ${cred.token}`;
  else req.headers[cred.name] = cred.value;
  return req;
}
