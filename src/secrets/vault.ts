/**
 * `${vault:<path>#<field>}`: one field of a HashiCorp Vault KV secret, e.g.
 * `${vault:secret/data/openai/api-key#key}` (KV v2) or `${vault:kv/openai#key}` (KV v1). The KV
 * version is told from the answer's shape: v2 wraps the fields as `data.data` beside
 * `data.metadata` (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version),
 * v1 returns them as `data` (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v1#read-secret).
 *
 * Configured from the environment, as the `vault` CLI and Vault's client libraries are:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `VAULT_ADDR` | required; Vault's address, e.g. `https://vault.internal:8200` |
 * | `VAULT_NAMESPACE` | optional; Vault Enterprise namespace, sent as `X-Vault-Namespace` |
 * | `VAULT_TOKEN` | token auth: use this token |
 * | `VAULT_K8S_ROLE` | Kubernetes auth: the Vault role bound to the pod's service account |
 * | `VAULT_K8S_TOKEN_FILE` | Kubernetes auth: the JWT to present (default `/var/run/secrets/kubernetes.io/serviceaccount/token`, re-read on every login) |
 * | `VAULT_K8S_MOUNT` | Kubernetes auth: the auth mount (default `kubernetes`) |
 * | `VAULT_ROLE_ID` | AppRole auth: the role ID |
 * | `VAULT_SECRET_ID` / `VAULT_SECRET_ID_FILE` | AppRole auth: the secret ID, or a file holding it (re-read on every login) |
 * | `VAULT_CACERT` | optional; a PEM file of the CA certificate(s) that signed Vault's TLS certificate; trusted instead of the system CAs, as the `vault` CLI does |
 * | `VAULT_SKIP_VERIFY` | optional; `true`/`1`: do not verify Vault's TLS certificate (development only) |
 *
 * Exactly one method must be configured; two are refused rather than silently ranked.
 *
 * One client per process serves every reference, so the gateway logs in once. It remembers the
 * token's `lease_duration` and `renewable`, renews (`renew-self`) or logs in again once two
 * thirds of the lease have passed, and on a 403 logs in again once and retries. Values never
 * appear in errors or logs; errors name the reference.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { parseProblem, type SecretRef } from './ref.js';
import type { SecretStore } from './types.js';

export const DEFAULT_K8S_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const REQUEST_TIMEOUT_MS = 10_000;

export type VaultErrorCode = 'VAULT_CONFIG' | 'VAULT_BAD_REFERENCE' | 'VAULT_UNREACHABLE' | 'VAULT_HTTP' | 'VAULT_AUTH' | 'VAULT_FIELD_MISSING' | 'VAULT_BAD_ANSWER';

/** Every failure of the Vault store; `code` is stable, the message names a reference or path, never a value. */
export class VaultError extends Error {
  readonly code: VaultErrorCode;
  readonly status: number | undefined;
  constructor(code: VaultErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VaultError';
    this.code = code;
    this.status = options.status;
  }
}

export type VaultAuth =
  | { method: 'token'; token: string }
  | { method: 'kubernetes'; role: string; jwtFile: string; mount: string }
  | { method: 'approle'; roleId: string; secretId: { value: string } | { file: string } };

export interface VaultSettings {
  addr: string;
  namespace: string | undefined;
  auth: VaultAuth;
  /** Present only when VAULT_CACERT or VAULT_SKIP_VERIFY is set; otherwise the system CAs verify Vault. */
  tls?: { caFile: string | undefined; skipVerify: boolean };
}

/** TLS errors that mean "the certificate is not trusted" (node's / OpenSSL's codes). */
const UNTRUSTED_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Reads the settings from `env` (see the table above). */
export function vaultSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): VaultSettings {
  const get = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const addr = get('VAULT_ADDR');
  if (addr === undefined) throw new VaultError('VAULT_CONFIG', 'VAULT_ADDR is not set');
  const methods: VaultAuth[] = [];
  const token = get('VAULT_TOKEN');
  if (token !== undefined) methods.push({ method: 'token', token });
  const k8sRole = get('VAULT_K8S_ROLE');
  if (k8sRole !== undefined) {
    methods.push({ method: 'kubernetes', role: k8sRole, jwtFile: get('VAULT_K8S_TOKEN_FILE') ?? DEFAULT_K8S_TOKEN_FILE, mount: get('VAULT_K8S_MOUNT') ?? 'kubernetes' });
  }
  const roleId = get('VAULT_ROLE_ID');
  if (roleId !== undefined) {
    const value = get('VAULT_SECRET_ID');
    const file = get('VAULT_SECRET_ID_FILE');
    if (value === undefined && file === undefined) throw new VaultError('VAULT_CONFIG', 'VAULT_ROLE_ID is set but neither VAULT_SECRET_ID nor VAULT_SECRET_ID_FILE is');
    if (value !== undefined && file !== undefined) throw new VaultError('VAULT_CONFIG', 'set VAULT_SECRET_ID or VAULT_SECRET_ID_FILE, not both');
    methods.push({ method: 'approle', roleId, secretId: value !== undefined ? { value } : { file: file! } });
  }
  if (methods.length === 0) throw new VaultError('VAULT_CONFIG', 'no Vault auth method: set VAULT_TOKEN, VAULT_K8S_ROLE, or VAULT_ROLE_ID with VAULT_SECRET_ID(_FILE)');
  if (methods.length > 1) throw new VaultError('VAULT_CONFIG', `more than one Vault auth method is configured (${methods.map((m) => m.method).join(', ')}); set only one`);
  let origin: string;
  try {
    const url = new URL(addr);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    origin = url.origin;
  } catch (err) {
    throw new VaultError('VAULT_CONFIG', 'VAULT_ADDR must be an http(s) URL', { cause: err });
  }
  const caFile = get('VAULT_CACERT');
  const skip = get('VAULT_SKIP_VERIFY');
  if (skip !== undefined && !/^(true|false|1|0)$/i.test(skip)) throw new VaultError('VAULT_CONFIG', 'VAULT_SKIP_VERIFY must be true, false, 1 or 0');
  const skipVerify = skip !== undefined && /^(true|1)$/i.test(skip);
  const tls = caFile !== undefined || skipVerify ? { tls: { caFile, skipVerify } } : {};
  return { addr: origin, namespace: get('VAULT_NAMESPACE'), auth: methods[0]!, ...tls };
}

/** Splits `secret/data/openai#key` into the API path and the field. */
export function parseVaultPath(ref: SecretRef): { path: string; field: string } {
  const hash = ref.path.lastIndexOf('#');
  const path = hash < 0 ? '' : ref.path.slice(0, hash).replace(/^\/+|\/+$/g, '');
  const field = hash < 0 ? '' : ref.path.slice(hash + 1);
  if (path === '' || field === '') throw new VaultError('VAULT_BAD_REFERENCE', `${ref.raw}: expected \${vault:<path>#<field>}, e.g. \${vault:secret/data/openai#key}`);
  return { path, field };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Picks `field` out of a KV read answer, v2 (`data.data` + `data.metadata`) or v1 (`data`). */
export function fieldFromKvAnswer(body: unknown, field: string, ref: SecretRef): string {
  if (!isObject(body) || !isObject(body['data'])) throw new VaultError('VAULT_BAD_ANSWER', `${ref.raw}: Vault's answer has no data object`);
  const data = body['data'];
  const fields = isObject(data['data']) && isObject(data['metadata']) ? data['data'] : data;
  const value = fields[field];
  if (value === undefined || value === null) throw new VaultError('VAULT_FIELD_MISSING', `${ref.raw}: the secret has no field "${field}"`);
  if (typeof value !== 'string' || value === '') throw new VaultError('VAULT_FIELD_MISSING', `${ref.raw}: field "${field}" is not a non-empty string`);
  return value;
}

/** A lease on a dynamic secret as Vault issued it. `fields` are secret; the lease id is not shown either. */
export interface VaultLease {
  id: string;
  /** Every string field of the answer's `data` (e.g. `access_key`, `secret_key`, `security_token`). */
  fields: Record<string, string>;
  /** 0 when Vault gave none: the secret does not expire. */
  durationSeconds: number;
  renewable: boolean;
}

const leaseSeconds = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

interface Token {
  token: string;
  /** When to renew or log in again (ms since epoch); undefined: no expiry known. */
  refreshAt: number | undefined;
  renewable: boolean;
}

export interface VaultClientOptions {
  now?: () => number;
  timeoutMs?: number;
}

/** A logged-in Vault client; shared by every `${vault:...}` reference of the process. */
export class VaultClient {
  readonly settings: VaultSettings;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  #token: Token | undefined;
  /** undici's global dispatcher unless VAULT_CACERT / VAULT_SKIP_VERIFY ask for other TLS trust. */
  #dispatcher: Promise<Dispatcher | undefined> | undefined;
  #login: Promise<Token> | undefined;
  #renew: Promise<Token> | undefined;

  constructor(settings: VaultSettings, options: VaultClientOptions = {}) {
    this.settings = settings;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  /** Reads `${vault:path#field}`; logs in first if needed and once more after a 403. */
  async read(ref: SecretRef, signal?: AbortSignal): Promise<string> {
    const { path, field } = parseVaultPath(ref);
    const answer = await this.#authed('GET', `/v1/${path}`, undefined, signal);
    if (answer.status === 404) throw new VaultError('VAULT_HTTP', `${ref.raw}: no secret at ${path} (404)`, { status: 404 });
    if (answer.status !== 200) throw new VaultError(answer.status === 403 ? 'VAULT_AUTH' : 'VAULT_HTTP', `${ref.raw}: Vault answered ${answer.status}${vaultErrors(answer.body)}`, { status: answer.status });
    return fieldFromKvAnswer(answer.body, field, ref);
  }

  /**
   * Reads a secrets engine path that issues a lease (`aws/creds/<role>`, `database/creds/<role>`):
   * every field of the answer's `data`, with its lease.
   * https://developer.hashicorp.com/vault/api-docs/secret/aws#generate-credentials
   */
  async issueLease(path: string, signal?: AbortSignal): Promise<VaultLease> {
    const answer = await this.#authed('GET', `/v1/${path}`, undefined, signal);
    if (answer.status !== 200) throw new VaultError(answer.status === 403 ? 'VAULT_AUTH' : 'VAULT_HTTP', `${path}: Vault answered ${answer.status}${vaultErrors(answer.body)}`, { status: answer.status });
    const body = answer.body;
    if (!isObject(body) || !isObject(body['data']) || typeof body['lease_id'] !== 'string' || body['lease_id'] === '') {
      throw new VaultError('VAULT_BAD_ANSWER', `${path}: Vault's answer has no lease (is this a dynamic secrets engine path? KV secrets are read with \${vault:...})`);
    }
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(body['data'])) if (typeof value === 'string' && value !== '') fields[name] = value;
    return { id: body['lease_id'], fields, durationSeconds: leaseSeconds(body['lease_duration']), renewable: body['renewable'] === true };
  }

  /**
   * Asks Vault to extend a lease by `incrementSeconds`; the answer's duration may be shorter
   * (the role's max TTL). A refusal is a VaultError with the status.
   * https://developer.hashicorp.com/vault/api-docs/system/leases#renew-lease
   */
  async renewLease(leaseId: string, incrementSeconds: number, signal?: AbortSignal): Promise<{ durationSeconds: number; renewable: boolean }> {
    const answer = await this.#authed('PUT', '/v1/sys/leases/renew', { lease_id: leaseId, increment: incrementSeconds }, signal);
    if (answer.status !== 200) throw new VaultError(answer.status === 403 ? 'VAULT_AUTH' : 'VAULT_HTTP', `lease renewal refused: Vault answered ${answer.status}${vaultErrors(answer.body)}`, { status: answer.status });
    const body = isObject(answer.body) ? answer.body : {};
    return { durationSeconds: leaseSeconds(body['lease_duration']), renewable: body['renewable'] === true };
  }

  /** Revokes a lease now (the engine deletes the credential). https://developer.hashicorp.com/vault/api-docs/system/leases#revoke-lease */
  async revokeLease(leaseId: string, signal?: AbortSignal): Promise<void> {
    const answer = await this.#authed('PUT', '/v1/sys/leases/revoke', { lease_id: leaseId }, signal);
    if (answer.status !== 204 && answer.status !== 200) throw new VaultError(answer.status === 403 ? 'VAULT_AUTH' : 'VAULT_HTTP', `lease revocation refused: Vault answered ${answer.status}${vaultErrors(answer.body)}`, { status: answer.status });
  }

  /** One call with the current token; after a 403, logs in again once and retries (not with a static token). */
  async #authed(method: 'GET' | 'PUT', path: string, body: unknown, signal: AbortSignal | undefined): Promise<{ status: number; body: unknown }> {
    let token = await this.#currentToken(signal);
    let answer = await this.#call(method, path, body, token.token, signal);
    if (answer.status === 403 && this.settings.auth.method !== 'token') {
      token = await this.#relogin(token, signal);
      answer = await this.#call(method, path, body, token.token, signal);
    }
    return answer;
  }

  /** The method in use (for diagnostics). */
  get method(): VaultAuth['method'] {
    return this.settings.auth.method;
  }

  async #currentToken(signal: AbortSignal | undefined): Promise<Token> {
    const token = this.#token ?? (await this.#loginOnce(signal));
    if (token.refreshAt === undefined || this.#now() < token.refreshAt) return token;
    return this.#refresh(token, signal);
  }

  /** Renews a renewable token, falling back to a new login; concurrent callers share one attempt. */
  #refresh(token: Token, signal: AbortSignal | undefined): Promise<Token> {
    this.#renew ??= (async () => {
      if (token.renewable) {
        try {
          const answer = await this.#call('POST', '/v1/auth/token/renew-self', {}, token.token, signal);
          if (answer.status === 200) return this.#remember(answer.body);
        } catch {
          // Fall through to a new login; a login failure is the one reported.
        }
      }
      return this.#relogin(token, signal);
    })().finally(() => {
      this.#renew = undefined;
    });
    return this.#renew;
  }

  /** Logs in again unless someone already replaced `stale`. */
  #relogin(stale: Token, signal: AbortSignal | undefined): Promise<Token> {
    if (this.#token !== undefined && this.#token !== stale) return Promise.resolve(this.#token);
    return this.#loginOnce(signal, true);
  }

  #loginOnce(signal: AbortSignal | undefined, force = false): Promise<Token> {
    if (!force && this.#token) return Promise.resolve(this.#token);
    this.#login ??= this.#doLogin(signal).finally(() => {
      this.#login = undefined;
    });
    return this.#login;
  }

  async #doLogin(signal: AbortSignal | undefined): Promise<Token> {
    const auth = this.settings.auth;
    let path: string;
    let body: Record<string, string>;
    switch (auth.method) {
      case 'token':
        // A static token has nothing to log in with; its lifetime is whatever the operator gave it.
        this.#token = { token: auth.token, refreshAt: undefined, renewable: false };
        return this.#token;
      case 'kubernetes':
        path = `/v1/auth/${auth.mount}/login`;
        body = { role: auth.role, jwt: await readCredentialFile(auth.jwtFile, 'VAULT_K8S_TOKEN_FILE') };
        break;
      case 'approle':
        path = '/v1/auth/approle/login';
        body = { role_id: auth.roleId, secret_id: 'value' in auth.secretId ? auth.secretId.value : await readCredentialFile(auth.secretId.file, 'VAULT_SECRET_ID_FILE') };
        break;
      default: {
        const unknown: never = auth;
        throw new VaultError('VAULT_CONFIG', `unknown auth method ${String(unknown)}`);
      }
    }
    const answer = await this.#call('POST', path, body, undefined, signal);
    if (answer.status !== 200) throw new VaultError('VAULT_AUTH', `Vault ${auth.method} login failed: ${answer.status}${vaultErrors(answer.body)}`, { status: answer.status });
    return this.#remember(answer.body);
  }

  /** Stores the `auth` block of a login or renew answer. */
  #remember(body: unknown): Token {
    const auth = isObject(body) && isObject(body['auth']) ? body['auth'] : undefined;
    const token = auth?.['client_token'];
    if (typeof token !== 'string' || token === '') throw new VaultError('VAULT_BAD_ANSWER', 'Vault login answer has no auth.client_token');
    const lease = typeof auth!['lease_duration'] === 'number' ? auth!['lease_duration'] : 0;
    this.#token = {
      token,
      refreshAt: lease > 0 ? this.#now() + (lease * 1000 * 2) / 3 : undefined,
      renewable: auth!['renewable'] === true,
    };
    return this.#token;
  }

  async #call(method: 'GET' | 'POST' | 'PUT', path: string, body: unknown, token: string | undefined, signal: AbortSignal | undefined): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers['x-vault-token'] = token;
    if (this.settings.namespace !== undefined) headers['x-vault-namespace'] = this.settings.namespace;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const dispatcher = await this.#tlsDispatcher();
    let res;
    try {
      res = await request(this.settings.addr + path, {
        ...(dispatcher ? { dispatcher } : {}),
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal,
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err instanceof Error ? err.name : 'error');
      const hint = UNTRUSTED_CERT_CODES.has(code)
        ? this.settings.tls?.caFile !== undefined
          ? ` (Vault's TLS certificate is not signed by a CA in VAULT_CACERT ${this.settings.tls.caFile}, or does not name the host)`
          : " (Vault's TLS certificate is not trusted; set VAULT_CACERT to the PEM file of the CA that signed it)"
        : '';
      throw new VaultError('VAULT_UNREACHABLE', `cannot reach Vault at ${this.settings.addr}: ${code}${hint}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = await res.body.json();
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, body: parsed };
  }

  /** The dispatcher for VAULT_CACERT / VAULT_SKIP_VERIFY, built once (the CA file is read then). */
  #tlsDispatcher(): Promise<Dispatcher | undefined> {
    const tls = this.settings.tls;
    if (tls === undefined || !this.settings.addr.startsWith('https:')) return Promise.resolve(undefined);
    this.#dispatcher ??= (async () => {
      let ca: string | undefined;
      if (tls.caFile !== undefined) {
        try {
          ca = await readFile(tls.caFile, 'utf8');
        } catch (err) {
          throw new VaultError('VAULT_CONFIG', `cannot read VAULT_CACERT ${tls.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`, { cause: err });
        }
        if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new VaultError('VAULT_CONFIG', `VAULT_CACERT ${tls.caFile} holds no PEM certificate`);
      }
      return new Agent({ connect: { ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: !tls.skipVerify } });
    })();
    // A failed read is not cached: fixing the file fixes the next read.
    this.#dispatcher.catch(() => (this.#dispatcher = undefined));
    return this.#dispatcher;
  }
}

async function readCredentialFile(path: string, variable: string): Promise<string> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    if (text === '') throw new Error('empty');
    return text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'read error');
    throw new VaultError('VAULT_CONFIG', `cannot read ${variable} ${path}: ${code}`, { cause: err });
  }
}

/** Vault's `errors` array, which describes the failure (e.g. "permission denied"), never a value. */
function vaultErrors(body: unknown): string {
  const errors = isObject(body) && Array.isArray(body['errors']) ? body['errors'].filter((e): e is string => typeof e === 'string') : [];
  return errors.length === 0 ? '' : ` (${errors.join('; ').slice(0, 200)})`;
}

let shared: { key: string; client: VaultClient } | undefined;

/** The process's client, rebuilt only when the Vault environment changes. */
export function sharedVaultClient(env: NodeJS.ProcessEnv = process.env): VaultClient {
  const settings = vaultSettingsFromEnv(env);
  const key = JSON.stringify(settings);
  if (shared?.key !== key) shared = { key, client: new VaultClient(settings) };
  return shared.client;
}

export const vaultStore: SecretStore = {
  scheme: 'vault',
  validate: (ref) => parseProblem(() => parseVaultPath(ref)),
  read(ref, ctx) {
    return sharedVaultClient().read(ref, ctx.signal);
  },
};
