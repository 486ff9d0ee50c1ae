import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * Entra ID emulator, served over https because `@azure/identity` refuses an http authority
 * host. Its certificate (for 127.0.0.1, valid a century) is {@link ENTRA_TEST_CERT}: trust it
 * with `NODE_EXTRA_CA_CERTS` in a child process; a test that runs the gateway in its own process
 * sets `NODE_TLS_REJECT_UNAUTHORIZED=0` for the test's lifetime (Node 20 cannot add a CA at run
 * time). Serves `POST /{tenant}/oauth2/v2.0/token` (client_credentials with `client_secret`,
 * or `client_assertion` matching a registered federated token) and an App Service–style managed
 * identity endpoint `GET /msi/token` (`X-IDENTITY-HEADER`). Minted tokens are registered in
 * {@link ENTRA_TOKENS}, which the Azure OpenAI emulator accepts as Bearer tokens.
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

interface App {
  secret?: string;
  federatedTokens?: string[];
}

export class EntraEmulator {
  /** Lifetime of minted tokens. */
  ttlSeconds = 3600;
  /** Token requests per kind: `client_secret`, `client_assertion`, `managed_identity`. */
  readonly calls: Record<string, number> = {};
  /** Every token minted, newest last. */
  readonly minted: Array<{ token: string; expiresAt: number; kind: string }> = [];
  /** The managed identity endpoint's secret header value. */
  readonly identityHeader = randomBytes(8).toString('hex');
  #down = false;
  readonly #apps = new Map<string, App>();
  #server: Server | undefined;

  addApp(tenant: string, clientId: string, app: App): void {
    this.#apps.set(`${tenant}/${clientId}`, app);
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
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
        const mint = (kind: string) => {
          this.calls[kind] = (this.calls[kind] ?? 0) + 1;
          const token = `entra-${randomBytes(16).toString('hex')}`;
          const expiresAt = Date.now() + this.ttlSeconds * 1000;
          ENTRA_TOKENS.set(token, expiresAt);
          this.minted.push({ token, expiresAt, kind });
          return token;
        };
        if (req.method === 'GET' && url.pathname === '/msi/token') {
          if (req.headers['x-identity-header'] !== this.identityHeader) return send(401, { error: 'invalid identity header' });
          const token = mint('managed_identity');
          return send(200, { access_token: token, expires_on: String(Math.floor(ENTRA_TOKENS.get(token)! / 1000)), resource: url.searchParams.get('resource'), token_type: 'Bearer', client_id: url.searchParams.get('client_id') ?? 'system' });
        }
        const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
        if (req.method === 'GET' && oidc) {
          // MSAL resolves the authority's endpoints here before its first token request.
          const base = `${this.url}/${oidc[1]}`;
          return send(200, { token_endpoint: `${base}/oauth2/v2.0/token`, authorization_endpoint: `${base}/oauth2/v2.0/authorize`, end_session_endpoint: `${base}/oauth2/v2.0/logout`, issuer: `${base}/v2.0`, jwks_uri: `${base}/discovery/v2.0/keys` });
        }
        const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
        if (req.method !== 'POST' || !m) return send(404, { error: 'not_found' });
        const form = new URLSearchParams(body);
        const app = this.#apps.get(`${m[1]}/${form.get('client_id')}`);
        if (form.get('grant_type') !== 'client_credentials' || app === undefined) return send(400, { error: 'unauthorized_client', error_description: 'AADSTS700016: Application not found.' });
        let kind: string;
        if (form.get('client_secret') !== null) {
          if (form.get('client_secret') !== app.secret) return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
          kind = 'client_secret';
        } else if (form.get('client_assertion') !== null) {
          if (!app.federatedTokens?.includes(form.get('client_assertion')!)) return send(401, { error: 'invalid_client', error_description: 'AADSTS700211: No matching federated identity record found.' });
          kind = 'client_assertion';
        } else {
          return send(401, { error: 'invalid_client' });
        }
        const token = mint(kind);
        return send(200, { token_type: 'Bearer', expires_in: this.ttlSeconds, ext_expires_in: this.ttlSeconds, access_token: token });
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    return this;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }
}
