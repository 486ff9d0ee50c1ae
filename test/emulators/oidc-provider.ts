import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';

/** The part of oidc-provider's class used here (the package ships no type declarations). */
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => GrantInstance;
}
interface InteractionDetails {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
  params: Record<string, unknown> & { client_id: string };
  session?: { accountId: string };
  grantId?: string;
}
interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
type ProviderClass = new (issuer: string, config: Record<string, unknown>) => ProviderInstance;
const PROVIDER_MODULE = 'oidc-provider';
const { default: Provider } = (await import(PROVIDER_MODULE)) as { default: ProviderClass };

/**
 * A real OpenID provider (the `oidc-provider` package) on 127.0.0.1: discovery, JWKS and a token
 * endpoint. Tokens are JWT access tokens from the client-credentials grant with a resource
 * indicator (RFC 8707), audience `audience`, carrying each client's extra claims (groups, ...).
 *
 * With `codeClients` and `users` it also serves the authorization-code flow with PKCE (S256,
 * required) for a browser sign-in: the ID token (and userinfo) carry the user's claims. Sign-in
 * is either automatic (`nextLogin('alice')` before the flow starts: the login step completes with
 * that account, no page shown) or through a small login form at `/interaction/<uid>` with the
 * fields "Username" and "Password". Consent is always given (a first-party test provider).
 *
 * `rotate()` replaces the provider's signing keys without changing its address, as a provider's
 * key rotation does: new tokens carry the new `kid`, and the JWKS lists the new key (and the old
 * one too when `keepOld`).
 */
export interface OidcClient {
  secret: string;
  /** Extra claims put into this client's access tokens (e.g. `{ groups: ['admin'] }`). */
  claims?: Record<string, unknown>;
}

/** A client of the authorization-code flow (a relying party such as the admin console). */
export interface OidcCodeClient {
  /** Omit for a public client (`token_endpoint_auth_method: none`); PKCE is required either way. */
  secret?: string;
  /** How a confidential client authenticates at the token endpoint; default client_secret_basic. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  redirect_uris: string[];
}

/** A person who can sign in; `claims` go into the ID token and userinfo (e.g. `{ groups: ['admin'], email }`). */
export interface OidcUser {
  /** Checked by the login form; a user without one cannot sign in through the form (only `nextLogin`). */
  password?: string;
  claims?: Record<string, unknown>;
}

export interface OidcProviderOptions {
  audience: string;
  clients: Record<string, OidcClient>;
  codeClients?: Record<string, OidcCodeClient>;
  users?: Record<string, OidcUser>;
  alg?: 'RS256' | 'ES256' | 'PS256';
  ttlSeconds?: number;
}

type PrivateJwk = JWK & { kid: string };

export class OidcProviderEmulator {
  readonly #options: OidcProviderOptions;
  #server: Server | undefined;
  #provider: ProviderInstance | undefined;
  #keys: PrivateJwk[] = [];
  /** Stable across rotate(): a browser's provider session survives a key rotation. */
  readonly #cookieKeys = [randomBytes(32).toString('base64url')];
  #nextLogins: string[] = [];
  issuer = '';
  /** Accounts signed in, in order (by nextLogin or the form). */
  readonly logins: string[] = [];
  /** Requests to the JWKS endpoint, to observe caching and refetch on an unknown kid. */
  jwksRequests = 0;
  discoveryRequests = 0;

  constructor(options: OidcProviderOptions) {
    this.#options = options;
  }

  async start(): Promise<this> {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/jwks') this.jwksRequests++;
      if (req.url === '/.well-known/openid-configuration') this.discoveryRequests++;
      if (req.url?.startsWith('/interaction/')) {
        this.#interaction(req, res).catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
          res.end(`interaction failed: ${err instanceof Error ? err.message : String(err)}`);
        });
        return;
      }
      void this.#provider!.callback()(req, res);
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.issuer = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    this.#keys = [await newKey(this.#options.alg ?? 'RS256')];
    this.#configure();
    return this;
  }

  /**
   * The next authorization request's login step completes as `user`, with no page shown (one
   * login per call, in order). Without a queued login the browser is shown the login form.
   */
  nextLogin(user: string): void {
    if (!this.#options.users?.[user]) throw new Error(`unknown user ${user}`);
    this.#nextLogins.push(user);
  }

  /**
   * Registers one more redirect URI for a code-flow client: a relying party whose address is
   * known only once it listens on port 0 (the gateway's console).
   */
  allowRedirect(clientId: string, uri: string): void {
    const client = this.#options.codeClients?.[clientId];
    if (!client) throw new Error(`unknown code-flow client ${clientId}`);
    client.redirect_uris = [...client.redirect_uris, uri];
    this.#configure();
  }

  /** The current signing key's id (the `kid` of newly issued tokens). */
  get kid(): string {
    return this.#keys[0]!.kid;
  }

  /** A new signing key; the old one stays in the JWKS only when `keepOld`. */
  async rotate(options: { keepOld: boolean }): Promise<void> {
    const fresh = await newKey(this.#options.alg ?? 'RS256');
    this.#keys = options.keepOld ? [fresh, ...this.#keys] : [fresh];
    this.#configure();
  }

  /** An access token for `clientId` via client_credentials with the resource indicator. */
  async token(clientId: string): Promise<string> {
    const client = this.#options.clients[clientId];
    if (!client) throw new Error(`unknown client ${clientId}`);
    const res = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${client.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: 'llm' }).toString(),
    });
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!res.ok || !body.access_token) throw new Error(`token endpoint: ${res.status} ${body.error} ${body.error_description}`);
    return body.access_token;
  }

  /**
   * A token signed with the provider's current key but with claims the test chooses (expired,
   * another audience, ...): what the provider would sign, not what a client could forge.
   */
  async sign(payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    const { alg, kid } = this.#keys[0]!;
    const key = await importJWK(this.#keys[0]!, alg);
    return new SignJWT(payload).setProtectedHeader({ alg: alg!, kid, typ: 'at+jwt', ...header }).sign(key);
  }

  /** The public keys the JWKS endpoint serves. */
  publicJwks(): JWK[] {
    return this.#keys.map(({ kty, kid, alg, use, n, e, crv, x, y }) => ({ kty, kid, alg, use, n, e, crv, x, y }));
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  #configure(): void {
    const { audience, clients, ttlSeconds } = this.#options;
    const codeClients = this.#options.codeClients ?? {};
    const users = this.#options.users ?? {};
    const alg = this.#options.alg ?? 'RS256';
    // Every claim a user has is released with the openid scope; email/profile/groups are accepted too.
    const userClaims = [...new Set(Object.values(users).flatMap((u) => Object.keys(u.claims ?? {})))].filter((c) => c !== 'sub');
    this.#provider = new Provider(this.issuer, {
      clients: [
        ...Object.entries(clients).map(([client_id, c]) => ({
          client_id,
          client_secret: c.secret,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
          scope: 'llm',
          id_token_signed_response_alg: alg,
        })),
        ...Object.entries(codeClients).map(([client_id, c]) => ({
          client_id,
          ...(c.secret !== undefined
            ? { client_secret: c.secret, token_endpoint_auth_method: c.authMethod ?? 'client_secret_basic' }
            : { token_endpoint_auth_method: 'none' }),
          grant_types: ['authorization_code'],
          response_types: ['code'],
          redirect_uris: c.redirect_uris,
          id_token_signed_response_alg: alg,
        })),
      ],
      jwks: { keys: this.#keys },
      cookies: { keys: this.#cookieKeys },
      scopes: ['openid', 'llm'],
      claims: {
        openid: ['sub', ...userClaims],
        email: ['email', 'email_verified'],
        profile: ['name', 'preferred_username'],
        groups: ['groups'],
      },
      // The ID token carries the user's claims even though an access token is issued too, as
      // Keycloak, Entra and Cognito do for the groups a relying party maps to roles.
      conformIdTokenClaims: false,
      findAccount: (_ctx: unknown, sub: string) => {
        const user = users[sub];
        if (!user) return undefined;
        return { accountId: sub, claims: () => ({ ...user.claims, sub }) };
      },
      pkce: { required: () => true },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // Only client-credentials clients get the gateway's resource by default; a code-flow
          // client's access token stays an opaque token for userinfo.
          defaultResource: (_ctx: unknown, client: { clientId: string }, oneOf?: string) =>
            oneOf ?? (clients[client.clientId] ? RESOURCE : undefined),
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: 'llm',
            audience,
            accessTokenTTL: ttlSeconds ?? 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          }),
        },
      },
      ttl: {
        ClientCredentials: ttlSeconds ?? 300,
        AccessToken: ttlSeconds ?? 300,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 600,
        Session: 3600,
        Grant: 3600,
      },
      extraTokenClaims: (_ctx: unknown, token: unknown) => {
        const id = (token as { clientId?: string }).clientId;
        return (id !== undefined ? clients[id]?.claims : undefined) ?? {};
      },
    });
  }

  /**
   * The provider's interaction step (`interactions.url` defaults to `/interaction/<uid>`):
   * login by a queued `nextLogin` or the form, then consent for everything asked.
   */
  async #interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const provider = this.#provider!;
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      const grant = details.grantId !== undefined ? await findGrant(provider, details.grantId) : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
      return;
    }
    if (details.prompt.name !== 'login') throw new Error(`unsupported prompt ${details.prompt.name}`);
    let account: string | undefined;
    let error = '';
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const user = this.#options.users?.[form.get('username') ?? ''];
      if (user?.password !== undefined && user.password === form.get('password')) account = form.get('username')!;
      else error = 'Wrong username or password.';
    } else {
      account = this.#nextLogins.shift();
    }
    if (account === undefined) {
      res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(details.uid, error));
      return;
    }
    this.logins.push(account);
    await provider.interactionFinished(req, res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
  }
}

async function findGrant(provider: ProviderInstance, id: string): Promise<GrantInstance> {
  const found = await (provider.Grant as unknown as { find(id: string): Promise<GrantInstance | undefined> }).find(id);
  if (!found) throw new Error(`grant ${id} not found`);
  return found;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function loginPage(uid: string, error: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><main><h1>Test IdP sign-in</h1>${error ? `<p role="alert" id="error">${error}</p>` : ''}
<form method="post" action="/interaction/${encodeURIComponent(uid)}">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></main></body></html>`;
}

const RESOURCE = 'urn:llmproxy:gateway';

let keyCounter = 0;
async function newKey(alg: 'RS256' | 'ES256' | 'PS256'): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `key-${++keyCounter}-${Date.now().toString(36)}`, alg, use: 'sig' };
}
