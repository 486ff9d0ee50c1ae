import type { Credential } from '../credentials/types.js';
import type { UpstreamRequest } from '../upstream/types.js';

type HeaderCredential = Extract<Credential, { type: 'bearer' | 'header' }>;

/** Applies a bearer token (`Authorization: Bearer`) or a named header (`x-api-key`, `api-key`). */
export function applyHeaderCredential(req: UpstreamRequest, cred: HeaderCredential): UpstreamRequest {
  if (cred.type === 'bearer') req.headers['authorization'] = `Bearer ${cred.token}`;
  else req.headers[cred.name] = cred.value;
  return req;
}
