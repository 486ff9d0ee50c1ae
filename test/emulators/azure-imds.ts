import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENTRA_TOKENS } from './entra.js';

/**
 * Azure managed identity endpoints, on loopback http as on Azure:
 * - IMDS, `GET /metadata/identity/oauth2/token` (VMs, scale sets, AKS nodes; reached through
 *   `AZURE_POD_IDENTITY_AUTHORITY_HOST`, which MSAL honours for the IMDS host): requires
 *   `Metadata: true`, refuses a request with `X-Forwarded-For` (IMDS answers only direct
 *   callers), requires `api-version` and `resource`; a user-assigned identity is chosen by
 *   `client_id` (or `object_id` / `msi_res_id`)
 *   (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token);
 * - App Service / Container Apps, `GET /msi/token` (`IDENTITY_ENDPOINT` = `{url}/msi/token`,
 *   `IDENTITY_HEADER` = {@link identityHeader}): requires `X-IDENTITY-HEADER` equal to the
 *   platform's secret, `api-version=2019-08-01` and `resource`; a user-assigned identity is
 *   chosen by `client_id` (or `principal_id` / `mi_res_id`)
 *   (https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference).
 * The system-assigned identity exists unless `systemAssigned` is false; user-assigned ones are
 * registered with {@link addUserAssigned}. Tokens are minted into {@link ENTRA_TOKENS} (the Azure
 * OpenAI emulator accepts them) with `expires_on` in epoch seconds, as both endpoints send it.
 *
 * @example
 * const mi = await new AzureManagedIdentityEmulator().start();
 * mi.addUserAssigned('0f1e...-client-id');
 * process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = mi.url; // IMDS
 */
export class AzureManagedIdentityEmulator {
  /** Lifetime of minted tokens. */
  ttlSeconds = 3600;
  /** Whether the resource has a system-assigned identity. */
  systemAssigned = true;
  /** The App Service endpoint's secret (`IDENTITY_HEADER`), rotated by the platform. */
  readonly identityHeader = randomBytes(16).toString('hex');
  /** Tokens minted per endpoint and identity: `imds:system`, `appservice:<client id>`, ... */
  readonly calls: Record<string, number> = {};
  /** Requests refused, by reason. */
  readonly rejected: Record<string, number> = {};
  /** Every token minted, newest last, with the identity and resource it is for. */
  readonly minted: Array<{ token: string; expiresAt: number; identity: string; resource: string; endpoint: 'imds' | 'appservice' }> = [];
  readonly #userAssigned = new Set<string>();
  #down = false;
  #server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  /** `IDENTITY_ENDPOINT` of the App Service / Container Apps flavour. */
  get identityEndpoint(): string {
    return `${this.url}/msi/token`;
  }

  addUserAssigned(clientId: string): void {
    this.#userAssigned.add(clientId);
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const send = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(json));
        const refuse = (status: number, reason: string, json: unknown) => {
          this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
          send(status, json);
        };
        if (this.#down) return refuse(503, 'down', { error: 'service_unavailable' });
        const url = new URL(req.url ?? '/', 'http://identity');
        // MSAL asks for `/metadata/identity/oauth2/token/` (trailing slash); IMDS serves both.
        const path = url.pathname.replace(/\/$/, '');
        if (req.method === 'GET' && path === '/metadata/identity/oauth2/token') return this.#imds(req, url, send, refuse);
        if (req.method === 'GET' && path === '/msi/token') return this.#appService(req, url, send, refuse);
        refuse(404, 'not_found', { error: 'not_found' });
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    return this;
  }

  #imds(req: IncomingMessage, url: URL, send: (status: number, json: unknown) => void, refuse: (status: number, reason: string, json: unknown) => void): void {
    if (req.headers['metadata'] !== 'true') return refuse(400, 'metadata_header', { error: 'invalid_request', error_description: 'Required metadata header not specified' });
    if (req.headers['x-forwarded-for'] !== undefined) return refuse(400, 'forwarded', { error: 'invalid_request', error_description: 'Request is not allowed: X-Forwarded-For header present' });
    const q = url.searchParams;
    if (!q.get('api-version')) return refuse(400, 'api_version', { error: 'invalid_request', error_description: 'Required query variable api-version is missing' });
    const resource = q.get('resource');
    if (!resource) return refuse(400, 'resource', { error: 'invalid_request', error_description: 'Required query variable resource is missing' });
    const identity = this.#identity(q.get('client_id') ?? q.get('object_id') ?? q.get('msi_res_id'));
    if (identity === undefined) return refuse(400, 'identity', { error: 'invalid_request', error_description: 'Identity not found' });
    const { token, expiresAt } = this.#mint('imds', identity, resource);
    const seconds = String(this.ttlSeconds);
    send(200, { access_token: token, client_id: identity === 'system' ? SYSTEM_CLIENT_ID : identity, expires_in: seconds, expires_on: String(Math.floor(expiresAt / 1000)), ext_expires_in: seconds, not_before: String(Math.floor(Date.now() / 1000)), resource, token_type: 'Bearer' });
  }

  #appService(req: IncomingMessage, url: URL, send: (status: number, json: unknown) => void, refuse: (status: number, reason: string, json: unknown) => void): void {
    if (req.headers['x-identity-header'] !== this.identityHeader) return refuse(401, 'identity_header', { statusCode: 401, message: 'Unauthorized' });
    const q = url.searchParams;
    if (q.get('api-version') !== '2019-08-01') return refuse(400, 'api_version', { statusCode: 400, message: 'An api-version of 2019-08-01 is required.' });
    const resource = q.get('resource');
    if (!resource) return refuse(400, 'resource', { statusCode: 400, message: 'A resource is required.' });
    const identity = this.#identity(q.get('client_id') ?? q.get('principal_id') ?? q.get('mi_res_id'));
    if (identity === undefined) return refuse(400, 'identity', { statusCode: 400, message: 'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.' });
    const { token, expiresAt } = this.#mint('appservice', identity, resource);
    send(200, { access_token: token, expires_on: String(Math.floor(expiresAt / 1000)), resource, token_type: 'Bearer', client_id: identity === 'system' ? SYSTEM_CLIENT_ID : identity });
  }

  /** `system`, a registered user-assigned client id, or undefined for an unknown identity. */
  #identity(requested: string | null): string | undefined {
    if (requested === null) return this.systemAssigned ? 'system' : undefined;
    return this.#userAssigned.has(requested) ? requested : undefined;
  }

  #mint(endpoint: 'imds' | 'appservice', identity: string, resource: string): { token: string; expiresAt: number } {
    const key = `${endpoint}:${identity}`;
    this.calls[key] = (this.calls[key] ?? 0) + 1;
    const token = `entra-mi-${randomBytes(16).toString('hex')}`;
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    ENTRA_TOKENS.set(token, expiresAt);
    this.minted.push({ token, expiresAt, identity, resource, endpoint });
    return { token, expiresAt };
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }
}

/** The client id the emulator reports for the system-assigned identity. */
const SYSTEM_CLIENT_ID = randomUUID();
