import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';

/** The part of oidc-provider's class used here (the package ships no type declarations). */
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}
type ProviderClass = new (issuer: string, config: Record<string, unknown>) => ProviderInstance;
const PROVIDER_MODULE = 'oidc-provider';
const { default: Provider } = (await import(PROVIDER_MODULE)) as { default: ProviderClass };

/**
 * A real OpenID provider (the `oidc-provider` package) on 127.0.0.1: discovery, JWKS and a token
 * endpoint. Tokens are JWT access tokens from the client-credentials grant with a resource
 * indicator (RFC 8707), audience `audience`, carrying each client's extra claims (groups, ...).
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

export interface OidcProviderOptions {
  audience: string;
  clients: Record<string, OidcClient>;
  alg?: 'RS256' | 'ES256' | 'PS256';
  ttlSeconds?: number;
}

type PrivateJwk = JWK & { kid: string };

export class OidcProviderEmulator {
  readonly #options: OidcProviderOptions;
  #server: Server | undefined;
  #provider: ProviderInstance | undefined;
  #keys: PrivateJwk[] = [];
  issuer = '';
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
      void this.#provider!.callback()(req, res);
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.issuer = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    this.#keys = [await newKey(this.#options.alg ?? 'RS256')];
    this.#configure();
    return this;
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
    const alg = this.#options.alg ?? 'RS256';
    this.#provider = new Provider(this.issuer, {
      clients: Object.entries(clients).map(([client_id, c]) => ({
        client_id,
        client_secret: c.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'llm',
        id_token_signed_response_alg: alg,
      })),
      jwks: { keys: this.#keys },
      scopes: ['llm'],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
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
      ttl: { ClientCredentials: ttlSeconds ?? 300 },
      extraTokenClaims: (_ctx: unknown, token: unknown) => {
        const id = (token as { clientId?: string }).clientId;
        return (id !== undefined ? clients[id]?.claims : undefined) ?? {};
      },
    });
  }
}

const RESOURCE = 'urn:llmproxy:gateway';

let keyCounter = 0;
async function newKey(alg: 'RS256' | 'ES256' | 'PS256'): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `key-${++keyCounter}-${Date.now().toString(36)}`, alg, use: 'sig' };
}
