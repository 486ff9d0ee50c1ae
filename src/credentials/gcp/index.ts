import type { JWT } from 'google-auth-library';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import { RefreshingCredential, type CredentialSource, type FetchListener, type RefreshPolicy } from '../cache.js';
import type { Credential } from '../types.js';
import { GCP_SCOPE, type GcpAuth } from './schema.js';

export type BearerCredential = Extract<Credential, { type: 'bearer' }>;

export interface GcpCredentialContext {
  secrets: SecretResolver;
  scrubber: SecretScrubber;
  /** Relative `key_file` paths resolve against the config file's folder. */
  baseDir: string;
  onFetch: FetchListener;
  policy?: Partial<RefreshPolicy>;
}

/** The token endpoint google-auth-library's JWT grant is hard-wired to. */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Tokens without an expiry (never seen from Google) are refreshed after this long. */
const DEFAULT_TTL_MS = 3_600_000;

/**
 * A Google OAuth 2 access token for one Vertex instance, refreshed before expiry by RefreshingCredential.
 *
 * @example
 * const cred = gcpCredential({ type: 'service_account', key_file: 'sa.json' }, ctx);
 * await cred.prime();
 * applyHeaderCredential(req, await cred.get()); // Authorization: Bearer ya29...
 */
export function gcpCredential(auth: GcpAuth, ctx: GcpCredentialContext): RefreshingCredential<BearerCredential> {
  return new RefreshingCredential(gcpSource(auth, ctx), { onFetch: ctx.onFetch, ...(ctx.policy ? { policy: ctx.policy } : {}) });
}

/** `google-auth-library`, loaded on first use: gateways without Google-credential instances never load it. */
type Lib = typeof import('google-auth-library');
let library: Promise<Lib> | undefined;

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri: string;
}

/**
 * Parses a service account key JSON. Errors name the missing field only: the text is a private
 * key and must not reach logs or `config check`.
 */
export function parseServiceAccountKey(text: string, origin: string): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${origin}: not a JSON service account key`);
  }
  const o = (json ?? {}) as Record<string, unknown>;
  if (o['type'] !== undefined && o['type'] !== 'service_account') throw new Error(`${origin}: the key's type is ${JSON.stringify(String(o['type']).slice(0, 40))}, not service_account`);
  for (const field of ['client_email', 'private_key'] as const) {
    if (typeof o[field] !== 'string' || o[field] === '') throw new Error(`${origin}: the key has no ${field}`);
  }
  const tokenUri = typeof o['token_uri'] === 'string' && o['token_uri'] !== '' ? o['token_uri'] : GOOGLE_TOKEN_URL;
  try {
    const u = new URL(tokenUri);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw new Error(`${origin}: token_uri is not an http(s) URL`);
  }
  return { client_email: o['client_email'] as string, private_key: o['private_key'] as string, token_uri: tokenUri };
}

function gcpSource(auth: GcpAuth, ctx: GcpCredentialContext): CredentialSource<BearerCredential> {
  const secret = auth.type === 'service_account' && auth.key !== undefined ? ctx.secrets.handle(auth.key, auth.refresh_interval) : undefined;
  let previous: string | undefined;
  return {
    method: auth.type,
    async fetch(signal: AbortSignal): Promise<BearerCredential> {
      const lib = await (library ??= import('google-auth-library'));
      let token: { token: string; expiresAt: number };
      if (auth.type === 'service_account') {
        let key: ServiceAccountKey;
        if (secret !== undefined) {
          if (!secret.hasValue) await secret.refresh(signal);
          key = parseServiceAccountKey(secret.value!, 'service_account key');
        } else {
          const path = resolve(ctx.baseDir, auth.key_file!);
          key = parseServiceAccountKey(await readKeyFile(path, 'service_account key_file'), 'service_account key_file');
        }
        token = await jwtGrant(lib, key, signal);
      } else if (auth.type === 'external_account') {
        token = await externalAccount(lib, resolve(ctx.baseDir, auth.credentials_file));
      } else {
        token = await applicationDefault(lib, signal);
      }
      if (previous !== undefined && previous !== token.token) ctx.scrubber.delete(previous);
      ctx.scrubber.add(token.token);
      previous = token.token;
      return { type: 'bearer', token: token.token, expiresAt: token.expiresAt };
    },
  };
}

async function readKeyFile(path: string, origin: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${origin} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be read'}`);
  }
}

/**
 * The JWT bearer grant (RFC 7523) to the key's `token_uri`. google-auth-library posts to Google's
 * endpoint whatever the key says, so its transport is pointed at `token_uri` and the assertion's
 * audience set to it (what Google's other client libraries do).
 */
async function jwtGrant(lib: Lib, key: ServiceAccountKey, signal: AbortSignal): Promise<{ token: string; expiresAt: number }> {
  const transporter = new lib.gaxios.Gaxios();
  transporter.interceptors.request.add({
    resolved: async (options) => {
      if (String(options.url) === GOOGLE_TOKEN_URL) options.url = new URL(key.token_uri);
      options.signal = signal;
      // No retries inside a fetch: RefreshingCredential backs off and retries itself.
      options.retry = false;
      options.retryConfig = { ...options.retryConfig, retry: 0 };
      return options;
    },
  });
  // A new client per fetch: its own cache would answer a fetch that follows a 401 with the very
  // token Google just rejected; this cache is the only one.
  const client: JWT = new lib.JWT({ email: key.client_email, key: key.private_key, scopes: [GCP_SCOPE], additionalClaims: { aud: key.token_uri }, transporter });
  try {
    await client.authorize();
  } catch (err) {
    throw new Error(`service_account ${key.client_email}: ${describe(err)}`);
  }
  return fromCredentials(client.credentials);
}

/**
 * Application Default Credentials. A service account key in `GOOGLE_APPLICATION_CREDENTIALS`
 * takes the same path as `service_account` (honouring its `token_uri`); anything else
 * (authorized_user, external_account, the metadata server at `GCE_METADATA_HOST`) is
 * google-auth-library's own.
 */
async function applicationDefault(lib: Lib, signal: AbortSignal): Promise<{ token: string; expiresAt: number }> {
  const file = process.env['GOOGLE_APPLICATION_CREDENTIALS'];
  if (file) {
    const text = await readKeyFile(file, 'GOOGLE_APPLICATION_CREDENTIALS');
    let type: unknown;
    try {
      type = (JSON.parse(text) as Record<string, unknown>)['type'];
    } catch {
      throw new Error('GOOGLE_APPLICATION_CREDENTIALS: not a JSON credentials file');
    }
    if (type === 'service_account') return jwtGrant(lib, parseServiceAccountKey(text, 'GOOGLE_APPLICATION_CREDENTIALS'), signal);
  }
  try {
    const client = await new lib.GoogleAuth({ scopes: [GCP_SCOPE] }).getClient();
    await client.getAccessToken();
    return fromCredentials(client.credentials);
  } catch (err) {
    throw new Error(`default_credentials: ${describe(err)}`);
  }
}

/** Workload identity federation: google-auth-library's STS exchange of the subject token. */
async function externalAccount(lib: Lib, path: string): Promise<{ token: string; expiresAt: number }> {
  const text = await readKeyFile(path, 'external_account credentials_file');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error('external_account credentials_file: not JSON');
  }
  if (json['type'] !== 'external_account') throw new Error('external_account credentials_file: its type is not external_account');
  let client;
  try {
    client = lib.ExternalAccountClient.fromJSON({ ...(json as object), scopes: [GCP_SCOPE] } as Parameters<Lib['ExternalAccountClient']['fromJSON']>[0]);
  } catch (err) {
    throw new Error(`external_account credentials_file: ${describe(err)}`);
  }
  if (!client) throw new Error('external_account credentials_file: not a supported external account configuration');
  try {
    await client.getAccessToken();
  } catch (err) {
    throw new Error(`external_account: ${describe(err)}`);
  }
  return fromCredentials(client.credentials);
}

function fromCredentials(c: { access_token?: string | null; expiry_date?: number | null }): { token: string; expiresAt: number } {
  if (!c.access_token) throw new Error('no access token was returned');
  return { token: c.access_token, expiresAt: c.expiry_date ?? Date.now() + DEFAULT_TTL_MS };
}

/**
 * A fetch error without secrets: Google's `error` / `error_description` when the token endpoint
 * answered, else the error's code or class. gaxios messages can embed the request (the signed
 * assertion), so they are not passed on.
 */
function describe(err: unknown): string {
  const e = err as { response?: { status?: number; data?: unknown }; code?: unknown; name?: string };
  const data = e.response?.data as Record<string, unknown> | undefined;
  if (e.response?.status !== undefined) {
    const detail = data && typeof data === 'object' ? [data['error'], data['error_description']].filter((x) => typeof x === 'string').join(': ') : '';
    return `the token endpoint answered ${e.response.status}${detail ? ` (${detail.slice(0, 200)})` : ''}`;
  }
  if (typeof e.code === 'string') return `token request failed (${e.code})`;
  const msg = err instanceof Error ? err.message : String(err);
  // Library messages without a response (bad key format, no ADC found) name no secret, but are cut short anyway.
  return /PRIVATE KEY|eyJ/.test(msg) ? 'token request failed' : msg.slice(0, 300);
}
