import { request } from 'undici';
import type { CachedToken } from '../cloud-identity/cached-token.js';
import { boundedText } from '../util/bounded-text.js';

const REQUEST_TIMEOUT_MS = 10_000;
/** Far above any secret a store holds (Google: 64 KiB; IBM: a few hundred KiB at most). */
const ANSWER_LIMIT = 1024 * 1024;

/** How a cloud secret store's read went: no token, no answer, or an answer (status and body). */
export type BearerRead = { kind: 'no_token'; error: unknown } | { kind: 'unreachable'; error: unknown } | { kind: 'answer'; status: number; text: string };

/**
 * `GET url` with the store's cached access token; a 401 (an expired or revoked token) fetches
 * a new token and tries once more. Timeouts on the whole request and its phases; the answer is
 * read up to 1 MiB. The caller turns each outcome into its store's error.
 */
export async function bearerRead(url: string, tokens: CachedToken, signal: AbortSignal): Promise<BearerRead> {
  for (let attempt = 0; ; attempt++) {
    let token: string;
    try {
      token = await tokens.get(signal);
    } catch (error) {
      return { kind: 'no_token', error };
    }
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      status = res.statusCode;
      text = await boundedText(res.body, ANSWER_LIMIT);
    } catch (error) {
      return { kind: 'unreachable', error };
    }
    if (status === 401 && attempt === 0) {
      tokens.invalidate(token);
      continue;
    }
    return { kind: 'answer', status, text };
  }
}

/** What a failed connection says without its message (which may name a host or echo a request). */
export function connectionProblem(err: unknown): string {
  return (err as { code?: string }).code ?? (err instanceof Error ? err.name : 'error');
}
