/**
 * How the gateway obtains a Google OAuth 2 access token for the cloud-platform scope, shared by
 * Vertex instances (`credentials/gcp/`) and `${gcp-sm:...}` secret references (`secrets/`): a
 * service account key (JWT bearer grant to its `token_uri`), an external account (workload
 * identity federation), or Application Default Credentials (the `GOOGLE_APPLICATION_CREDENTIALS`
 * file, gcloud's file, or the metadata server, which `GCE_METADATA_HOST` overrides). One login
 * path: both users call these functions. Nothing here caches a token; callers do.
 */
import type { JWT } from 'google-auth-library';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The OAuth 2 scope every Google token of the gateway is asked for. */
export const GCP_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** The token endpoint google-auth-library's JWT grant is hard-wired to. */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Tokens without an expiry (never seen from Google) are refreshed after this long. */
const DEFAULT_TTL_MS = 3_600_000;

/** An access token and when it expires (epoch ms). */
export interface GoogleToken {
  token: string;
  expiresAt: number;
}

/** `google-auth-library`, loaded on first use: gateways that never talk to Google never load it. */
type Lib = typeof import('google-auth-library');
let library: Promise<Lib> | undefined;

function loadLibrary(): Promise<Lib> {
  return (library ??= import('google-auth-library'));
}

/** A token for a service account key (its JWT bearer grant goes to the key's `token_uri`). */
export async function serviceAccountToken(key: ServiceAccountKey, signal: AbortSignal): Promise<GoogleToken> {
  return jwtGrant(await loadLibrary(), key, signal);
}

/** A token from Application Default Credentials; `project` spares ADC its project discovery. */
export async function applicationDefaultToken(signal: AbortSignal, project?: string): Promise<GoogleToken> {
  return applicationDefault(await loadLibrary(), signal, project);
}

/** A token from an `external_account` credentials file (workload identity federation). */
export async function externalAccountToken(path: string): Promise<GoogleToken> {
  return externalAccount(await loadLibrary(), path);
}

export interface ServiceAccountKey {
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

export async function readKeyFile(path: string, origin: string): Promise<string> {
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
async function jwtGrant(lib: Lib, key: ServiceAccountKey, signal: AbortSignal): Promise<GoogleToken> {
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
 * Application Default Credentials. A service account key in the ADC file (see {@link adcFile})
 * takes the same path as `service_account` (honouring its `token_uri`), and an authorized_user
 * file's `token_uri` is honoured too; the rest is google-auth-library's own: the file's
 * client (authorized_user, external_account), or, without a file, the metadata server of GCE / GKE / Cloud Run (`GCE_METADATA_HOST` overrides
 * `metadata.google.internal`), whose `service-accounts/default/token` is asked for the
 * cloud-platform scope.
 */
async function applicationDefault(lib: Lib, signal: AbortSignal, project: string | undefined): Promise<GoogleToken> {
  const adc = adcFile();
  let tokenUri: string | undefined;
  if (adc !== undefined) {
    const text = await readKeyFile(adc.path, adc.origin);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`${adc.origin}: not a JSON credentials file`);
    }
    if (json['type'] === 'service_account') return jwtGrant(lib, parseServiceAccountKey(text, adc.origin), signal);
    // `gcloud auth application-default login` writes an authorized_user file; its refresh token
    // grant goes to the file's `token_uri` when it names one (google-auth-library would always
    // use Google's endpoint).
    if (json['type'] === 'authorized_user' && typeof json['token_uri'] === 'string' && /^https?:\/\//.test(json['token_uri'])) tokenUri = json['token_uri'];
  }
  try {
    // A new GoogleAuth per fetch: it caches the client it found, and that client its token.
    const client = await new lib.GoogleAuth({
      scopes: [GCP_SCOPE],
      ...(project !== undefined ? { projectId: project } : {}),
      ...(tokenUri !== undefined ? { clientOptions: { endpoints: { oauth2TokenUrl: tokenUri } } } : {}),
    }).getClient();
    await client.getAccessToken();
    return fromCredentials(client.credentials);
  } catch (err) {
    // gcp-metadata remembers its first probe of the metadata server for the process's life, a
    // failed one included: forget it, so that a metadata server that was briefly unreachable
    // (a node starting up) is found at the next attempt instead of never.
    lib.gcpMetadata.resetIsAvailableCache();
    throw new Error(`default_credentials: ${describe(err)}`);
  }
}

/**
 * The credentials file ADC would use, as google-auth-library finds it:
 * `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's `application_default_credentials.json` in
 * `$CLOUDSDK_CONFIG` or `~/.config/gcloud` (`%APPDATA%\gcloud` on Windows) if it exists.
 */
function adcFile(): { path: string; origin: string } | undefined {
  const explicit = process.env['GOOGLE_APPLICATION_CREDENTIALS'];
  if (explicit) return { path: explicit, origin: 'GOOGLE_APPLICATION_CREDENTIALS' };
  const home = process.platform === 'win32' ? (process.env['APPDATA'] ? join(process.env['APPDATA'], 'gcloud') : undefined) : process.env['HOME'] ? join(process.env['HOME'], '.config', 'gcloud') : undefined;
  const dir = process.env['CLOUDSDK_CONFIG'] || home;
  if (dir === undefined) return undefined;
  const path = join(dir, 'application_default_credentials.json');
  return existsSync(path) ? { path, origin: 'gcloud application_default_credentials.json' } : undefined;
}

/** Workload identity federation: google-auth-library's STS exchange of the subject token. */
async function externalAccount(lib: Lib, path: string): Promise<GoogleToken> {
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

function fromCredentials(c: { access_token?: string | null; expiry_date?: number | null }): GoogleToken {
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
