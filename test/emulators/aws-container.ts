import { randomBytes, randomUUID } from 'node:crypto';
import { type AwsAccounts, RoleCredentialCache, isoSeconds, jwtClaims } from './aws-accounts.js';
import { Emulator, type Exchange, type RecordedRequest } from './base.js';

export interface ContainerCredentialsOptions {
  accounts: AwsAccounts;
  roleArn: string;
  /** `eks` (the default, Pod Identity agent) or `ecs`. */
  flavour?: 'eks' | 'ecs';
  /** Defaults to `/v1/credentials` (EKS) or `/v2/credentials/<random id>` (ECS). */
  path?: string;
  /** Authorization values accepted (for ECS, none means no Authorization is required). */
  tokens?: string[];
  ttlSeconds?: number;
}

export interface ContainerRecordedRequest extends RecordedRequest {
  served?: { accessKeyId: string; roleArn: string };
}

class ContainerAnswer {
  constructor(
    readonly status: number,
    readonly text: string,
    readonly contentType: string,
  ) {}
}

/**
 * Container credentials endpoint emulator: the EKS Pod Identity agent
 * (`http://169.254.170.23/v1/credentials`) or the ECS agent (`/v2/credentials/<id>`), on
 * loopback. A `GET` at {@link path} must carry `Authorization: <token>` with a token in
 * {@link acceptedKeys} (replace the contents to rotate); the answer is the credentials JSON
 * (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, plus `AccountId` for EKS or
 * `RoleArn` for ECS) of the task/pod role, minted through the shared {@link AwsAccounts}.
 *
 * Point the AWS SDK at it with `AWS_CONTAINER_CREDENTIALS_FULL_URI=<container.fullUri>` and
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<file holding the token>` (read on every fetch by
 * `fromHttp`, which also takes both as options: `awsContainerCredentialsFullUri`,
 * `awsContainerAuthorizationTokenFile`). `fromHttp` accepts any 127.0.0.0/8 host;
 * `fromContainerMetadata` only `localhost` and `127.0.0.1`, and reads the token from
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN` only, never from a file.
 *
 * Errors: EKS answers 400 in plain text, as the Pod Identity agent does ("Service account token
 * cannot be empty"); for ECS the emulator answers 400 `{"code":"InvalidIdInRequest",…}` for an
 * unknown path and 401 `{"Code":"AccessDenied","Message":…}` for a bad token (the latter is the
 * emulator's choice: the ECS agent itself takes no token).
 *
 * @example
 * const pod = await new ContainerCredentialsEmulator({ accounts, roleArn: role.arn, tokens: [saToken] }).start();
 * writeFileSync(tokenFile, saToken);
 * const creds = await fromHttp({ awsContainerCredentialsFullUri: pod.fullUri, awsContainerAuthorizationTokenFile: tokenFile })();
 */
export class ContainerCredentialsEmulator extends Emulator {
  declare readonly requests: ContainerRecordedRequest[];
  readonly accounts: AwsAccounts;
  readonly flavour: 'eks' | 'ecs';
  readonly path: string;
  readonly credentials: RoleCredentialCache;
  credentialRequests = 0;
  /** Requests refused for their token or path. */
  rejected = 0;

  constructor(options: ContainerCredentialsOptions) {
    super(options.tokens ?? []);
    this.accounts = options.accounts;
    this.flavour = options.flavour ?? 'eks';
    this.path = options.path ?? (this.flavour === 'eks' ? '/v1/credentials' : `/v2/credentials/${randomUUID()}`);
    const session = this.flavour === 'eks' ? `eks-emulator-pod-${randomBytes(4).toString('hex')}` : randomBytes(16).toString('hex');
    this.credentials = new RoleCredentialCache(this.accounts, options.roleArn, session, `container:${this.flavour}`, { ttlSeconds: options.ttlSeconds });
  }

  /** The value for `AWS_CONTAINER_CREDENTIALS_FULL_URI`. */
  get fullUri(): string {
    return `${this.url}${this.path}`;
  }

  override get last(): ContainerRecordedRequest {
    return super.last as ContainerRecordedRequest;
  }

  override reset(): void {
    super.reset();
    this.credentialRequests = 0;
    this.rejected = 0;
  }

  protected override responseHeaders(): Record<string, string> {
    return { date: new Date(this.accounts.now()).toUTCString() };
  }

  protected authenticate(ex: Exchange) {
    if (ex.record.method !== 'GET' || ex.record.path !== this.path) {
      this.rejected++;
      return this.flavour === 'eks'
        ? { status: 404, body: text(404, '404 page not found\n') }
        : { status: 400, body: json(400, { code: 'InvalidIdInRequest', message: 'CredentialsV2Request: ID not found' }) };
    }
    const token = ex.req.headers.authorization ?? '';
    if (this.acceptedKeys.has(token)) return undefined;
    // The ECS agent itself takes no token: with none configured, the path is the only secret.
    if (this.flavour === 'ecs' && this.acceptedKeys.size === 0) return undefined;
    this.rejected++;
    if (this.flavour === 'ecs') return { status: 401, body: json(401, { Code: 'AccessDenied', Message: 'Authorization token is invalid' }) };
    if (token.trim() === '') return { status: 400, body: text(400, 'Service account token cannot be empty\n') };
    if (!jwtClaims(token)) return { status: 400, body: text(400, 'Service account token cannot be parsed: token is malformed: token contains an invalid number of segments\n') };
    return { status: 400, body: text(400, 'Service account token failed claim validations: token is not valid for this cluster\n') };
  }

  protected override async json(ex: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    if (!(body instanceof ContainerAnswer)) return super.json(ex, status, body, headers);
    await this.firstByte(ex);
    ex.res.writeHead(body.status, { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.text), ...this.responseHeaders(), ...headers });
    ex.res.end(body.text);
  }

  protected async route(ex: Exchange): Promise<void> {
    this.credentialRequests++;
    const c = this.credentials.current();
    (ex.record as ContainerRecordedRequest).served = { accessKeyId: c.accessKeyId, roleArn: c.roleArn };
    const base = { AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken };
    const answer = this.flavour === 'eks'
      ? { ...base, AccountId: this.accounts.accountId, Expiration: isoSeconds(c.expiration) }
      : { RoleArn: c.roleArn, ...base, Expiration: isoSeconds(c.expiration) };
    return this.json(ex, 200, json(200, answer));
  }
}

function text(status: number, body: string): ContainerAnswer {
  return new ContainerAnswer(status, body, 'text/plain; charset=utf-8');
}

function json(status: number, body: object): ContainerAnswer {
  return new ContainerAnswer(status, JSON.stringify(body), 'application/json');
}
