import { GatewayError } from '../errors/gateway-error.js';

/**
 * Client credentials in a URL's query. Gateway keys belong in a header: a key in a URL ends up in
 * browser histories and the access logs of every proxy on the way, so a request that carries one
 * is refused (and the client learns to move it); query parameters that name a credential are
 * dropped before forwarding, since the gateway supplies the provider's credential itself.
 */

/** Query parameters providers read credentials from (`?key=` for Google APIs, `?api_key=`, ...). */
const CREDENTIAL_PARAMS = new Set(['key', 'api_key', 'api-key', 'apikey', 'x-api-key']);

/** A gateway key (`llmp_<id>_<secret>`), found in the query as sent or percent-decoded. */
const GATEWAY_KEY = /llmp_[0-9A-Za-z]+_[0-9A-Za-z]/;

/** The 400 `invalid_request` to answer when `query` (`?...` or '') carries a gateway key; undefined otherwise. */
export function queryCredentialError(query: string): GatewayError | undefined {
  if (query.length === 0) return undefined;
  if (!GATEWAY_KEY.test(query) && !(query.includes('%') && GATEWAY_KEY.test(decode(query)))) return undefined;
  return new GatewayError('invalid_request', 'a gateway credential was sent in the URL query; send it in a header (Authorization: Bearer, X-API-Key) instead, and replace the key: URLs are logged');
}

/**
 * `query` without its credential parameters, the rest byte for byte as the client sent them
 * (signatures such as SigV4 cover the query, so nothing is re-encoded). '' when nothing is left.
 */
export function forwardableQuery(query: string): string {
  if (query.length <= 1) return '';
  const kept = query
    .slice(1)
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const name = decode(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase();
      return !CREDENTIAL_PARAMS.has(name);
    });
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text; // malformed escapes: judged as sent
  }
}
