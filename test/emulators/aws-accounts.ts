import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export const DEFAULT_ACCOUNT_ID = '123456789012';

export interface IamUser {
  kind: 'user';
  name: string;
  arn: string;
  /** The unique id AWS shows in GetCallerIdentity (`AIDA…`). */
  userId: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface IamRole {
  name: string;
  arn: string;
  /** The unique id AWS uses in `AssumedRoleId` (`AROA…`). */
  roleId: string;
  /** Tokens AssumeRoleWithWebIdentity accepts for this role; replace the contents to rotate. */
  readonly webIdentityTokens: Set<string>;
  /** Principal ARNs (users, or roles for role chaining) AssumeRole accepts; `*` is anyone known. */
  readonly trustedPrincipals: Set<string>;
  /** When set, AssumeRole must carry exactly this `ExternalId`. */
  externalId: string | undefined;
  /** The role's MaxSessionDuration (AWS default 3600). */
  maxSessionDurationSeconds: number;
}

/** Temporary credentials, as STS / IMDS / the container endpoint hand them out. */
export interface SessionCredential {
  kind: 'session';
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  issuedAt: Date;
  roleArn: string;
  roleName: string;
  sessionName: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>` */
  assumedRoleArn: string;
  /** `AROA…:<session>` */
  assumedRoleId: string;
  /** Who minted it (`sts:AssumeRole`, `imds`, …); free text for assertions. */
  issuedBy: string;
  revoked: boolean;
}

export type Principal = IamUser | SessionCredential;

export interface RoleTrust {
  webIdentityTokens?: string[];
  trustedPrincipals?: string[];
  externalId?: string;
  maxSessionDurationSeconds?: number;
}

/**
 * What {@link AwsAccounts.authenticateSigV4} needs of a request: everything exactly as it came
 * on the wire (raw path and query, header values as received).
 */
export interface WireRequest {
  method: string;
  /** The raw path, still percent-encoded as sent. */
  path: string;
  /** The raw query string without `?`. */
  query: string;
  /** Header values by lower-case name; repeated headers as several values. */
  headers: NodeJS.Dict<string[]>;
  body: Buffer;
}

/** Why SigV4 authentication failed; each emulator maps these to its service's error code. */
export type SigV4FailureReason =
  /** No Authorization header (MissingAuthenticationToken). */
  | 'missing'
  /** Authorization header or date malformed or incomplete (IncompleteSignature). */
  | 'incomplete'
  /** Skew, scope (region/service/date), unsigned host or signature mismatch (InvalidSignature / SignatureDoesNotMatch). */
  | 'invalid-signature'
  /** Unknown or revoked access key, or a session token that is missing or does not belong to the key. */
  | 'invalid-token'
  /** Temporary credentials past their expiration. */
  | 'expired-token';

export interface SigV4Failure {
  ok: false;
  reason: SigV4FailureReason;
  /** The message AWS puts in the error body (services reword some; see the emulators). */
  message: string;
  accessKeyId?: string;
}

export interface SigV4Pending {
  ok: true;
  principal: Principal;
  accessKeyId: string;
  /** Resolves once the signature has been recomputed and compared: true when it matches. */
  signatureMatches: Promise<boolean>;
}

export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** AWS accepts a signature within 5 minutes of its own clock, either way. */
const MAX_SKEW_MS = 5 * 60_000;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const sha256 = Hash.bind(null, 'sha256');

/**
 * A shared in-memory "IAM" for the AWS emulators (STS, IMDS, container credentials, Bedrock):
 * long-term access keys of users, roles with their trust (which web-identity tokens, which
 * principals, which external id), and the temporary credentials minted for them. Every
 * emulator mints through {@link AwsAccounts.issue} and authenticates through
 * {@link AwsAccounts.authenticateSigV4}, so Bedrock accepts exactly what STS, IMDS or the
 * container endpoint handed out, until it expires or is revoked.
 *
 * @example
 * const accounts = new AwsAccounts();
 * const user = accounts.addUser('gateway');                      // AKIA… / secret
 * const role = accounts.addRole('bedrock-caller', { trustedPrincipals: [user.arn], externalId: 'ext-1' });
 * const creds = accounts.issue(role.arn, 'test-session', 20);    // ASIA…, expires in 20 s
 * accounts.lookup(creds.accessKeyId);                            // the session
 * accounts.revoke(creds.accessKeyId);                            // Bedrock now answers UnrecognizedClientException
 */
export class AwsAccounts {
  readonly accountId: string;
  /** TTL of credentials whose issuer was not asked for a duration. */
  defaultTtlSeconds = 3600;
  /** Moves the emulated AWS clock (expiry and signature-skew checks, `Date` headers). */
  clockOffsetMs = 0;
  readonly users = new Map<string, IamUser>();
  readonly roles = new Map<string, IamRole>();
  /** Every credential minted, oldest first. */
  readonly issued: SessionCredential[] = [];
  readonly #sessions = new Map<string, SessionCredential>();

  constructor(accountId = DEFAULT_ACCOUNT_ID) {
    this.accountId = accountId;
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  addUser(name: string, keys: { accessKeyId?: string; secretAccessKey?: string } = {}): IamUser {
    const user: IamUser = {
      kind: 'user',
      name,
      arn: `arn:aws:iam::${this.accountId}:user/${name}`,
      userId: `AIDA${upperAlnum(17)}`,
      accessKeyId: keys.accessKeyId ?? `AKIA${upperAlnum(16)}`,
      secretAccessKey: keys.secretAccessKey ?? secret(),
    };
    this.users.set(user.accessKeyId, user);
    return user;
  }

  addRole(name: string, trust: RoleTrust = {}): IamRole {
    const role: IamRole = {
      name,
      arn: `arn:aws:iam::${this.accountId}:role/${name}`,
      roleId: `AROA${upperAlnum(17)}`,
      webIdentityTokens: new Set(trust.webIdentityTokens ?? []),
      trustedPrincipals: new Set(trust.trustedPrincipals ?? []),
      externalId: trust.externalId,
      maxSessionDurationSeconds: trust.maxSessionDurationSeconds ?? 3600,
    };
    this.roles.set(role.arn, role);
    return role;
  }

  role(arn: string): IamRole | undefined {
    return this.roles.get(arn);
  }

  /** Mints temporary credentials for `roleArn` (which must exist), as STS would. */
  issue(roleArn: string, sessionName: string, ttlSeconds = this.defaultTtlSeconds, issuedBy = 'test'): SessionCredential {
    const role = this.roles.get(roleArn);
    if (!role) throw new Error(`AwsAccounts: no role ${roleArn}`);
    const now = this.now();
    const cred: SessionCredential = {
      kind: 'session',
      accessKeyId: `ASIA${upperAlnum(16)}`,
      secretAccessKey: secret(),
      sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(180).toString('base64')}`,
      // AWS expirations are whole seconds.
      expiration: new Date(Math.floor(now / 1000 + ttlSeconds) * 1000),
      issuedAt: new Date(now),
      roleArn,
      roleName: role.name,
      sessionName,
      assumedRoleArn: `arn:aws:sts::${this.accountId}:assumed-role/${role.name}/${sessionName}`,
      assumedRoleId: `${role.roleId}:${sessionName}`,
      issuedBy,
      revoked: false,
    };
    this.#sessions.set(cred.accessKeyId, cred);
    this.issued.push(cred);
    return cred;
  }

  /** The user or session an access key belongs to (revoked keys are gone, as deleted keys are). */
  lookup(accessKeyId: string): Principal | undefined {
    const session = this.#sessions.get(accessKeyId);
    if (session) return session.revoked ? undefined : session;
    return this.users.get(accessKeyId);
  }

  isExpired(cred: SessionCredential): boolean {
    return cred.expiration.getTime() <= this.now();
  }

  /** Revokes one session (or deletes a user's access key). Returns whether the key existed. */
  revoke(accessKeyId: string): boolean {
    const session = this.#sessions.get(accessKeyId);
    if (session) {
      session.revoked = true;
      return true;
    }
    return this.users.delete(accessKeyId);
  }

  /** Revokes every session of a role; returns how many. */
  revokeRole(roleArn: string): number {
    let n = 0;
    for (const s of this.#sessions.values()) {
      if (s.roleArn === roleArn && !s.revoked) {
        s.revoked = true;
        n++;
      }
    }
    return n;
  }

  /** How many credentials were minted (for one role, or in all). */
  issueCount(roleArn?: string): number {
    return roleArn === undefined ? this.issued.length : this.issued.filter((c) => c.roleArn === roleArn).length;
  }

  /**
   * Authenticates a SigV4-signed request as AWS does: parses the Authorization header, checks
   * the date and its skew, the credential scope (region, service, date, terminator), the access
   * key, its session token and expiry — all synchronously — and then recomputes the signature
   * with `@smithy/signature-v4` over the request exactly as received (method, raw path, raw
   * query, the headers named in SignedHeaders with their received values, the body's hash),
   * independently of whatever signed it. Non-S3 rules: the path is URI-encoded once more
   * (smithy's default `uriEscapePath: true`), so `%3A` on the wire is signed as `%253A`.
   * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
   */
  authenticateSigV4(req: WireRequest, expect: { region: string; service: string }): SigV4Failure | SigV4Pending {
    const authorization = header(req.headers, 'authorization');
    if (authorization === undefined) return fail('missing', 'Missing Authentication Token');
    const parsed = parseAuthorization(authorization);
    if (typeof parsed === 'string') return fail('incomplete', `${parsed} Authorization=${authorization}`);
    const { accessKeyId, scope, signedHeaders, signature } = parsed;

    const amzDate = header(req.headers, 'x-amz-date');
    if (amzDate === undefined) {
      return fail('incomplete', `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${authorization}`);
    }
    const m = AMZ_DATE.exec(amzDate);
    if (!m) return fail('incomplete', `Date must be in ISO-8601 'basic format'. Got '${amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601`);
    const signingDate = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));

    if (!signedHeaders.includes('host')) return fail('invalid-signature', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    const [scopeDate, scopeRegion, scopeService, terminator] = scope;
    if (scopeDate !== amzDate.slice(0, 8)) {
      return fail('invalid-signature', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
    }
    if (terminator !== 'aws4_request') return fail('invalid-signature', `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `);
    if (scopeService !== expect.service) return fail('invalid-signature', `Credential should be scoped to correct service: '${expect.service}'. `);
    if (scopeRegion !== expect.region) return fail('invalid-signature', `Credential should be scoped to a valid region. `);

    const now = this.now();
    if (signingDate.getTime() < now - MAX_SKEW_MS) {
      return fail('invalid-signature', `Signature expired: ${amzDate} is now earlier than ${basic(now - MAX_SKEW_MS)} (${basic(now)} - 5 min.)`);
    }
    if (signingDate.getTime() > now + MAX_SKEW_MS) {
      return fail('invalid-signature', `Signature not yet current: ${amzDate} is still later than ${basic(now + MAX_SKEW_MS)} (${basic(now)} + 5 min.)`);
    }

    const principal = this.lookup(accessKeyId);
    const token = header(req.headers, 'x-amz-security-token') ?? queryParam(req.query, 'X-Amz-Security-Token');
    const invalidToken = fail('invalid-token', 'The security token included in the request is invalid.', accessKeyId);
    if (!principal) return invalidToken;
    if (principal.kind === 'user' && token !== undefined) return invalidToken;
    if (principal.kind === 'session') {
      if (token !== principal.sessionToken) return invalidToken;
      if (this.isExpired(principal)) return fail('expired-token', 'The security token included in the request is expired', accessKeyId);
    }

    return {
      ok: true,
      principal,
      accessKeyId,
      signatureMatches: recomputeSignature(req, {
        accessKeyId, secretAccessKey: principal.secretAccessKey, region: scopeRegion!, service: scopeService!, signingDate, signedHeaders,
      }).then((expected) => expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature))),
    };
  }
}

/**
 * The credentials an instance profile or a container task role currently serves: the same set
 * until it nears expiry, then a fresh one — AWS makes new credentials available at least five
 * minutes before the old ones expire (capped here at a quarter of the TTL, so 20-second test
 * credentials still rotate sensibly).
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html#instance-metadata-security-credentials
 */
export class RoleCredentialCache {
  ttlSeconds: number | undefined;
  rotateBeforeSeconds: number | undefined;
  #current: SessionCredential | undefined;

  constructor(
    private readonly accounts: AwsAccounts,
    public roleArn: string,
    private readonly sessionName: string,
    private readonly issuedBy: string,
    options: { ttlSeconds?: number; rotateBeforeSeconds?: number } = {},
  ) {
    this.ttlSeconds = options.ttlSeconds;
    this.rotateBeforeSeconds = options.rotateBeforeSeconds;
  }

  current(): SessionCredential {
    const c = this.#current;
    const ttl = this.ttlSeconds ?? this.accounts.defaultTtlSeconds;
    const before = (this.rotateBeforeSeconds ?? Math.min(300, ttl / 4)) * 1000;
    if (!c || c.revoked || c.roleArn !== this.roleArn || c.expiration.getTime() - this.accounts.now() <= before) return this.rotate();
    return c;
  }

  /** Issues a fresh set now. */
  rotate(): SessionCredential {
    this.#current = this.accounts.issue(this.roleArn, this.sessionName, this.ttlSeconds ?? this.accounts.defaultTtlSeconds, this.issuedBy);
    return this.#current;
  }
}

/**
 * A JWT-shaped web identity token (unsigned: the STS emulator trusts tokens by registration in
 * {@link IamRole.webIdentityTokens}, and reads `exp`, `sub`, `aud`, `iss` from it).
 */
export function webIdentityToken(claims: { sub?: string; aud?: string; iss?: string; expiresInSeconds?: number; now?: number } = {}): string {
  const now = Math.floor((claims.now ?? Date.now()) / 1000);
  const payload = {
    iss: claims.iss ?? 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE',
    sub: claims.sub ?? 'system:serviceaccount:gateway:llm-proxy',
    aud: claims.aud ?? 'sts.amazonaws.com',
    iat: now,
    exp: now + (claims.expiresInSeconds ?? 3600),
    jti: randomBytes(8).toString('hex'),
  };
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', kid: 'emulator', typ: 'JWT' })}.${b64(payload)}.${randomBytes(32).toString('base64url')}`;
}

/** The claims of a JWT-shaped token, or undefined when it is not one. */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** ISO-8601 with whole seconds, as AWS writes expirations (`2024-05-01T12:00:00Z`). */
export function isoSeconds(d: Date | number): string {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The wire request of a node request, for {@link AwsAccounts.authenticateSigV4}. */
export function wireRequest(record: { method: string; path: string; query: string; body: Buffer }, headersDistinct: NodeJS.Dict<string[]>): WireRequest {
  return { method: record.method, path: record.path, query: record.query, headers: headersDistinct, body: record.body };
}

async function recomputeSignature(
  req: WireRequest,
  p: { accessKeyId: string; secretAccessKey: string; region: string; service: string; signingDate: Date; signedHeaders: string[] },
): Promise<string> {
  // AWS (outside S3) hashes the body it received; a signed x-amz-content-sha256 that disagrees
  // cannot produce the canonical request AWS builds, and smithy would trust the header.
  const declared = header(req.headers, 'x-amz-content-sha256');
  if (declared !== undefined && p.signedHeaders.includes('x-amz-content-sha256') && declared !== createHash('sha256').update(req.body).digest('hex')) {
    return '';
  }
  const headers: Record<string, string> = {};
  for (const name of p.signedHeaders) {
    const v = req.headers[name];
    // Repeated headers are joined with commas in the canonical request.
    if (v !== undefined) headers[name] = v.join(',');
  }
  const signer = new SignatureV4({
    service: p.service,
    region: p.region,
    credentials: { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey },
    sha256,
    // Never add headers the client did not sign; the session token, when signed, is in `headers`.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: headers['host'] ?? '',
      path: req.path,
      query: parseQuery(req.query),
      headers,
      body: req.body,
    },
    { signingDate: p.signingDate, signableHeaders: new Set(p.signedHeaders) },
  );
  return /Signature=([0-9a-f]+)/.exec(String(signed.headers['authorization']))?.[1] ?? '';
}

interface ParsedAuthorization {
  accessKeyId: string;
  scope: string[];
  signedHeaders: string[];
  signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`, or says what is missing. */
function parseAuthorization(value: string): ParsedAuthorization | string {
  const space = value.indexOf(' ');
  const algorithm = space === -1 ? value : value.slice(0, space);
  if (algorithm !== 'AWS4-HMAC-SHA256') return `Unsupported Authorization Type`;
  const params = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq !== -1) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !params.get(k));
  if (missing.length > 0) return missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ');
  const credential = params.get('Credential')!.split('/');
  if (credential.length !== 5) return `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${params.get('Credential')}'`;
  return {
    accessKeyId: credential[0]!,
    scope: credential.slice(1),
    signedHeaders: params.get('SignedHeaders')!.split(';').map((h) => h.toLowerCase()),
    signature: params.get('Signature')!,
  };
}

function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const k = decode(eq === -1 ? pair : pair.slice(0, eq));
    const v = eq === -1 ? '' : decode(pair.slice(eq + 1));
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function queryParam(query: string, name: string): string | undefined {
  const v = parseQuery(query)[name];
  return Array.isArray(v) ? v[0] : v;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function header(headers: NodeJS.Dict<string[]>, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : v.join(',');
}

function fail(reason: SigV4FailureReason, message: string, accessKeyId?: string): SigV4Failure {
  return { ok: false, reason, message, ...(accessKeyId === undefined ? {} : { accessKeyId }) };
}

/** `20150830T123600Z` */
function basic(ms: number): string {
  return isoSeconds(ms).replace(/[-:]/g, '');
}

function upperAlnum(n: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return Array.from(randomBytes(n), (b) => alphabet[b % 32]).join('');
}

/** 40 characters of base64, like a real secret access key. */
function secret(): string {
  return randomBytes(30).toString('base64');
}
