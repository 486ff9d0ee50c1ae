import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GOOGLE_TOKENS } from './google-oauth.js';

/**
 * The GCE / GKE / Cloud Run metadata server (`metadata.google.internal`), the part Application
 * Default Credentials use, reached through `GCE_METADATA_HOST` (which gcp-metadata honours):
 * - every request must carry `Metadata-Flavor: Google` and no `X-Forwarded-For` (403 otherwise,
 *   as the real server answers), and every answer carries `Metadata-Flavor: Google` (gcp-metadata
 *   refuses an answer without it);
 * - `GET /computeMetadata/v1/instance` (the availability probe) and `.../project/project-id`;
 * - `GET /computeMetadata/v1/instance/service-accounts/{default|email}/token[?scopes=a,b]`: an
 *   access token for the attached service account, `{access_token, expires_in, token_type}`;
 *   requested `scopes` must include cloud-platform (an instance whose access scopes lack it gets
 *   tokens Vertex refuses)
 *   (https://cloud.google.com/compute/docs/access/authenticate-workloads#applications).
 * Tokens are registered in {@link GOOGLE_TOKENS}, which the Vertex emulator accepts.
 *
 * @example
 * const md = await new GceMetadataEmulator({ project: 'proj-1', email: 'sa@proj-1.iam.gserviceaccount.com' }).start();
 * process.env['GCE_METADATA_HOST'] = md.host; // 127.0.0.1:port
 */
export class GceMetadataEmulator {
  /** Lifetime of minted tokens. */
  ttlSeconds = 3600;
  /** Requests per outcome: `token`, `probe`, `project`, or the refusal reason. */
  readonly calls: Record<string, number> = {};
  /** Every token minted, newest last. */
  readonly minted: Array<{ token: string; expiresAt: number; scopes: string }> = [];
  readonly project: string;
  readonly email: string;
  #down = false;
  #server: Server | undefined;

  constructor(options: { project: string; email: string }) {
    this.project = options.project;
    this.email = options.email;
  }

  /** `host:port`, the form `GCE_METADATA_HOST` takes. */
  get host(): string {
    return `127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const count = (what: string) => (this.calls[what] = (this.calls[what] ?? 0) + 1);
        const send = (status: number, type: string, body: string) => res.writeHead(status, { 'metadata-flavor': 'Google', 'content-type': type, server: 'Metadata Server for VM' }).end(body);
        if (this.#down) {
          count('down');
          return send(503, 'text/plain', 'Service Unavailable');
        }
        if (req.headers['metadata-flavor'] !== 'Google') {
          count('no_flavor');
          return send(403, 'text/html', 'Missing Metadata-Flavor:Google header.');
        }
        if (req.headers['x-forwarded-for'] !== undefined) {
          count('forwarded');
          return send(403, 'text/html', 'Request denied: X-Forwarded-For present.');
        }
        const url = new URL(req.url ?? '/', 'http://metadata.google.internal');
        const path = url.pathname.replace(/\/$/, '');
        if (req.method !== 'GET') return send(405, 'text/html', 'Method Not Allowed');
        if (path === '/computeMetadata/v1/instance') {
          count('probe');
          return send(200, 'application/text', 'attributes/\nhostname\nid\nservice-accounts/\nzone\n');
        }
        if (path === '/computeMetadata/v1/project/project-id') {
          count('project');
          return send(200, 'application/text', this.project);
        }
        const m = /^\/computeMetadata\/v1\/instance\/service-accounts\/([^/]+)\/token$/.exec(path);
        if (m && (m[1] === 'default' || decodeURIComponent(m[1]!) === this.email)) {
          const scopes = url.searchParams.get('scopes') ?? 'https://www.googleapis.com/auth/cloud-platform';
          if (!scopes.split(/[,\s]+/).includes('https://www.googleapis.com/auth/cloud-platform')) {
            count('scope');
            return send(400, 'text/plain', 'scopes do not include cloud-platform');
          }
          count('token');
          const token = `ya29.emu-gce-${randomBytes(24).toString('base64url')}`;
          const expiresAt = Date.now() + this.ttlSeconds * 1000;
          GOOGLE_TOKENS.set(token, expiresAt);
          this.minted.push({ token, expiresAt, scopes });
          return send(200, 'application/json', JSON.stringify({ access_token: token, expires_in: this.ttlSeconds, token_type: 'Bearer' }));
        }
        count('not_found');
        send(404, 'text/html', 'Not Found');
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    return this;
  }

  async close(): Promise<void> {
    for (const m of this.minted) GOOGLE_TOKENS.delete(m.token);
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }
}
