import { CLIENT_CREDENTIAL_HEADERS } from '../upstream/headers.js';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The gateway credential a client presented: the first of `Authorization: Bearer`, `X-API-Key`,
 * `api-key`, `x-goog-api-key` (DESIGN.md §2) that is present. Whatever header carried it, all of
 * them are stripped before forwarding (upstream/headers.ts).
 */
export function presentedCredential(headers: IncomingHttpHeaders): string | undefined {
  for (const name of CLIENT_CREDENTIAL_HEADERS) {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined || value === '') continue;
    if (name === 'authorization') {
      // RFC 9110 §11.1: the scheme is case-insensitive.
      if (value.length > 7 && value.slice(0, 7).toLowerCase() === 'bearer ') return value.slice(7).trim();
      continue;
    }
    return value.trim();
  }
  return undefined;
}
