import { randomBytes } from 'node:crypto';
import { type AwsAccounts, RoleCredentialCache, isoSeconds } from './aws-accounts.js';
import { Emulator, type Exchange, type RecordedRequest } from './base.js';

export interface ImdsOptions {
  accounts: AwsAccounts;
  /** The instance profile's role; omit for an instance without one (the credential paths answer 404). */
  roleArn?: string;
  ttlSeconds?: number;
  /** `required` (IMDSv2 only, the default) or `optional` (IMDSv1 GETs without a token allowed). */
  httpTokens?: 'required' | 'optional';
  region?: string;
}

export interface ImdsRecordedRequest extends RecordedRequest {
  /** The credentials this request was served. */
  served?: { accessKeyId: string; roleArn: string };
}

/** A plain-text or XHTML answer, as IMDS writes them. */
class ImdsAnswer {
  constructor(
    readonly status: number,
    readonly text: string,
    readonly contentType = 'text/html',
  ) {}
}

const MAX_TOKEN_TTL = 21_600;

/**
 * EC2 Instance Metadata Service (IMDSv2) emulator: `PUT /latest/api/token` with
 * `X-aws-ec2-metadata-token-ttl-seconds` hands out a session token; every `GET` must carry it
 * in `X-aws-ec2-metadata-token` (401 otherwise, as an instance with `HttpTokens=required`
 * answers). Serves what the AWS SDK's `fromInstanceMetadata` reads —
 * `/latest/meta-data/iam/security-credentials/` (the role name) and
 * `/latest/meta-data/iam/security-credentials/{role}` (the credentials JSON) — plus
 * `iam/info`, `placement/region`, `instance-id` and the instance identity document.
 * The instance role's credentials come from the shared {@link AwsAccounts}, the same set until
 * close to expiry, as IMDS does.
 *
 * The SDK finds it only through the environment: `AWS_EC2_METADATA_SERVICE_ENDPOINT=<imds.url>`
 * (read on every credential fetch, not at import time; `fromInstanceMetadata` has no endpoint
 * option).
 *
 * @example
 * const imds = await new ImdsEmulator({ accounts, roleArn: roleA.arn, ttlSeconds: 20 }).start();
 * process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url;
 * const creds = await fromInstanceMetadata()();   // ASIA… of role A
 * imds.credentials.rotate();                       // IMDS now serves a fresh set
 * imds.expireTokens();                             // the next GET with an old token gets 401
 */
export class ImdsEmulator extends Emulator {
  declare readonly requests: ImdsRecordedRequest[];
  readonly accounts: AwsAccounts;
  readonly region: string;
  readonly instanceId = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
  httpTokens: 'required' | 'optional';
  /** The instance role's current credentials; `undefined` when no role is attached. */
  credentials: RoleCredentialCache | undefined;
  tokensIssued = 0;
  credentialRequests = 0;
  /** GETs refused with 401 (no token, unknown or expired token). */
  unauthorized = 0;
  readonly #tokens = new Map<string, number>();
  readonly #ttlSeconds: number | undefined;

  constructor(options: ImdsOptions) {
    super([]);
    this.accounts = options.accounts;
    this.region = options.region ?? 'us-east-1';
    this.httpTokens = options.httpTokens ?? 'required';
    this.#ttlSeconds = options.ttlSeconds;
    if (options.roleArn) this.attachRole(options.roleArn);
  }

  override get last(): ImdsRecordedRequest {
    return super.last as ImdsRecordedRequest;
  }

  /** Attaches (or, with `undefined`, detaches) the instance profile role. */
  attachRole(roleArn: string | undefined): void {
    this.credentials = roleArn === undefined ? undefined
      : new RoleCredentialCache(this.accounts, roleArn, this.instanceId, 'imds', { ttlSeconds: this.#ttlSeconds });
  }

  /** Forgets every session token, as if they had all expired. */
  expireTokens(): void {
    this.#tokens.clear();
  }

  override reset(): void {
    super.reset();
    this.tokensIssued = 0;
    this.credentialRequests = 0;
    this.unauthorized = 0;
  }

  protected override responseHeaders(): Record<string, string> {
    return { server: 'EC2ws', date: new Date(this.accounts.now()).toUTCString() };
  }

  protected authenticate(ex: Exchange) {
    if (ex.record.method !== 'GET') return undefined;
    const token = ex.req.headers['x-aws-ec2-metadata-token'];
    if (token === undefined && this.httpTokens === 'optional') return undefined;
    const expires = typeof token === 'string' ? this.#tokens.get(token) : undefined;
    if (expires === undefined || expires <= this.accounts.now()) {
      this.unauthorized++;
      return { status: 401, body: page(401, 'Unauthorized') };
    }
    return undefined;
  }

  protected override async json(ex: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    if (!(body instanceof ImdsAnswer)) return super.json(ex, status, body, headers);
    await this.firstByte(ex);
    ex.res.writeHead(body.status, { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.text), ...this.responseHeaders(), ...headers });
    ex.res.end(body.text);
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    if (path === '/latest/api/token') return this.#token(ex);
    if (method !== 'GET') return this.#answer(ex, page(405, 'Method Not Allowed'));
    const roleName = this.credentials?.roleArn.split('/').pop();
    const text = (t: string) => this.#answer(ex, new ImdsAnswer(200, t, 'text/plain'));
    switch (path) {
      case '/latest/meta-data/instance-id': return text(this.instanceId);
      case '/latest/meta-data/placement/region': return text(this.region);
      case '/latest/dynamic/instance-identity/document':
        return text(JSON.stringify({ accountId: this.accounts.accountId, architecture: 'x86_64', availabilityZone: `${this.region}a`, imageId: 'ami-0abcdef1234567890', instanceId: this.instanceId, instanceType: 'm5.large', pendingTime: '2024-01-01T00:00:00Z', privateIp: '10.0.0.10', region: this.region, version: '2017-09-30' }, null, 2));
      case '/latest/meta-data/iam/info':
        if (!roleName) return this.#answer(ex, page(404, 'Not Found'));
        return text(JSON.stringify({ Code: 'Success', LastUpdated: isoSeconds(this.accounts.now()), InstanceProfileArn: `arn:aws:iam::${this.accounts.accountId}:instance-profile/${roleName}`, InstanceProfileId: 'AIPAEXAMPLEINSTANCEPROFILE' }, null, 2));
      case '/latest/meta-data/iam/security-credentials/':
      case '/latest/meta-data/iam/security-credentials':
        return roleName ? text(roleName) : this.#answer(ex, page(404, 'Not Found'));
    }
    if (roleName && path === `/latest/meta-data/iam/security-credentials/${roleName}`) {
      this.credentialRequests++;
      const c = this.credentials!.current();
      (ex.record as ImdsRecordedRequest).served = { accessKeyId: c.accessKeyId, roleArn: c.roleArn };
      return text(JSON.stringify({
        Code: 'Success', LastUpdated: isoSeconds(c.issuedAt), Type: 'AWS-HMAC',
        AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken, Expiration: isoSeconds(c.expiration),
      }, null, 2));
    }
    return this.#answer(ex, page(404, 'Not Found'));
  }

  /** IMDSv2 session tokens: PUT only, a TTL of 1–21600 s, and never through a proxy. */
  #token(ex: Exchange): Promise<void> {
    if (ex.record.method !== 'PUT') return this.#answer(ex, page(405, 'Method Not Allowed'));
    if (ex.req.headers['x-forwarded-for'] !== undefined) return this.#answer(ex, page(403, 'Forbidden'));
    const ttl = Number(ex.req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL) return this.#answer(ex, page(400, 'Bad Request'));
    const token = `AQAEA${randomBytes(40).toString('base64url')}==`;
    this.#tokens.set(token, this.accounts.now() + ttl * 1000);
    this.tokensIssued++;
    return this.#answer(ex, new ImdsAnswer(200, token, 'text/plain'), { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
  }

  #answer(ex: Exchange, answer: ImdsAnswer, headers: Record<string, string> = {}): Promise<void> {
    return this.json(ex, answer.status, answer, headers);
  }
}

/** The XHTML error page IMDS sends. */
function page(status: number, title: string): ImdsAnswer {
  return new ImdsAnswer(status, `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>${status} - ${title}</title>
 </head>
 <body>
  <h1>${status} - ${title}</h1>
 </body>
</html>
`);
}
