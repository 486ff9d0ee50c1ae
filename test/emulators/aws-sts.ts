import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  type AwsAccounts, type IamRole, type Principal, type SigV4FailureReason, type SessionCredential,
  SIGNATURE_MISMATCH_MESSAGE, isoSeconds, jwtClaims, wireRequest,
} from './aws-accounts.js';
import { Emulator, type Exchange, type RecordedRequest } from './base.js';

export interface StsOptions {
  accounts: AwsAccounts;
  /** The region whose endpoint this is: SigV4 scopes must name it (the global endpoint is us-east-1). */
  region?: string;
}

export type StsAction = 'AssumeRole' | 'AssumeRoleWithWebIdentity' | 'GetCallerIdentity';

/** How STS is down: refusing connections, resetting them, or answering 503 ServiceUnavailable. */
export type StsDownMode = false | 'refuse' | 'reset' | 'unavailable';

export interface StsRecordedRequest extends RecordedRequest {
  action?: string;
  /** The principal that signed (AssumeRole, GetCallerIdentity), once verified. */
  caller?: Principal;
  /** The STS error code the request was answered with. */
  error?: string;
  /** The credentials this request minted. */
  issued?: SessionCredential;
}

/** An STS error answer: `<ErrorResponse><Error><Type>…<Code>…<Message>…`. */
export class StsError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ACTIONS: readonly StsAction[] = ['AssumeRole', 'AssumeRoleWithWebIdentity', 'GetCallerIdentity'];
const SIGV4_ERRORS: Record<SigV4FailureReason, [number, string]> = {
  missing: [403, 'MissingAuthenticationToken'],
  incomplete: [400, 'IncompleteSignature'],
  'invalid-signature': [403, 'SignatureDoesNotMatch'],
  'invalid-token': [403, 'InvalidClientTokenId'],
  'expired-token': [400, 'ExpiredToken'],
};

/**
 * AWS STS emulator: the Query API at `/` (form-encoded POST, or GET with a query string), with
 * `AssumeRoleWithWebIdentity` (unsigned, as AWS takes it; the token must be registered in the
 * role's `webIdentityTokens`), `AssumeRole` and `GetCallerIdentity` (SigV4, service `sts`,
 * verified through {@link AwsAccounts.authenticateSigV4}). Answers and errors are AWS's XML.
 * Credentials are minted through the shared {@link AwsAccounts}, so Bedrock accepts them.
 *
 * Point the AWS SDK at it with `clientConfig: { endpoint: sts.url }` on the credential provider,
 * or `AWS_ENDPOINT_URL_STS=<sts.url>` in the environment (read when the provider's STS client
 * sends its first request).
 *
 * @example
 * const sts = await new StsEmulator({ accounts }).start();
 * accounts.addRole('web', { webIdentityTokens: [token] });
 * sts.ttlSeconds = 20;             // credentials expire in 20 s (below AWS's 900 s minimum)
 * await sts.setDown('refuse');     // connections refused; 'reset' resets them; 'unavailable' answers 503
 * await sts.setDown(false);        // back, on the same port
 * sts.calls.AssumeRoleWithWebIdentity;
 */
export class StsEmulator extends Emulator {
  declare readonly requests: StsRecordedRequest[];
  readonly accounts: AwsAccounts;
  readonly region: string;
  /** When set, every credential lasts this long, whatever DurationSeconds says (tests may go below 900). */
  ttlSeconds: number | undefined;
  /** Requests per action (all of them, answered or refused). */
  calls: Partial<Record<string, number>> = {};
  /** Error answers per STS error code. */
  errors: Partial<Record<string, number>> = {};
  #down: StsDownMode = false;
  readonly #door = new FrontDoor();
  readonly #params = new WeakMap<RecordedRequest, URLSearchParams>();
  readonly #pendingSignature = new WeakMap<RecordedRequest, Promise<StsError | undefined>>();

  constructor(options: StsOptions) {
    super([]);
    this.accounts = options.accounts;
    this.region = options.region ?? 'us-east-1';
  }

  override get url(): string {
    return this.#door.port === 0 ? '' : `http://127.0.0.1:${this.#door.port}`;
  }

  override get last(): StsRecordedRequest {
    return super.last as StsRecordedRequest;
  }

  get down(): StsDownMode {
    return this.#down;
  }

  override async start(): Promise<this> {
    await super.start();
    await this.#door.open(Number(new URL(super.url).port));
    return this;
  }

  override async close(): Promise<void> {
    await this.#door.close();
    await super.close();
  }

  override reset(): void {
    super.reset();
    this.calls = {};
    this.errors = {};
  }

  /** Takes STS down (or brings it back, `false`), keeping its port. */
  async setDown(mode: StsDownMode): Promise<void> {
    this.#down = mode;
    if (mode === 'refuse') return this.#door.refuse();
    await this.#door.reopen();
    this.#door.resetting = mode === 'reset';
    if (mode === 'reset') this.#door.dropAll();
  }

  /** The next `times` requests get this STS error. */
  injectError(status: number, code: string, message: string, times = 1): void {
    this.inject({ status, body: new StsError(status, code, message), times });
  }

  protected authenticate(ex: Exchange) {
    const record = ex.record as StsRecordedRequest;
    const params = new URLSearchParams(record.query);
    if (record.method === 'POST' && String(ex.req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(record.body.toString('utf8'))) params.append(k, v);
    }
    this.#params.set(record, params);
    const action = params.get('Action') ?? '';
    record.action = action;
    this.calls[action] = (this.calls[action] ?? 0) + 1;
    if (this.#down === 'unavailable') return this.#refuse(record, new StsError(503, 'ServiceUnavailable', 'Service Unavailable'));
    // AssumeRoleWithWebIdentity is the one action STS takes unsigned: the token is the proof.
    if (action === 'AssumeRoleWithWebIdentity') return undefined;
    const verdict = this.accounts.authenticateSigV4(wireRequest(record, ex.req.headersDistinct), { region: this.region, service: 'sts' });
    if (!verdict.ok) {
      const [status, code] = SIGV4_ERRORS[verdict.reason];
      const message = verdict.reason === 'missing' ? 'Request is missing Authentication Token'
        : verdict.reason === 'invalid-signature' && verdict.message.startsWith('Credential should be scoped to a valid region')
          ? `Credential should be scoped to a valid region, not '${scopeRegion(ex)}'. `
          : verdict.message;
      return this.#refuse(record, new StsError(status, code, message));
    }
    this.#pendingSignature.set(record, verdict.signatureMatches.then((matches) => {
      if (!matches) return this.#refuse(record, new StsError(403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH_MESSAGE)).body;
      record.caller = verdict.principal;
      return undefined;
    }));
    return undefined;
  }

  /** Injections and refusals pass through here; STS answers them as XML. */
  protected override async json(ex: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    const refused = await this.#pendingSignature.get(ex.record);
    const answer = refused ?? body;
    if (answer instanceof StsError) return this.#error(ex, answer);
    return super.json(ex, status, answer, headers);
  }

  protected async route(ex: Exchange): Promise<void> {
    const record = ex.record as StsRecordedRequest;
    const refused = await this.#pendingSignature.get(record);
    if (refused) return this.#error(ex, refused);
    const params = this.#params.get(record)!;
    const action = params.get('Action') ?? '';
    if (params.get('Version') !== '2011-06-15' || !ACTIONS.includes(action as StsAction)) {
      return this.#fail(ex, new StsError(400, 'InvalidAction', `Could not find operation ${action} for version ${params.get('Version') ?? 'NO_VERSION_SPECIFIED'}`));
    }
    const result = action === 'GetCallerIdentity' ? this.#getCallerIdentity(record.caller!)
      : action === 'AssumeRole' ? this.#assumeRole(params, record.caller!)
        : this.#assumeRoleWithWebIdentity(params);
    if (result instanceof StsError) return this.#fail(ex, result);
    if (result.issued) record.issued = result.issued;
    const requestId = randomUUID();
    return this.#xml(ex, 200, requestId,
      `<${action}Response xmlns="${XMLNS}">\n  <${action}Result>\n${result.xml}  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`);
  }

  #assumeRoleWithWebIdentity(params: URLSearchParams): Result | StsError {
    const missing = requireParams(params, ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) ?? sessionNameError(params.get('RoleSessionName')!);
    if (missing) return missing;
    const roleArn = params.get('RoleArn')!;
    const token = params.get('WebIdentityToken')!;
    const claims = jwtClaims(token);
    if (![...this.accounts.roles.values()].some((r) => r.webIdentityTokens.has(token))) {
      return new StsError(400, 'InvalidIdentityToken', claims
        ? "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
        : 'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)');
    }
    const now = Math.floor(this.accounts.now() / 1000);
    if (typeof claims?.['exp'] === 'number' && claims['exp'] <= now) {
      // AWS's own wording, missing space included.
      return new StsError(400, 'ExpiredTokenException', `Token expired: current date/time ${now} must be before the expiration date/time${claims['exp']}`);
    }
    const role = this.accounts.role(roleArn);
    if (!role || !role.webIdentityTokens.has(token)) return new StsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    const ttl = this.#duration(params, role, false);
    if (ttl instanceof StsError) return ttl;
    const cred = this.accounts.issue(role.arn, params.get('RoleSessionName')!, ttl, 'sts:AssumeRoleWithWebIdentity');
    const claim = (k: string) => (typeof claims?.[k] === 'string' ? (claims[k] as string) : undefined);
    return {
      issued: cred,
      xml: credentialsXml(cred)
        + (claim('sub') ? `    <SubjectFromWebIdentityToken>${esc(claim('sub')!)}</SubjectFromWebIdentityToken>\n` : '')
        + assumedRoleUserXml(cred)
        + (claim('iss') ? `    <Provider>${esc(claim('iss')!)}</Provider>\n` : '')
        + (claim('aud') ? `    <Audience>${esc(claim('aud')!)}</Audience>\n` : ''),
    };
  }

  #assumeRole(params: URLSearchParams, caller: Principal): Result | StsError {
    const missing = requireParams(params, ['RoleArn', 'RoleSessionName']) ?? sessionNameError(params.get('RoleSessionName')!);
    if (missing) return missing;
    const roleArn = params.get('RoleArn')!;
    const role = this.accounts.role(roleArn);
    const callerArn = caller.kind === 'user' ? caller.arn : caller.assumedRoleArn;
    const trusted = role && (role.trustedPrincipals.has('*') || role.trustedPrincipals.has(caller.kind === 'user' ? caller.arn : caller.roleArn));
    // A wrong or missing external id is indistinguishable from no trust, on purpose.
    if (!role || !trusted || (role.externalId !== undefined && params.get('ExternalId') !== role.externalId)) {
      return new StsError(403, 'AccessDenied', `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    }
    const ttl = this.#duration(params, role, caller.kind === 'session');
    if (ttl instanceof StsError) return ttl;
    const cred = this.accounts.issue(role.arn, params.get('RoleSessionName')!, ttl, 'sts:AssumeRole');
    return { issued: cred, xml: credentialsXml(cred) + assumedRoleUserXml(cred) };
  }

  #getCallerIdentity(caller: Principal): Result {
    const [arn, userId] = caller.kind === 'user' ? [caller.arn, caller.userId] : [caller.assumedRoleArn, caller.assumedRoleId];
    return { xml: `    <Arn>${esc(arn)}</Arn>\n    <UserId>${esc(userId)}</UserId>\n    <Account>${this.accounts.accountId}</Account>\n` };
  }

  /** DurationSeconds as AWS validates it, unless the test fixed {@link ttlSeconds}. */
  #duration(params: URLSearchParams, role: IamRole, chained: boolean): number | StsError {
    if (this.ttlSeconds !== undefined) return this.ttlSeconds;
    const raw = params.get('DurationSeconds');
    if (raw === null) return this.accounts.defaultTtlSeconds;
    const seconds = Number(raw);
    if (!Number.isInteger(seconds) || seconds < 900) {
      return new StsError(400, 'ValidationError', `1 validation error detected: Value '${raw}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
    }
    if (chained && seconds > 3600) return new StsError(400, 'ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    if (seconds > role.maxSessionDurationSeconds) return new StsError(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    return seconds;
  }

  #fail(ex: Exchange, error: StsError): Promise<void> {
    this.#refuse(ex.record as StsRecordedRequest, error);
    return this.#error(ex, error);
  }

  #refuse(record: StsRecordedRequest, error: StsError): { status: number; body: StsError } {
    record.error = error.code;
    this.errors[error.code] = (this.errors[error.code] ?? 0) + 1;
    return { status: error.status, body: error };
  }

  #error(ex: Exchange, e: StsError): Promise<void> {
    const requestId = randomUUID();
    return this.#xml(ex, e.status, requestId,
      `<ErrorResponse xmlns="${XMLNS}">\n  <Error>\n    <Type>${e.status >= 500 ? 'Receiver' : 'Sender'}</Type>\n    <Code>${esc(e.code)}</Code>\n    <Message>${esc(e.message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`);
  }

  async #xml(ex: Exchange, status: number, requestId: string, text: string): Promise<void> {
    await this.firstByte(ex);
    ex.res.writeHead(status, {
      'content-type': 'text/xml', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': requestId,
      date: new Date(this.accounts.now()).toUTCString(),
    });
    ex.res.end(text);
  }
}

interface Result {
  xml: string;
  issued?: SessionCredential;
}

/**
 * A TCP front door that forwards to the emulator's own listener, so STS can refuse or reset
 * connections — and come back on the same port, as a real endpoint does after an outage.
 */
class FrontDoor {
  port = 0;
  resetting = false;
  #target = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  async open(target: number): Promise<void> {
    this.#target = target;
    await this.#listen(0);
  }

  async refuse(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.dropAll();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  async reopen(): Promise<void> {
    if (!this.#server && this.port !== 0) await this.#listen(this.port);
  }

  dropAll(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    await this.refuse();
    this.port = 0;
  }

  async #listen(port: number): Promise<void> {
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  #accept(client: Socket): void {
    if (this.resetting) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.#target, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      this.#sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.#sockets.delete(a);
        b.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  }
}

function credentialsXml(c: SessionCredential): string {
  return `    <Credentials>\n      <AccessKeyId>${c.accessKeyId}</AccessKeyId>\n      <SecretAccessKey>${esc(c.secretAccessKey)}</SecretAccessKey>\n`
    + `      <SessionToken>${esc(c.sessionToken)}</SessionToken>\n      <Expiration>${isoSeconds(c.expiration)}</Expiration>\n    </Credentials>\n`;
}

function assumedRoleUserXml(c: SessionCredential): string {
  return `    <AssumedRoleUser>\n      <AssumedRoleId>${esc(c.assumedRoleId)}</AssumedRoleId>\n      <Arn>${esc(c.assumedRoleArn)}</Arn>\n    </AssumedRoleUser>\n`;
}

function requireParams(params: URLSearchParams, names: string[]): StsError | undefined {
  const missing = names.filter((n) => !params.get(n));
  if (missing.length === 0) return undefined;
  const details = missing.map((n) => `Value null at '${n[0]!.toLowerCase()}${n.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return new StsError(400, 'ValidationError', `${details.length} validation error${details.length > 1 ? 's' : ''} detected: ${details.join('; ')}`);
}

function sessionNameError(name: string): StsError | undefined {
  if (name.length < 2 || name.length > 64) {
    return new StsError(400, 'ValidationError', `1 validation error detected: Value '${name}' at 'roleSessionName' failed to satisfy constraint: Member must have length ${name.length < 2 ? 'greater than or equal to 2' : 'less than or equal to 64'}`);
  }
  if (!/^[\w+=,.@-]*$/.test(name)) {
    return new StsError(400, 'ValidationError', `1 validation error detected: Value '${name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
  }
  return undefined;
}

function scopeRegion(ex: Exchange): string {
  return /Credential=[^/]+\/\d+\/([^/]+)\//.exec(String(ex.req.headers.authorization))?.[1] ?? '';
}

/** Escapes text content (AWS leaves quotes alone outside attributes). */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
