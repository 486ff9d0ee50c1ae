/**
 * Which headers cross the gateway. A client's request headers are forwarded except those below;
 * an upstream's response headers are returned except the hop-by-hop ones and a few that would
 * point the client at the provider directly.
 */

/** Every header a client may carry its gateway credential in (DESIGN.md §2), plus the TOTP code. */
export const CLIENT_CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'] as const;

const NEVER_FORWARDED = new Set<string>([
  ...CLIENT_CREDENTIAL_HEADERS,
  'x-totp-code',
  // AWS ALB authentication (auth.alb): the signed user claims and the IdP's tokens
  'x-amzn-oidc-data',
  'x-amzn-oidc-accesstoken',
  'x-amzn-oidc-identity',
  // the gateway's own routing header
  'x-llmproxy-instance',
  'proxy-authorization',
  'cookie',
  // hop-by-hop (RFC 9110 §7.6.1) and framing the gateway sets itself
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'http2-settings',
  // the gateway is the client as far as the provider is concerned
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  // the gateway reads usage from responses, so it asks for them uncompressed
  'accept-encoding',
]);

/**
 * Headers an instance's configured `headers` may not set, with why: the gateway sets them itself
 * (the credential, a signature, framing) and a configured value would replace or break them.
 * Names are lower case; `x-llmproxy-*` is the gateway's own as well.
 */
const GATEWAY_SET: ReadonlyMap<string, string> = new Map([
  ...['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key'].map((n) => [n, 'the gateway sets the credential header'] as const),
  // AWS SigV4 (signing/sigv4.ts) and OCI HTTP signatures (signing/oci.ts)
  ...['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'date', 'x-date', 'x-content-sha256'].map((n) => [n, 'the gateway sets it when it signs the request'] as const),
  ...['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect', 'http2-settings'].map(
    (n) => [n, 'the gateway sets the framing of the request'] as const,
  ),
  ['accept-encoding', 'the gateway asks for uncompressed answers to read usage from them'],
]);

/**
 * Why an instance's configured header `name` is refused, or undefined when it may be set.
 *
 * @example
 * reservedUpstreamHeader('Authorization') // 'the gateway sets the credential header'
 * reservedUpstreamHeader('X-Tenant')      // undefined
 */
export function reservedUpstreamHeader(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower.startsWith('x-llmproxy-')) return 'x-llmproxy-* headers are the gateway\'s own';
  return GATEWAY_SET.get(lower);
}

const NEVER_RETURNED = new Set<string>([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'set-cookie',
  // would invite the client to reach the provider's host over HTTP/3, around the gateway
  'alt-svc',
]);

/**
 * The client's headers minus credentials, hop-by-hop and gateway-control (`x-llmproxy-*`) ones,
 * and minus `extraStripped` (provider-specific, e.g. headers that select a provider account).
 */
export function forwardableHeaders(
  incoming: Readonly<Record<string, string | string[] | undefined>>,
  extraStripped: ReadonlySet<string> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  const listed = incoming['connection'];
  const connectionListed = typeof listed === 'string' && listed !== 'keep-alive' && listed !== 'close' ? listed.toLowerCase().split(',').map((s) => s.trim()) : undefined;
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 /* ':' HTTP/2 pseudo-header */) continue;
    if (NEVER_FORWARDED.has(name) || name.startsWith('x-llmproxy-')) continue;
    if (extraStripped?.has(name) || connectionListed?.includes(name)) continue;
    const value = incoming[name];
    if (value === undefined) continue;
    out[name] = typeof value === 'string' ? value : value.join(', ');
  }
  out['accept-encoding'] = 'identity';
  return out;
}

/** The upstream's response headers that may be returned to the client. */
export function returnableHeaders(upstream: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in upstream) {
    // `x-llmproxy-*` are the gateway's own (request id, dropped parameters): an upstream cannot speak for it.
    if (NEVER_RETURNED.has(name) || name.startsWith('x-llmproxy-')) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
