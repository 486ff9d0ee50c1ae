import { createHash, sign as rsaSign, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors/gateway-error.js';
import type { UpstreamRequest } from '../upstream/types.js';

/**
 * OCI HTTP request signatures: draft-cavage-http-signatures with `rsa-sha256` (RSASSA-PKCS1-v1_5
 * over SHA-256), as Oracle's "Request Signatures" page and its SDKs (oci-go-sdk
 * `common/http_signer.go`) do them:
 *
 * - Every request signs `date (request-target) host`; `(request-target)` is the lower-case method,
 *   a space and the path with its query exactly as sent.
 * - POST, PUT and PATCH also sign `content-length content-type x-content-sha256`, where
 *   `x-content-sha256` is the base64 SHA-256 of the body (of the empty string when there is none).
 * - The signing string is `name: value` lines joined with `\n`, no trailing newline.
 * - `Authorization: Signature version="1",headers="...",keyId="...",algorithm="rsa-sha256",signature="..."`
 *   (the field order of Oracle's SDKs and of `../shared/testdata/oci-signature`).
 *
 * Signing over another host than the one the request reaches produces a 401 NotAuthenticated
 * with no further hint, so the host comes from the instance's endpoint, never from a client.
 * Synchronous: one RSA private-key operation per request, no I/O.
 */

/** An OCI API signing key (or a federation session's key) and the key id it is known by. */
export type OciCredential = { type: 'oci'; keyId: string; privateKey: KeyObject; expiresAt?: number };

/** What the signature covers of a request; `UpstreamRequest` satisfies it. */
export interface OciSigningInput {
  method: string;
  /** Path and query, starting with "/", exactly as sent. */
  path: string;
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>;
  body: Buffer | null;
}

export interface OciSigningOptions {
  /** The signing time; default now. */
  now?: Date;
  /**
   * The `date` value verbatim, instead of formatting `now` (Oracle's published vectors carry
   * "Thu, 05 Jan 2014", a Sunday, which no formatter reproduces).
   */
  date?: string;
}

/** Everything {@link signOci} computes, for tests and diagnostics. */
export interface OciSignatureParts {
  /** The `date` header value (RFC 7231 IMF-fixdate). */
  date: string;
  /** Set for methods with a body: base64 SHA-256 of the body. */
  contentSha256: string | undefined;
  /** Set for methods with a body: the body's length in bytes. */
  contentLength: string | undefined;
  /** Set for methods with a body: the request's content type (`application/json` if none). */
  contentType: string | undefined;
  /** The signed header names, space-separated, in signing order. */
  signedHeaders: string;
  signingString: string;
  /** Base64 signature. */
  signature: string;
  /** The `Authorization` header value. */
  authorization: string;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const BASIC_HEADERS = 'date (request-target) host';
const BODY_HEADERS = `${BASIC_HEADERS} content-length content-type x-content-sha256`;

/**
 * A copy of `req` signed for `host` (`req` is left as it was, so a retry can sign it afresh):
 * sets `date`, `authorization`, and for POST, PUT and PATCH `x-content-sha256`,
 * `content-length` and `content-type` (when absent). Throws
 * `internal_error` if `req.headers.host` names another host than `host`, since such a request
 * could only earn a 401.
 *
 * @example
 * const signed = signOci(req, { type: 'oci', keyId: `${tenancy}/${user}/${fingerprint}`, privateKey }, 'inference.generativeai.us-chicago-1.oci.oraclecloud.com');
 */
export function signOci(req: UpstreamRequest, cred: OciCredential, host: string, options: OciSigningOptions = {}): UpstreamRequest {
  const sent = req.headers['host'];
  if (sent !== undefined && sent !== host) {
    throw new GatewayError('internal_error', 'OCI signature: the request carries a Host header other than the host it is signed for');
  }
  const parts = ociSignatureParts(req, cred, host, options);
  const headers = { ...req.headers };
  headers['date'] = parts.date;
  if (parts.contentSha256 !== undefined) {
    headers['x-content-sha256'] = parts.contentSha256;
    headers['content-length'] = parts.contentLength!;
    headers['content-type'] = parts.contentType!;
  }
  headers['authorization'] = parts.authorization;
  return { ...req, headers };
}

/** Computes the signature, as if {@link signOci} had set its headers. */
export function ociSignatureParts(req: OciSigningInput, cred: OciCredential, host: string, options: OciSigningOptions = {}): OciSignatureParts {
  const date = options.date ?? (options.now ?? new Date()).toUTCString();
  const method = req.method.toUpperCase();
  let signingString = `date: ${date}\n(request-target): ${method.toLowerCase()} ${req.path}\nhost: ${host}`;
  let signedHeaders = BASIC_HEADERS;
  let contentSha256: string | undefined;
  let contentLength: string | undefined;
  let contentType: string | undefined;
  if (BODY_METHODS.has(method)) {
    const body = req.body ?? Buffer.alloc(0);
    contentSha256 = createHash('sha256').update(body).digest('base64');
    contentLength = String(body.length);
    contentType = req.headers['content-type'] ?? 'application/json';
    signingString += `\ncontent-length: ${contentLength}\ncontent-type: ${contentType}\nx-content-sha256: ${contentSha256}`;
    signedHeaders = BODY_HEADERS;
  }
  const signature = rsaSign('sha256', Buffer.from(signingString, 'utf8'), cred.privateKey).toString('base64');
  const authorization = `Signature version="1",headers="${signedHeaders}",keyId="${cred.keyId}",algorithm="rsa-sha256",signature="${signature}"`;
  return { date, contentSha256, contentLength, contentType, signedHeaders, signingString, signature, authorization };
}
