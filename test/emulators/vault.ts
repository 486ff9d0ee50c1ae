import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * HashiCorp Vault emulator on loopback: token auth, Kubernetes login (configured role/JWT
 * pairs), AppRole login, `renew-self`, KV v1 and KV v2 mounts with versions (each write bumps
 * the version), token TTLs (an expired or unknown token gets 403 `permission denied`, as Vault
 * answers), counters, and a `down` switch that drops every connection. `start({ tls })` serves
 * HTTPS with the given PEM certificate and key instead of plain HTTP.
 */
interface IssuedToken {
  expiresAt: number | undefined;
  ttlSeconds: number;
  renewable: boolean;
}

export class VaultEmulator {
  /** Tokens and their expiry; `addToken` for token auth, logins add more. */
  readonly tokens = new Map<string, IssuedToken>();
  /** Kubernetes auth: role -> accepted service-account JWT. */
  readonly k8sRoles = new Map<string, string>();
  /** AppRole auth: role_id -> secret_id. */
  readonly appRoles = new Map<string, string>();
  /** TTL and renewability of tokens issued by logins and renewals. */
  loginTokenTtlSeconds = 3600;
  loginTokenRenewable = true;
  /** While true, every connection is dropped without an answer. */
  down = false;
  readonly counters = { requests: 0, reads: 0, denied: 0, renewals: 0, logins: { kubernetes: 0, approle: 0 }, loginsByMount: new Map<string, number>() };
  /** Path of every request received (after `/v1/`), with the token it carried. */
  readonly log: Array<{ method: string; path: string; token: string | undefined; namespace: string | undefined }> = [];
  readonly #kv1 = new Set<string>();
  readonly #kv2 = new Set<string>(['secret']);
  /** `mount/path` -> versions (index 0 is version 1). */
  readonly #data = new Map<string, Array<Record<string, unknown>>>();
  #server: Server | undefined;
  #url = '';

  get url(): string {
    return this.#url;
  }

  async start(options: { tls?: { cert: string; key: string } } = {}): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#dispatch(req, res);
    this.#server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createServer(handler);
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.#url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  mountKv(mount: string, version: 1 | 2): this {
    (version === 1 ? this.#kv1 : this.#kv2).add(mount);
    (version === 1 ? this.#kv2 : this.#kv1).delete(mount);
    return this;
  }

  /** Accepts `token` until `ttlSeconds` pass (never, if omitted). */
  addToken(token: string, ttlSeconds?: number, renewable = false): this {
    this.tokens.set(token, { expiresAt: ttlSeconds === undefined ? undefined : Date.now() + ttlSeconds * 1000, ttlSeconds: ttlSeconds ?? 0, renewable });
    return this;
  }

  /** Makes every token expire now (the next use gets 403). */
  expireAllTokens(): void {
    for (const t of this.tokens.values()) t.expiresAt = Date.now() - 1;
  }

  /** Writes a new version of `mount/path` (e.g. `write('secret', 'openai', { key })`); returns the version. */
  write(mount: string, path: string, data: Record<string, unknown>): number {
    const id = `${mount}/${path}`;
    const versions = this.#data.get(id) ?? [];
    if (this.#kv1.has(mount)) versions.length = 0;
    versions.push({ ...data });
    this.#data.set(id, versions);
    return versions.length;
  }

  version(mount: string, path: string): number {
    return this.#data.get(`${mount}/${path}`)?.length ?? 0;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    if (this.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
    } catch {
      return send(res, 400, { errors: ['failed to parse JSON input'] });
    }
    const url = new URL(req.url ?? '/', 'http://vault');
    const path = url.pathname.replace(/^\/v1\//, '');
    const token = header(req, 'x-vault-token');
    this.log.push({ method: req.method ?? 'GET', path, token, namespace: header(req, 'x-vault-namespace') });

    const login = /^auth\/(.+)\/login$/.exec(path);
    if (req.method === 'POST' && login) return this.#login(res, login[1]!, body);

    const issued = token === undefined ? undefined : this.tokens.get(token);
    if (!issued || (issued.expiresAt !== undefined && Date.now() >= issued.expiresAt)) {
      this.counters.denied++;
      return send(res, 403, { errors: ['permission denied'] });
    }
    if (req.method === 'POST' && path === 'auth/token/renew-self') {
      this.counters.renewals++;
      if (!issued.renewable) return send(res, 400, { errors: ['lease is not renewable'] });
      issued.expiresAt = Date.now() + issued.ttlSeconds * 1000;
      return send(res, 200, authBlock(token!, issued.ttlSeconds, true));
    }
    if (req.method === 'GET') return this.#read(res, path);
    return send(res, 405, { errors: ['unsupported operation'] });
  }

  #login(res: ServerResponse, mount: string, body: Record<string, unknown>): void {
    this.counters.loginsByMount.set(mount, (this.counters.loginsByMount.get(mount) ?? 0) + 1);
    if (mount === 'approle') {
      const roleId = String(body['role_id'] ?? '');
      if (!this.appRoles.has(roleId) || this.appRoles.get(roleId) !== body['secret_id']) return send(res, 400, { errors: ['invalid role or secret ID'] });
      this.counters.logins.approle++;
    } else {
      const role = String(body['role'] ?? '');
      if (!this.k8sRoles.has(role)) return send(res, 400, { errors: [`invalid role name "${role}"`] });
      if (this.k8sRoles.get(role) !== body['jwt']) return send(res, 403, { errors: ['permission denied'] });
      this.counters.logins.kubernetes++;
    }
    const token = `hvs.${randomBytes(12).toString('base64url')}`;
    this.addToken(token, this.loginTokenTtlSeconds, this.loginTokenRenewable);
    send(res, 200, authBlock(token, this.loginTokenTtlSeconds, this.loginTokenRenewable));
  }

  #read(res: ServerResponse, path: string): void {
    this.counters.reads++;
    const slash = path.indexOf('/');
    const mount = path.slice(0, slash);
    const rest = path.slice(slash + 1);
    if (this.#kv2.has(mount)) {
      if (!rest.startsWith('data/')) return send(res, 404, { errors: [] });
      const versions = this.#data.get(`${mount}/${rest.slice(5)}`);
      if (!versions || versions.length === 0) return send(res, 404, { errors: [] });
      return send(res, 200, {
        request_id: randomBytes(8).toString('hex'),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: { data: versions[versions.length - 1], metadata: { created_time: new Date().toISOString(), deletion_time: '', destroyed: false, version: versions.length } },
      });
    }
    if (this.#kv1.has(mount)) {
      const versions = this.#data.get(`${mount}/${rest}`);
      if (!versions || versions.length === 0) return send(res, 404, { errors: [] });
      return send(res, 200, { request_id: randomBytes(8).toString('hex'), lease_id: '', renewable: false, lease_duration: 2764800, data: versions[versions.length - 1] });
    }
    send(res, 403, { errors: ['permission denied'] });
  }
}

function authBlock(token: string, ttlSeconds: number, renewable: boolean) {
  return { request_id: randomBytes(8).toString('hex'), auth: { client_token: token, accessor: randomBytes(8).toString('hex'), policies: ['default'], lease_duration: ttlSeconds, renewable } };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
