import { createPublicKey, createVerify, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Google OAuth 2 token endpoint emulator (`POST /token`): the JWT bearer grant of service
 * accounts (RFC 7523), as Google serves it at https://oauth2.googleapis.com/token, and the
 * refresh token grant of authorized users (gcloud's application default credentials). The assertion
 * must be RS256-signed with the registered service account's key (`kid` is not required), with
 * `iss` the account's email, `aud` this endpoint, a `scope`, and `iat`/`exp` at most an hour
 * apart and not expired. Errors are Google's `{error, error_description}` JSON. Minted tokens
 * are registered in {@link GOOGLE_TOKENS}, which the Vertex emulator accepts as Bearer tokens.
 *
 * @example
 * const oauth = await new GoogleOAuthEmulator().start();
 * const key = oauth.createServiceAccount('gw@proj.iam.gserviceaccount.com'); // key JSON, token_uri → emulator
 */
export const GOOGLE_TOKENS = new Map<string, number>();

export interface ServiceAccountKeyJson {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  token_uri: string;
}

export class GoogleOAuthEmulator {
  /** Lifetime of minted tokens. */
  ttlSeconds = 3600;
  /** Token requests answered, by outcome: `ok`, or the `error` code sent. */
  readonly calls: Record<string, number> = {};
  /** Every token minted, newest last. */
  readonly minted: Array<{ token: string; expiresAt: number; email: string; scope: string }> = [];
  #down = false;
  readonly #accounts = new Map<string, KeyObject>();
  #server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** Registers a public key for `email`. */
  addServiceAccount(email: string, publicKeyPem: string): void {
    this.#accounts.set(email, createPublicKey(publicKeyPem));
  }

  /** Generates a key pair, registers its public half for `email`, and returns the key JSON Google would issue. */
  createServiceAccount(email: string, project = 'proj-test-1'): ServiceAccountKeyJson {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#accounts.set(email, publicKey);
    return {
      type: 'service_account',
      project_id: project,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: String(100000000000000000000n + BigInt(randomBytes(4).readUInt32BE())),
      token_uri: this.#server ? this.tokenUri : 'https://oauth2.googleapis.com/token',
    };
  }

  /** Revokes every token minted so far (the Vertex emulator then answers 401). */
  revokeAll(): void {
    for (const m of this.minted) GOOGLE_TOKENS.delete(m.token);
  }

  /** Subject tokens the STS endpoint accepts, with the workload identity pool provider audience they are for. */
  readonly #subjects = new Map<string, string>();

  /** STS endpoint (`{url}/v1/token`, the `token_url` of external_account configurations). */
  get stsUrl(): string {
    return `${this.url}/v1/token`;
  }

  /** Registers an external identity's token for `audience` (`//iam.googleapis.com/projects/.../providers/...`). */
  addSubjectToken(token: string, audience: string): void {
    this.#subjects.set(token, audience);
  }

  /** RFC 8693 token exchange, as sts.googleapis.com serves it for workload identity federation. */
  #exchange(body: string, contentType: string, send: (status: number, json: unknown) => void, fail: (status: number, error: string, description: string) => void): void {
    let p: Record<string, string>;
    try {
      p = contentType.includes('json') ? (JSON.parse(body) as Record<string, string>) : Object.fromEntries(new URLSearchParams(body));
    } catch {
      return fail(400, 'invalid_request', 'Invalid JSON payload received.');
    }
    if (p['grant_type'] !== 'urn:ietf:params:oauth:grant-type:token-exchange') return fail(400, 'unsupported_grant_type', 'Invalid value for "grant_type"');
    if (!p['subject_token_type']) return fail(400, 'invalid_request', 'Invalid value for "subject_token_type"');
    const audience = this.#subjects.get(p['subject_token'] ?? '');
    if (audience === undefined || audience !== p['audience']) return fail(400, 'invalid_grant', 'The audience in ID Token does not match the expected audience.');
    if (!String(p['scope'] ?? '').split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) return fail(400, 'invalid_scope', 'Invalid scope.');
    const token = `ya29.emu-sts-${randomBytes(24).toString('base64url')}`;
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    GOOGLE_TOKENS.set(token, expiresAt);
    this.minted.push({ token, expiresAt, email: audience, scope: p['scope']! });
    this.calls['sts'] = (this.calls['sts'] ?? 0) + 1;
    send(200, { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: this.ttlSeconds });
  }

  /** Authorized users (gcloud's application default login): OAuth client id → its secret and the refresh tokens issued to it. */
  readonly #users = new Map<string, { secret: string; refreshTokens: Set<string> }>();

  /**
   * Registers a user's refresh token for an OAuth client and returns the authorized_user file
   * `gcloud auth application-default login` would write, `token_uri` pointing at this emulator.
   */
  createAuthorizedUser(): { type: 'authorized_user'; client_id: string; client_secret: string; refresh_token: string; token_uri: string } {
    const clientId = `${randomBytes(6).toString('hex')}.apps.googleusercontent.com`;
    const secret = `GOCSPX-${randomBytes(12).toString('base64url')}`;
    const refreshToken = `1//emu-${randomBytes(24).toString('base64url')}`;
    this.#users.set(clientId, { secret, refreshTokens: new Set([refreshToken]) });
    return { type: 'authorized_user', client_id: clientId, client_secret: secret, refresh_token: refreshToken, token_uri: this.tokenUri };
  }

  /** The refresh token grant (RFC 6749 section 6) with client authentication in the body, as Google takes it. */
  #refreshGrant(form: URLSearchParams, send: (status: number, json: unknown) => void, fail: (status: number, error: string, description: string) => void): void {
    const client = this.#users.get(form.get('client_id') ?? '');
    if (!client || form.get('client_secret') !== client.secret) return fail(401, 'invalid_client', 'The OAuth client was not found.');
    if (!client.refreshTokens.has(form.get('refresh_token') ?? '')) return fail(400, 'invalid_grant', 'Token has been expired or revoked.');
    const token = `ya29.emu-user-${randomBytes(24).toString('base64url')}`;
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    GOOGLE_TOKENS.set(token, expiresAt);
    const scope = 'https://www.googleapis.com/auth/cloud-platform openid https://www.googleapis.com/auth/userinfo.email';
    this.minted.push({ token, expiresAt, email: form.get('client_id')!, scope });
    this.calls['refresh_token'] = (this.calls['refresh_token'] ?? 0) + 1;
    send(200, { access_token: token, expires_in: this.ttlSeconds, scope, token_type: 'Bearer' });
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const send = (status: number, json: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(json));
        };
        const fail = (status: number, error: string, description: string) => {
          this.calls[error] = (this.calls[error] ?? 0) + 1;
          send(status, { error, error_description: description });
        };
        if (this.#down) return fail(503, 'temporarily_unavailable', 'The service is currently unavailable.');
        const path = req.url?.split('?')[0];
        if (req.method === 'POST' && path === '/v1/token') return this.#exchange(body, req.headers['content-type'] ?? '', send, fail);
        if (req.method !== 'POST' || path !== '/token') return fail(404, 'not_found', 'Not Found');
        const form = new URLSearchParams(body);
        if (form.get('grant_type') === 'refresh_token') return this.#refreshGrant(form, send, fail);
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return fail(400, 'unsupported_grant_type', 'Invalid grant_type: ' + (form.get('grant_type') ?? ''));
        const assertion = form.get('assertion') ?? '';
        const parts = assertion.split('.');
        if (parts.length !== 3) return fail(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
        let header: Record<string, unknown>;
        let claims: Record<string, unknown>;
        try {
          header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
          claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
        } catch {
          return fail(400, 'invalid_grant', 'Invalid JWT: malformed.');
        }
        if (header['alg'] !== 'RS256') return fail(400, 'invalid_grant', 'Invalid JWT: unsupported algorithm.');
        const email = String(claims['iss'] ?? '');
        const key = this.#accounts.get(email);
        if (!key) return fail(400, 'invalid_grant', 'Invalid grant: account not found');
        const verifier = createVerify('RSA-SHA256');
        verifier.update(`${parts[0]}.${parts[1]}`);
        if (!verifier.verify(key, Buffer.from(parts[2]!, 'base64url'))) return fail(400, 'invalid_grant', 'Invalid JWT Signature.');
        if (claims['aud'] !== this.tokenUri) return fail(400, 'invalid_grant', 'Invalid JWT: audience does not match the token endpoint.');
        const now = Math.floor(Date.now() / 1000);
        const iat = Number(claims['iat']);
        const exp = Number(claims['exp']);
        if (!Number.isFinite(iat) || !Number.isFinite(exp) || exp <= now || iat > now + 300 || exp - iat > 3600) {
          return fail(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
        }
        const scope = String(claims['scope'] ?? '');
        if (!scope.split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) return fail(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
        const token = `ya29.emu-${randomBytes(24).toString('base64url')}`;
        const expiresAt = Date.now() + this.ttlSeconds * 1000;
        GOOGLE_TOKENS.set(token, expiresAt);
        this.minted.push({ token, expiresAt, email, scope });
        this.calls['ok'] = (this.calls['ok'] ?? 0) + 1;
        send(200, { access_token: token, expires_in: this.ttlSeconds, token_type: 'Bearer' });
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    return this;
  }

  async close(): Promise<void> {
    this.revokeAll();
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => this.#server!.close(() => r()));
  }
}
