import { constants, createHash, generateKeyPairSync, randomBytes, randomUUID, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * Entra ID emulator, served over https because `@azure/identity` refuses an http authority
 * host. Its certificate (for 127.0.0.1, valid a century) is {@link ENTRA_TEST_CERT}: trust it
 * with `NODE_EXTRA_CA_CERTS` in a child process; a test that runs the gateway in its own process
 * sets `NODE_TLS_REJECT_UNAUTHORIZED=0` for the test's lifetime (Node 20 cannot add a CA at run
 * time). Serves the OpenID configuration MSAL reads and `POST /{tenant}/oauth2/v2.0/token`,
 * the client credentials grant authenticated as Entra checks it
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
 * - `client_secret`: equal to the app's secret;
 * - `client_assertion` (type `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`) naming a
 *   certificate by `x5t#S256` or `x5t`: the certificate must be registered on the app, the JWT
 *   RS256- or PS256-signed by its key, `aud` this tenant's token endpoint, `iss` = `sub` = the
 *   client id, `exp` in the future and `nbf` not; an app registered for subject name / issuer
 *   authentication (`requireChain`) also needs the certificate in `x5c`
 *   (https://learn.microsoft.com/entra/identity-platform/certificate-credentials);
 * - any other `client_assertion` is a federated token (workload identity): RS256-signed by a
 *   registered issuer's key, with `iss`, `sub` and `aud` matching one of the app's federated
 *   identity credentials, not expired
 *   (https://learn.microsoft.com/entra/workload-id/workload-identity-federation).
 * Minted tokens are registered in {@link ENTRA_TOKENS}, which the Azure OpenAI emulator accepts
 * as Bearer tokens. Managed identity endpoints are in azure-imds.ts.
 *
 * @example
 * const entra = await new EntraEmulator().start();
 * entra.addApp('tenant-1', 'client-1', { secret: 's3cret' });
 * process.env['AZURE_AUTHORITY_HOST'] = entra.url;
 */
export const ENTRA_TOKENS = new Map<string, number>();

export const ENTRA_TEST_CERT = `
-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIULOrF69w1MGE2aDAs2dVFBjN07NgwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzEzNDAxNloYDzIxMjYxMDMw
MTM0MDE2WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAR1i66TmBQEZChTSIvvWs2U2Tpimc8W+yFn9ZPGKMSyO3UVrwfohAUg
3JTQKylfblO3pXhDFfbgZnwXz9RKQK3eo28wbTAdBgNVHQ4EFgQUcXsdvIIS9BFi
31+zlxXlf5bFxCUwHwYDVR0jBBgwFoAUcXsdvIIS9BFi31+zlxXlf5bFxCUwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSQAwRgIhAI1EF0Sc/m+e7yh1sf7DSC1ahB12E+yNvo5DZYWlZcxoAiEA
vRvWImXhOqfKds7ec075cHfDPbknfpskR1OUPwBBfKU=
-----END CERTIFICATE-----
`;

const ENTRA_TEST_KEY = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnCPn4sFxJSKBcCpn
kCsLhrnzXqB2eu7KjgubGPTfAB6hRANCAAR1i66TmBQEZChTSIvvWs2U2Tpimc8W
+yFn9ZPGKMSyO3UVrwfohAUg3JTQKylfblO3pXhDFfbgZnwXz9RKQK3e
-----END PRIVATE KEY-----
`;

/** A federated identity credential of an app: tokens from `issuer` about `subject` for `audience`. */
export interface FederatedCredential {
  issuer: string;
  subject: string;
  /** Default `api://AzureADTokenExchange`, what Azure proposes. */
  audience?: string;
}

interface App {
  secret?: string;
  /** PEM certificates whose keys may sign client assertions. */
  certificates?: string[];
  /** Subject name / issuer authentication: the assertion must carry the certificate in `x5c`. */
  requireChain?: boolean;
  federated?: FederatedCredential[];
}

/** What the token endpoint received in a `client_assertion`, for tests to inspect. */
export interface ReceivedAssertion {
  kind: 'client_certificate' | 'workload_identity';
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  /** The raw assertion (a federated token is the subject's token itself). */
  jwt: string;
}

export const FEDERATED_AUDIENCE = 'api://AzureADTokenExchange';

export class EntraEmulator {
  /** Lifetime of minted tokens. */
  ttlSeconds = 3600;
  /** Tokens minted per kind: `client_secret`, `client_certificate`, `workload_identity`. */
  readonly calls: Record<string, number> = {};
  /** Rejected token requests by AADSTS code (`AADSTS7000215`, ...). */
  readonly rejected: Record<string, number> = {};
  /** Every token minted, newest last. */
  readonly minted: Array<{ token: string; expiresAt: number; kind: string }> = [];
  /** Every client assertion that passed verification, newest last. */
  readonly assertions: ReceivedAssertion[] = [];
  #down = false;
  readonly #apps = new Map<string, App>();
  readonly #issuers = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();
  #server: Server | undefined;

  addApp(tenant: string, clientId: string, app: App): void {
    this.#apps.set(`${tenant}/${clientId}`, app);
  }

  /**
   * Registers an OIDC issuer (the AKS cluster's, say) whose keys Entra trusts, and returns a
   * function that signs that issuer's tokens, as the kubelet's projected service account tokens.
   */
  addIssuer(issuer: string): (claims: { sub: string; aud?: string; ttlSeconds?: number }) => string {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#issuers.set(issuer, pair);
    return ({ sub, aud = FEDERATED_AUDIENCE, ttlSeconds = 3600 }) => {
      const now = Math.floor(Date.now() / 1000);
      const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const input = `${enc({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${enc({ iss: issuer, sub, aud: [aud], iat: now, nbf: now, exp: now + ttlSeconds, jti: randomUUID() })}`;
      return `${input}.${createSignature(input, pair.privateKey)}`;
    };
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** Fixed at start(): request handlers still running while the server closes use it too. */
  #url = '';

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    this.#server = createServer({ cert: ENTRA_TEST_CERT, key: ENTRA_TEST_KEY }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const send = (status: number, json: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
        };
        if (this.#down) return send(503, { error: 'temporarily_unavailable' });
        const url = new URL(req.url ?? '/', 'https://entra');
        const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
        if (req.method === 'GET' && oidc) {
          // MSAL resolves the authority's endpoints here before its first token request.
          const base = `${this.url}/${oidc[1]}`;
          return send(200, { token_endpoint: `${base}/oauth2/v2.0/token`, authorization_endpoint: `${base}/oauth2/v2.0/authorize`, end_session_endpoint: `${base}/oauth2/v2.0/logout`, issuer: `${base}/v2.0`, jwks_uri: `${base}/discovery/v2.0/keys` });
        }
        const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
        if (req.method !== 'POST' || !m) return send(404, { error: 'not_found' });
        const reject = (status: number, error: string, code: string, description: string) => {
          this.rejected[code] = (this.rejected[code] ?? 0) + 1;
          send(status, { error, error_description: `${code}: ${description}`, error_codes: [Number(code.slice(6))] });
        };
        const form = new URLSearchParams(body);
        const tenant = m[1]!;
        const clientId = form.get('client_id') ?? '';
        const app = this.#apps.get(`${tenant}/${clientId}`);
        if (form.get('grant_type') !== 'client_credentials') return reject(400, 'unsupported_grant_type', 'AADSTS70003', 'The app requested an unsupported grant type.');
        if (app === undefined) return reject(400, 'unauthorized_client', 'AADSTS700016', `Application with identifier '${clientId.slice(0, 64)}' was not found in the directory '${tenant.slice(0, 64)}'.`);
        let kind: string;
        if (form.get('client_secret') !== null) {
          if (app.secret === undefined || form.get('client_secret') !== app.secret) return reject(401, 'invalid_client', 'AADSTS7000215', 'Invalid client secret provided.');
          kind = 'client_secret';
        } else if (form.get('client_assertion') !== null) {
          if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return reject(400, 'invalid_request', 'AADSTS50027', 'client_assertion_type is missing or not jwt-bearer.');
          const failure = this.#verifyAssertion(form.get('client_assertion')!, app, tenant, clientId);
          if (typeof failure === 'object') return reject(401, 'invalid_client', failure.code, failure.description);
          kind = failure;
        } else {
          return reject(401, 'invalid_client', 'AADSTS7000218', "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
        }
        const scope = form.get('scope') ?? '';
        if (!scope.endsWith('/.default')) return reject(400, 'invalid_scope', 'AADSTS1002012', 'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.');
        const token = this.#mint(kind);
        return send(200, { token_type: 'Bearer', expires_in: this.ttlSeconds, ext_expires_in: this.ttlSeconds, access_token: token });
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.#url = `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  #mint(kind: string): string {
    this.calls[kind] = (this.calls[kind] ?? 0) + 1;
    const token = `entra-${randomBytes(16).toString('hex')}`;
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    ENTRA_TOKENS.set(token, expiresAt);
    this.minted.push({ token, expiresAt, kind });
    return token;
  }

  /** The kind of a valid client assertion, or the AADSTS error Entra would answer. */
  #verifyAssertion(jwt: string, app: App, tenant: string, clientId: string): 'client_certificate' | 'workload_identity' | { code: string; description: string } {
    const parts = jwt.split('.');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      if (parts.length !== 3) throw new Error('parts');
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return { code: 'AADSTS50027', description: 'JWT token is invalid or malformed.' };
    }
    const input = `${parts[0]}.${parts[1]}`;
    const signature = Buffer.from(parts[2]!, 'base64url');
    const now = Math.floor(Date.now() / 1000);
    const exp = Number(claims['exp']);
    if (!Number.isFinite(exp) || exp <= now || (claims['nbf'] !== undefined && Number(claims['nbf']) > now + 300)) {
      return { code: 'AADSTS700024', description: 'Client assertion is not within its valid time range.' };
    }
    const x5tS256 = header['x5t#S256'];
    const x5t = header['x5t'];
    if (typeof x5tS256 === 'string' || typeof x5t === 'string') {
      const certs = (app.certificates ?? []).map((pem) => new X509Certificate(pem));
      const cert = certs.find((c) => (typeof x5tS256 === 'string' && thumbprint(c, 'sha256') === x5tS256) || (typeof x5t === 'string' && thumbprint(c, 'sha1') === x5t));
      if (!cert) return { code: 'AADSTS700027', description: 'The certificate with identifier used to sign the client assertion is not registered on application.' };
      const alg = header['alg'];
      const ok =
        alg === 'RS256' ? verify('sha256', Buffer.from(input), cert.publicKey, signature)
        : alg === 'PS256' ? verify('sha256', Buffer.from(input), { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
        : false;
      if (!ok) return { code: 'AADSTS7000274', description: 'Client assertion contains an invalid signature.' };
      if (claims['aud'] !== `${this.url}/${tenant}/oauth2/v2.0/token`) return { code: 'AADSTS700212', description: "No matching federated identity record found for presented assertion audience." };
      if (claims['iss'] !== clientId || claims['sub'] !== clientId) return { code: 'AADSTS700021', description: 'Client assertion application identifier doesn\'t match \'client_id\' parameter.' };
      if (app.requireChain) {
        const chain = header['x5c'];
        const leaf = Array.isArray(chain) && typeof chain[0] === 'string' ? Buffer.from(chain[0], 'base64') : undefined;
        if (!leaf || !leaf.equals(cert.raw)) return { code: 'AADSTS700027', description: 'Client assertion failed signature validation: the x5c certificate chain is missing or does not match.' };
      }
      this.assertions.push({ kind: 'client_certificate', header, claims, jwt });
      return 'client_certificate';
    }
    const issuer = this.#issuers.get(String(claims['iss']));
    if (!issuer || header['alg'] !== 'RS256' || !verify('sha256', Buffer.from(input), issuer.publicKey, signature)) {
      return { code: 'AADSTS700211', description: 'No matching federated identity record found for presented assertion issuer.' };
    }
    const audiences = Array.isArray(claims['aud']) ? (claims['aud'] as unknown[]) : [claims['aud']];
    const match = (app.federated ?? []).find((f) => f.issuer === claims['iss'] && f.subject === claims['sub'] && audiences.includes(f.audience ?? FEDERATED_AUDIENCE));
    if (!match) return { code: 'AADSTS700213', description: 'No matching federated identity record found for presented assertion subject.' };
    this.assertions.push({ kind: 'workload_identity', header, claims, jwt });
    return 'workload_identity';
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }
}

/** A certificate's thumbprint as the `x5t` / `x5t#S256` header carries it: base64url of the DER's digest. */
function thumbprint(cert: X509Certificate, algorithm: 'sha1' | 'sha256'): string {
  return createHash(algorithm).update(cert.raw).digest('base64url');
}

function createSignature(input: string, key: KeyObject): string {
  return sign('sha256', Buffer.from(input), key).toString('base64url');
}
