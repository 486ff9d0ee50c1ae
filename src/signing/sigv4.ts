import { createHmac, hash } from 'node:crypto';
import { GatewayError } from '../errors/gateway-error.js';
import type { UpstreamRequest } from '../upstream/types.js';

/**
 * AWS Signature Version 4, `Authorization`-header form, synchronous and node:crypto only.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 *
 * Canonicalisation follows the AWS SDK for JavaScript (`@smithy/signature-v4`) for every
 * service except S3: the path as sent on the wire is URI-encoded once more ("double
 * encoding"), and `.`/`..`/empty segments are removed first. The presigned-URL (query) form
 * is not implemented: the gateway never hands out URLs.
 *
 * @example
 * const signed = signSigV4(req, cred, { region: 'us-east-1', service: 'bedrock', host: 'bedrock-runtime.us-east-1.amazonaws.com' });
 * // signed.headers holds x-amz-date, x-amz-security-token (when cred has one) and authorization; req is unchanged
 */

/** AWS access keys (temporary ones carry a session token). */
export type AwsCredential = { type: 'aws'; accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiresAt?: number };

/**
 * Where the signature is valid.
 *
 * @example
 * const scope: SigV4Scope = { region: 'us-east-1', service: 'bedrock', host: 'bedrock-runtime.us-east-1.amazonaws.com' };
 */
export interface SigV4Scope {
  region: string;
  /** Signing name, e.g. `bedrock` (also for bedrock-runtime hosts). */
  service: string;
  /**
   * Host header value the request is sent with, e.g. `bedrock-runtime.us-east-1.amazonaws.com`
   * or `127.0.0.1:4567`: the HTTP client sets Host from the pool's origin, so this must be that
   * origin's host[:port]. Signing any other value "produces a silent 403".
   */
  host: string;
}

/**
 * @example
 * signSigV4(req, cred, scope, { signBody: true, now: new Date('2015-08-30T12:36:00Z') });
 */
export interface SigV4Options {
  /** Send and sign `x-amz-content-sha256` (S3 requires it; Bedrock accepts it). Default false. */
  signBody?: boolean;
  /** Signing time. Default: the current time. */
  now?: Date;
  /** Remove `.`, `..` and empty path segments before encoding, as all non-S3 services do. Default true. */
  normalizePath?: boolean;
  /**
   * Which request headers to sign (lower-case name in). `host`, `x-amz-date` and
   * `x-amz-content-sha256` are always signed and `authorization` never; this decides for every
   * other header, `x-amz-security-token` included. Default: {@link isSignableHeader}.
   */
  signHeader?: (name: string) => boolean;
  /** Where derived signing keys are kept. Default: one module-wide cache of 8 keys. */
  keyCache?: SigningKeyCache;
}

/** A request as {@link sigV4Parts} reads it: like `UpstreamRequest`, but a header may repeat. */
export interface SigV4Input {
  method: string;
  /** Path and query as sent on the wire, starting with "/". */
  path: string;
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  body: Buffer | null;
}

/** The intermediate values of one signature, for tests and diagnostics. */
export interface SigV4Parts {
  /** `YYYYMMDDTHHMMSSZ`, the value of `x-amz-date`. */
  amzDate: string;
  /** Hex SHA-256 of the body. */
  payloadHash: string;
  canonicalRequest: string;
  stringToSign: string;
  /** e.g. `content-type;host;x-amz-date`. */
  signedHeaders: string;
  /** Hex HMAC-SHA256. */
  signature: string;
  /** The `Authorization` header value. */
  authorization: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Headers the signer writes itself (or, for `host`, takes from the scope): a value the request
 * already carries is replaced, never signed as found. A re-signed retry must not sign its old
 * `authorization`, and a client's own `x-amz-*` credentials must not ride along with ours.
 */
const SIGNER_OWNED = new Set(['host', 'authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']);

/**
 * Never signed by default: hop-by-hop and transport headers that a proxy or the HTTP client may
 * rewrite, plus those the AWS SDK never signs (its `ALWAYS_UNSIGNABLE_HEADERS`: user-agent,
 * x-amzn-trace-id, ...). `content-length` is left out too: undici sets it from the body, and the
 * payload hash already commits to every body byte, so signing it adds no protection and only
 * a way to mismatch.
 */
const UNSIGNED_BY_DEFAULT = new Set([
  'authorization',
  'cache-control',
  'connection',
  'content-length',
  'expect',
  'from',
  'http2-settings',
  'keep-alive',
  'max-forwards',
  'pragma',
  'referer',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
]);

/** The default header selection: everything but hop-by-hop, transport and tracing headers (`proxy-*`, `sec-*` included). */
export function isSignableHeader(name: string): boolean {
  return !UNSIGNED_BY_DEFAULT.has(name) && !name.startsWith('proxy-') && !name.startsWith('sec-');
}

/**
 * A signed copy of `req` (which is left as it was, so a retry can sign it afresh): sets
 * `x-amz-date`, `x-amz-security-token` (removed when the credential has no token),
 * `x-amz-content-sha256` (with `signBody`; removed otherwise) and `authorization`. Throws
 * `internal_error` if `req.headers.host` is set to another host than `scope.host`, because that
 * request could only earn a 403.
 */
/** Headers a signature replaces: a request signed again (a retry) carries none of the old ones. */
const RESET_ON_SIGN: ReadonlySet<string> = new Set(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'authorization']);

export function signSigV4(req: UpstreamRequest, cred: AwsCredential, scope: SigV4Scope, options: SigV4Options = {}): UpstreamRequest {
  const host = req.headers['host'];
  if (host !== undefined && host !== scope.host) {
    throw new GatewayError('internal_error', 'SigV4: the request carries a Host header other than the host it is signed for');
  }
  const parts = sigV4Parts(req, cred, scope, options);
  // A fresh record without the headers the signer owns, then the signer's values: `delete` on a
  // copy would turn it into a slow dictionary object on the request path.
  const headers: Record<string, string> = {};
  for (const name in req.headers) if (!RESET_ON_SIGN.has(name)) headers[name] = req.headers[name]!;
  headers['x-amz-date'] = parts.amzDate;
  if (cred.sessionToken) headers['x-amz-security-token'] = cred.sessionToken;
  if (options.signBody === true) headers['x-amz-content-sha256'] = parts.payloadHash;
  headers['authorization'] = parts.authorization;
  return { method: req.method, path: req.path, headers, body: req.body, target: req.target };
}

/** Computes a signature, as if {@link signSigV4} had set its headers. */
export function sigV4Parts(req: SigV4Input, cred: AwsCredential, scope: SigV4Scope, options: SigV4Options = {}): SigV4Parts {
  const signHeader = options.signHeader ?? isSignableHeader;
  const amzDate = formatAmzDate(options.now ?? null);
  const payloadHash = req.body === null || req.body.length === 0 ? EMPTY_SHA256 : hash('sha256', req.body, 'hex');

  const headers: [name: string, value: string][] = [
    ['host', scope.host],
    ['x-amz-date', amzDate],
  ];
  if (cred.sessionToken && signHeader('x-amz-security-token')) headers.push(['x-amz-security-token', cred.sessionToken]);
  if (options.signBody === true) headers.push(['x-amz-content-sha256', payloadHash]);
  for (const rawName in req.headers) {
    const value = req.headers[rawName];
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (SIGNER_OWNED.has(name) || !signHeader(name)) continue;
    headers.push([name, canonicalHeaderValue(value)]);
  }
  // Stable sort: values of one name, met twice under different spellings, keep their order.
  headers.sort(byName);

  let canonicalHeaders = '';
  let signedHeaders = '';
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (i > 0 && headers[i - 1]![0] === name) {
      canonicalHeaders = canonicalHeaders.slice(0, -1) + ',' + value + '\n';
      continue;
    }
    canonicalHeaders += name + ':' + value + '\n';
    signedHeaders += (i === 0 ? '' : ';') + name;
  }

  const q = req.path.indexOf('?');
  const rawPath = q === -1 ? req.path : req.path.slice(0, q);
  const canonicalRequest =
    req.method + '\n' +
    canonicalPath(rawPath, options.normalizePath !== false) + '\n' +
    (q === -1 ? '' : canonicalQuery(req.path.slice(q + 1))) + '\n' +
    canonicalHeaders + '\n' +
    signedHeaders + '\n' +
    payloadHash;

  const key = (options.keyCache ?? defaultKeyCache).get(cred.secretAccessKey, amzDate.slice(0, 8), scope.region, scope.service);
  const stringToSign = ALGORITHM + '\n' + amzDate + '\n' + key.scope + '\n' + hash('sha256', canonicalRequest, 'hex');
  const signature = createHmac('sha256', key.key).update(stringToSign).digest('hex');
  const authorization = `${ALGORITHM} Credential=${cred.accessKeyId}/${key.scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { amzDate, payloadHash, canonicalRequest, stringToSign, signedHeaders, signature, authorization };
}

function byName(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

// ---- signing keys ---------------------------------------------------------------------------

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function deriveSigningKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', 'AWS4' + secretAccessKey).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/** A derived key with the credential scope (`date/region/service/aws4_request`) it is for. */
export interface SigningKey {
  readonly secret: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly key: Buffer;
  readonly scope: string;
}

/**
 * Derived signing keys, most recently used last. Deriving one costs four HMACs, and the gateway
 * signs every request of a day with the same few (secret, region, service). Bounded twice, so
 * that a rotated secret does not linger: at most `maxEntries` keys, and keys of an earlier UTC
 * day are dropped as soon as a later day's key is derived.
 *
 * @example
 * const cache = new SigningKeyCache(8);
 * cache.get(secret, '20150830', 'us-east-1', 'bedrock').key;
 */
export class SigningKeyCache {
  readonly #maxEntries: number;
  readonly #entries: SigningKey[] = [];

  constructor(maxEntries = 8) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** `date` is `YYYYMMDD`. */
  get(secret: string, date: string, region: string, service: string): SigningKey {
    const entries = this.#entries;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.date === date && e.region === region && e.service === service && e.secret === secret) {
        if (i !== entries.length - 1) entries.push(entries.splice(i, 1)[0]!);
        return e;
      }
    }
    const key = deriveSigningKey(secret, date, region, service);
    const entry: SigningKey = { secret, date, region, service, key, scope: `${date}/${region}/${service}/aws4_request` };
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.date < date) entries.splice(i, 1);
    if (entries.length >= this.#maxEntries) entries.splice(0, entries.length - this.#maxEntries + 1);
    entries.push(entry);
    return entry;
  }

  clear(): void {
    this.#entries.length = 0;
  }
}

const defaultKeyCache = new SigningKeyCache(8);

// ---- dates ----------------------------------------------------------------------------------

let lastSecond = Number.NaN;
let lastAmzDate = '';

/** `YYYYMMDDTHHMMSSZ`; memoised per second, since thousands of signatures share one. */
function formatAmzDate(now: Date | null): string {
  const ms = now === null ? Date.now() : now.getTime();
  const second = Math.floor(ms / 1000);
  if (second === lastSecond) return lastAmzDate;
  const iso = new Date(second * 1000).toISOString(); // YYYY-MM-DDTHH:mm:ss.sssZ
  lastAmzDate = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  lastSecond = second;
  return lastAmzDate;
}

// ---- canonical headers ----------------------------------------------------------------------

/** Several values of one header are joined with ','; each value is trimmed as below. */
function canonicalHeaderValue(value: string | readonly string[]): string {
  if (typeof value === 'string') return trimAll(value);
  let out = '';
  for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + trimAll(value[i]!);
  return out;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * AWS "Trimall": strip leading and trailing whitespace, turn each run of it into one space.
 * Whitespace is SP, HTAB, CR and LF, as in the AWS SDK (so a folded value becomes one line).
 */
function trimAll(s: string): string {
  const n = s.length;
  let clean = n === 0 || (!isSpace(s.charCodeAt(0)) && !isSpace(s.charCodeAt(n - 1)));
  for (let i = 0; clean && i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 9 || c === 10 || c === 13 || (c === 32 && s.charCodeAt(i + 1) === 32)) clean = false;
  }
  if (clean) return s;
  let out = '';
  let start = -1; // start of the current run of non-space characters
  for (let i = 0; i <= n; i++) {
    if (i < n && !isSpace(s.charCodeAt(i))) {
      if (start === -1) start = i;
      continue;
    }
    if (start !== -1) {
      out += (out.length === 0 ? '' : ' ') + s.slice(start, i);
      start = -1;
    }
  }
  return out;
}

// ---- canonical URI and query ----------------------------------------------------------------

/** `%XX` for every byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => '%' + b.toString(16).toUpperCase().padStart(2, '0'));

/** 1 for the RFC 3986 unreserved characters A-Z a-z 0-9 - _ . ~, which AWS never encodes. */
const UNRESERVED = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-_.~]/.test(ch)) UNRESERVED[c] = 1;
}

const SLASH = 47;
const PERCENT = 37;

/**
 * The path as sent, normalised (unless disabled) and URI-encoded once more, '/' kept: the
 * wire's `%3A` becomes `%253A`, a raw `:` becomes `%3A`. This is what the AWS SDK's
 * `getCanonicalPath` does with the path its serializer already encoded.
 */
function canonicalPath(path: string, normalize: boolean): string {
  if (path.length === 0) return '/';
  if (normalize && (path.includes('//') || path.includes('/.'))) path = normalizePath(path);
  return uriEncode(path, true);
}

/** Drops empty and `.` segments, resolves `..`; keeps a leading and a trailing '/'. */
function normalizePath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const lead = path.charCodeAt(0) === SLASH ? '/' : '';
  const trail = segments.length > 0 && path.charCodeAt(path.length - 1) === SLASH ? '/' : '';
  return lead + segments.join('/') + trail;
}

/**
 * The wire query, split on '&' (empty pieces skipped), each key and value percent-decoded and
 * re-encoded per AWS (so `+` stays a literal plus: `%2B`), sorted by key, then value.
 * A key without '=' has the empty value.
 */
function canonicalQuery(query: string): string {
  if (query.length === 0) return '';
  const pairs: [key: string, value: string][] = [];
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      if (eq === -1 || eq > end) pairs.push([reencode(query.slice(start, end)), '']);
      else pairs.push([reencode(query.slice(start, eq)), reencode(query.slice(eq + 1, end))]);
    }
    start = end + 1;
  }
  pairs.sort(byKeyThenValue);
  let out = '';
  for (let i = 0; i < pairs.length; i++) out += (i === 0 ? '' : '&') + pairs[i]![0] + '=' + pairs[i]![1];
  return out;
}

function byKeyThenValue(a: [string, string], b: [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** Length of the leading run of characters that encode to themselves. */
function plainPrefix(s: string, keepSlash: boolean): number {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || (UNRESERVED[c] === 0 && !(keepSlash && c === SLASH))) break;
  }
  return i;
}

/** Encodes every byte of the UTF-8 form except unreserved characters (and '/' if asked). */
function uriEncode(s: string, keepSlash: boolean): string {
  let i = plainPrefix(s, keepSlash);
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) out += UNRESERVED[c] === 1 || (keepSlash && c === SLASH) ? s[i] : HEX[c];
    else i = appendUtf8(s, i, (b) => (out += HEX[b]));
  }
  return out;
}

/** A query key or value as sent: `%XX` is decoded to its byte first, then all is encoded as above. */
function reencode(s: string): string {
  let i = plainPrefix(s, false);
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === PERCENT && i + 2 < s.length && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      const b = parseInt(s.slice(i + 1, i + 3), 16);
      out += b < 128 && UNRESERVED[b] === 1 ? String.fromCharCode(b) : HEX[b];
      i += 2;
    } else if (c < 128) out += UNRESERVED[c] === 1 ? s[i] : HEX[c];
    else i = appendUtf8(s, i, (b) => (out += HEX[b]));
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/**
 * Emits the UTF-8 bytes of the code point at `s[i]` (c >= 128) and returns the index of its last
 * UTF-16 unit. A lone surrogate becomes U+FFFD, as Buffer.from(s) would send it.
 */
function appendUtf8(s: string, i: number, emit: (byte: number) => void): number {
  let cp = s.charCodeAt(i);
  if (cp >= 0xd800 && cp <= 0xdbff) {
    const lo = s.charCodeAt(i + 1);
    if (lo >= 0xdc00 && lo <= 0xdfff) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      i++;
    } else cp = 0xfffd;
  } else if (cp >= 0xdc00 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x800) {
    emit(0xc0 | (cp >> 6));
  } else if (cp < 0x10000) {
    emit(0xe0 | (cp >> 12));
    emit(0x80 | ((cp >> 6) & 0x3f));
  } else {
    emit(0xf0 | (cp >> 18));
    emit(0x80 | ((cp >> 12) & 0x3f));
    emit(0x80 | ((cp >> 6) & 0x3f));
  }
  emit(0x80 | (cp & 0x3f));
  return i;
}
