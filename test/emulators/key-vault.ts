import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ENTRA_TOKENS } from './entra.js';

/**
 * Azure Key Vault emulator (secrets only), served over https on 127.0.0.1 with a self-signed
 * certificate (the test sets `NODE_TLS_REJECT_UNAUTHORIZED=0`, as for the Entra emulator).
 * `GET /secrets/{name}[/{version}]?api-version=…` with Key Vault's challenge-based auth: a
 * request without a valid Bearer token gets 401 and
 * `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="https://vault.azure.net"`,
 * which the SDK answers with an Entra token (checked against {@link ENTRA_TOKENS}). Secrets have
 * versions (`set` adds a current one); unknown secrets get 404 `SecretNotFound`; principals can be
 * refused with 403 `Forbidden`; `down` drops every connection.
 * https://learn.microsoft.com/en-us/rest/api/keyvault/secrets/get-secret/get-secret
 */
const KV_TEST_CERT = `
-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUZ1YC7xDfGpRBJBgwRel8JSYDdggwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzEzNDczN1oYDzIxMjYxMDMw
MTM0NzM3WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATWLhEMoKVd/BV+zzSux2m3C1zaKUmJUCOFfkhVaTLS1oxGGfP/3RbW
P55ZyGu5VOCpAv4Xrz9vfKpYlAjU08Cio28wbTAdBgNVHQ4EFgQUBTrJ+X8dcDyL
y06nsz4cGAiSi4UwHwYDVR0jBBgwFoAUBTrJ+X8dcDyLy06nsz4cGAiSi4UwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSQAwRgIhAOysajdDybYwr4frQPZP6uQohYW1lyeS1+dowuCkhcJAAiEA
kR7HSQUF80D0AxojnvbqrL0TjT8OeUbAKePkNQa7zNM=
-----END CERTIFICATE-----
`;

const KV_TEST_KEY = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8lG3SF25nnGFBWYN
a6VDQjXBVDwGdFMHuRIx0b9IjOKhRANCAATWLhEMoKVd/BV+zzSux2m3C1zaKUmJ
UCOFfkhVaTLS1oxGGfP/3RbWP55ZyGu5VOCpAv4Xrz9vfKpYlAjU08Ci
-----END PRIVATE KEY-----
`;

export class KeyVaultEmulator {
  /** The authority (Entra emulator URL) and tenant named in the challenge. */
  readonly authority: string;
  readonly tenant: string;
  /** While true, every connection is dropped without an answer. */
  down = false;
  /** Tokens refused with 403 (as Key Vault answers a principal without `get` permission). */
  readonly forbiddenTokens = new Set<string>();
  readonly counters = { requests: 0, challenges: 0, reads: 0 };
  /** Every request: the path and the bearer token it carried, if any. */
  readonly log: Array<{ method: string; path: string; token: string | undefined }> = [];
  readonly #secrets = new Map<string, Array<{ version: string; value: string; created: number }>>();
  #server: Server | undefined;

  constructor(options: { authority: string; tenant: string }) {
    this.authority = options.authority;
    this.tenant = options.tenant;
  }

  /** Kept from start: a request still being answered while the server closes must not find it gone. */
  #url: string | undefined;

  get url(): string {
    if (this.#url === undefined) throw new Error('the Key Vault emulator is not started');
    return this.#url;
  }

  async start(): Promise<this> {
    this.#server = createServer({ cert: KV_TEST_CERT, key: KV_TEST_KEY }, (req, res) => void this.#dispatch(req, res));
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.#url = `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }

  /** Adds a new current version of `name`; returns the version id. */
  set(name: string, value: string): string {
    const versions = this.#secrets.get(name) ?? [];
    const version = randomBytes(16).toString('hex');
    versions.push({ version, value, created: Math.floor(Date.now() / 1000) });
    this.#secrets.set(name, versions);
    return version;
  }

  versions(name: string): number {
    return this.#secrets.get(name)?.length ?? 0;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down) {
      req.socket.destroy();
      return;
    }
    for await (const chunk of req as AsyncIterable<Buffer>) void chunk;
    this.counters.requests++;
    const url = new URL(req.url ?? '/', 'https://kv');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-ms-request-id': randomBytes(8).toString('hex'), ...headers });
      res.end(text);
    };
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    this.log.push({ method: req.method ?? 'GET', path: url.pathname, token });
    const expiry = token === undefined ? undefined : ENTRA_TOKENS.get(token);
    if (expiry === undefined || expiry <= Date.now()) {
      this.counters.challenges++;
      return send(401, { error: { code: 'Unauthorized', message: token === undefined ? 'AKV10000: Request is missing a Bearer or PoP token.' : 'AKV10032: Invalid issuer or token.' } }, {
        'www-authenticate': `Bearer authorization="${this.authority}/${this.tenant}", resource="https://vault.azure.net"`,
      });
    }
    if (url.searchParams.get('api-version') === null) return send(400, { error: { code: 'BadParameter', message: 'The request URI contains an invalid API version.' } });
    if (this.forbiddenTokens.has(token!)) {
      return send(403, { error: { code: 'Forbidden', message: `The user, group or application does not have secrets get permission on key vault. Vault: emulator`, innererror: { code: 'AccessDenied' } } });
    }
    const m = /^\/secrets\/([0-9A-Za-z-]+)\/?([0-9a-f]*)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return send(404, { error: { code: 'NotFound', message: 'Operation not supported.' } });
    const versions = this.#secrets.get(m[1]!) ?? [];
    const found = m[2] ? versions.find((v) => v.version === m[2]) : versions[versions.length - 1];
    if (!found) return send(404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${m[1]}${m[2] ? `/${m[2]}` : ''} was not found in this key vault.` } });
    this.counters.reads++;
    send(200, {
      value: found.value,
      id: `${this.url}/secrets/${m[1]}/${found.version}`,
      attributes: { enabled: true, created: found.created, updated: found.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
      tags: {},
    });
  }
}
