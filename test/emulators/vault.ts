import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { AwsAccounts } from './aws-accounts.js';

/**
 * HashiCorp Vault emulator on loopback: token auth, Kubernetes login (configured role/JWT
 * pairs), AppRole login, `renew-self`, KV v1 and KV v2 mounts with versions (each write bumps
 * the version), token TTLs (an expired or unknown token gets 403 `permission denied`, as Vault
 * answers), counters, and a `down` switch that drops every connection. `start({ tls })` serves
 * HTTPS with the given PEM certificate and key instead of plain HTTP.
 *
 * With `mountAws(accounts)`, an AWS secrets engine at `aws/`: `GET /v1/aws/creds/<role>` creates
 * an IAM user in the in-memory AWS account (so the Bedrock emulator accepts its SigV4
 * signatures) and answers its keys with a lease; `PUT /v1/sys/leases/renew` extends a lease up to
 * the role's max TTL (answering the shorter duration, as Vault does); `PUT /v1/sys/leases/revoke`
 * deletes the user. A lease that reaches its expiry is revoked too. Both lease endpoints need a
 * valid `X-Vault-Token`. Every lease is kept in `leases` for assertions.
 */
export interface AwsEngineRole {
  /** The lease duration of a new credential (Vault's default_lease_ttl / the role's ttl). */
  ttlSeconds: number;
  /** How long a lease may live in all, renewals included (Vault's max_lease_ttl). */
  maxTtlSeconds: number;
}

export interface EmulatedLease {
  id: string;
  role: string;
  accessKeyId: string;
  issuedAt: number;
  expiresAt: number;
  /** The increments asked for by each renewal, and the durations granted. */
  renewals: Array<{ increment: number; granted: number }>;
  revoked: 'no' | 'api' | 'expired' | 'operator';
  /** The token that read it. */
  token: string | undefined;
}

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
  /**
   * Other dynamic engines by full read path (e.g. `database/creds/app`): each read mints the
   * fields `mint` returns, with a lease on the role's TTLs.
   */
  readonly dynamicPaths = new Map<string, AwsEngineRole & { mint: () => Record<string, string> }>();
  /** AWS engine roles by name (see `mountAws`). */
  readonly awsRoles = new Map<string, AwsEngineRole>();
  /** Every lease issued, oldest first. */
  readonly leases: EmulatedLease[] = [];
  /** Lease ids named by `sys/leases/revoke` calls, in order. */
  readonly revokeCalls: string[] = [];
  /** While true, `sys/leases/renew` answers 400 as Vault does for a lease it will not renew. */
  refuseRenewals = false;
  #accounts: AwsAccounts | undefined;
  readonly #leaseTimers = new Set<NodeJS.Timeout>();
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
    for (const t of this.#leaseTimers) clearTimeout(t);
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** Mounts the AWS secrets engine at `aws/`, issuing IAM users in `accounts`. */
  mountAws(accounts: AwsAccounts, roles: Record<string, AwsEngineRole>): this {
    this.#accounts = accounts;
    for (const [name, role] of Object.entries(roles)) this.awsRoles.set(name, role);
    return this;
  }

  /** Leases not revoked nor expired. */
  get liveLeases(): EmulatedLease[] {
    return this.leases.filter((l) => l.revoked === 'no');
  }

  /** Revokes a lease as an operator would (`vault lease revoke`): its user is deleted, its renewal refused. */
  revokeLease(id: string): void {
    const lease = this.leases.find((l) => l.id === id);
    if (lease && lease.revoked === 'no') this.#endLease(lease, 'operator');
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
    if (req.method === 'PUT' && path === 'sys/leases/renew') return this.#renewLease(res, body);
    if (req.method === 'PUT' && path === 'sys/leases/revoke') return this.#revokeLeaseCall(res, body);
    const creds = /^aws\/creds\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && creds && this.#accounts) return this.#issueAws(res, creds[1]!, token);
    if (req.method === 'GET' && this.dynamicPaths.has(path)) return this.#issueDynamic(res, path, token);
    if (req.method === 'GET') return this.#read(res, path);
    return send(res, 405, { errors: ['unsupported operation'] });
  }

  #issueAws(res: ServerResponse, roleName: string, token: string | undefined): void {
    this.counters.reads++;
    const role = this.awsRoles.get(roleName);
    if (!role) return send(res, 400, { errors: [`role "${roleName}" not found`] });
    const user = this.#accounts!.addUser(`vault-token-${roleName}-${randomBytes(4).toString('hex')}`);
    const now = Date.now();
    const lease: EmulatedLease = {
      id: `aws/creds/${roleName}/${randomBytes(12).toString('base64url')}`,
      role: roleName,
      accessKeyId: user.accessKeyId,
      issuedAt: now,
      expiresAt: now + role.ttlSeconds * 1000,
      renewals: [],
      revoked: 'no',
      token,
    };
    this.leases.push(lease);
    this.#expireAt(lease);
    send(res, 200, {
      request_id: randomBytes(8).toString('hex'),
      lease_id: lease.id,
      renewable: true,
      lease_duration: role.ttlSeconds,
      data: { access_key: user.accessKeyId, secret_key: user.secretAccessKey, security_token: null },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  }

  #issueDynamic(res: ServerResponse, path: string, token: string | undefined): void {
    this.counters.reads++;
    const engine = this.dynamicPaths.get(path)!;
    const now = Date.now();
    const lease: EmulatedLease = { id: `${path}/${randomBytes(12).toString('base64url')}`, role: path, accessKeyId: '', issuedAt: now, expiresAt: now + engine.ttlSeconds * 1000, renewals: [], revoked: 'no', token };
    this.leases.push(lease);
    this.#expireAt(lease);
    send(res, 200, { request_id: randomBytes(8).toString('hex'), lease_id: lease.id, renewable: true, lease_duration: engine.ttlSeconds, data: engine.mint() });
  }

  #roleOf(lease: EmulatedLease): AwsEngineRole {
    return this.dynamicPaths.get(lease.role) ?? this.awsRoles.get(lease.role)!;
  }

  /** https://developer.hashicorp.com/vault/api-docs/system/leases#renew-lease */
  #renewLease(res: ServerResponse, body: Record<string, unknown>): void {
    const lease = this.leases.find((l) => l.id === body['lease_id']);
    if (!lease || lease.revoked !== 'no') return send(res, 400, { errors: ['lease not found'] });
    const role = this.#roleOf(lease);
    const increment = typeof body['increment'] === 'number' ? body['increment'] : role.ttlSeconds;
    if (this.refuseRenewals) {
      lease.renewals.push({ increment, granted: 0 });
      return send(res, 400, { errors: ['lease is not renewable'] });
    }
    const now = Date.now();
    const maxEnd = lease.issuedAt + role.maxTtlSeconds * 1000;
    const end = Math.min(now + increment * 1000, maxEnd);
    const granted = Math.max(0, Math.floor((end - now) / 1000));
    lease.expiresAt = end;
    lease.renewals.push({ increment, granted });
    this.#expireAt(lease);
    send(res, 200, { request_id: randomBytes(8).toString('hex'), lease_id: lease.id, renewable: true, lease_duration: granted, data: null, warnings: null });
  }

  /** https://developer.hashicorp.com/vault/api-docs/system/leases#revoke-lease (204, also for an unknown lease). */
  #revokeLeaseCall(res: ServerResponse, body: Record<string, unknown>): void {
    if (typeof body['lease_id'] !== 'string') return send(res, 400, { errors: ['missing lease_id'] });
    this.revokeCalls.push(body['lease_id']);
    const lease = this.leases.find((l) => l.id === body['lease_id']);
    if (lease && lease.revoked === 'no') this.#endLease(lease, 'api');
    res.writeHead(204).end();
  }

  /** Vault revokes a lease when it expires: the IAM user goes with it. */
  #expireAt(lease: EmulatedLease): void {
    const timer = setTimeout(() => {
      this.#leaseTimers.delete(timer);
      if (lease.revoked === 'no' && Date.now() >= lease.expiresAt) this.#endLease(lease, 'expired');
    }, Math.max(0, lease.expiresAt - Date.now()) + 5);
    timer.unref();
    this.#leaseTimers.add(timer);
  }

  #endLease(lease: EmulatedLease, why: EmulatedLease['revoked']): void {
    lease.revoked = why;
    if (lease.accessKeyId !== '') this.#accounts?.revoke(lease.accessKeyId);
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
