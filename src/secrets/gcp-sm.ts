/**
 * `${gcp-sm:projects/<project>/secrets/<secret>[/versions/<version>]}`: one version of a Google
 * Secret Manager secret (default `latest`), e.g. `${gcp-sm:projects/prod-1/secrets/openai-key}`.
 * A regional secret is named with its location,
 * `${gcp-sm:projects/<project>/locations/<location>/secrets/<secret>[/versions/<version>]}`, and
 * read from that region's endpoint (`secretmanager.<location>.rep.googleapis.com`).
 *
 * Read with `GET https://secretmanager.googleapis.com/v1/<name>:access`
 * (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access);
 * the payload's `data` is base64, checked against its `dataCrc32c` when the answer has one, and
 * must be UTF-8 text. Authenticated as every Google client library is, with Application Default
 * Credentials, through the same code as Vertex instances (`cloud-identity/google.ts`):
 * `GOOGLE_APPLICATION_CREDENTIALS` (a service account key, whose `token_uri` is honoured, or an
 * external account file for workload identity federation), gcloud's application default
 * credentials, or the metadata server of GCE / GKE / Cloud Run (`GCE_METADATA_HOST` overrides it).
 * The principal needs `roles/secretmanager.secretAccessor` on the secret.
 * `CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER` (gcloud's endpoint override, e.g. a Private
 * Service Connect endpoint, or an emulator) replaces the endpoint for every reference.
 *
 * One token per process serves every reference, refreshed before it expires, and dropped when
 * Secret Manager answers 401 (one retry). The token is masked in the logs of every gateway that read with it (`ctx.scrubber`).
 * Errors name the reference, never a value.
 */
import { applicationDefaultToken } from '../cloud-identity/google.js';
import { CachedToken } from '../cloud-identity/cached-token.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { bearerRead, connectionProblem } from './bearer-read.js';
import { parseProblem, type SecretRef } from './ref.js';
import type { SecretStore } from './types.js';

export type GcpSmErrorCode = 'GCP_SM_BAD_REFERENCE' | 'GCP_SM_CONFIG' | 'GCP_SM_AUTH' | 'GCP_SM_UNREACHABLE' | 'GCP_SM_FAILED' | 'GCP_SM_BAD_ANSWER';

/** Every failure of the Secret Manager store; the message names the reference, never a value. */
export class GcpSmError extends Error {
  readonly code: GcpSmErrorCode;
  readonly status: number | undefined;
  constructor(code: GcpSmErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GcpSmError';
    this.code = code;
    this.status = options.status;
  }
}

export const ENDPOINT_OVERRIDE_ENV = 'CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER';

/** Project ids (https://cloud.google.com/resource-manager/docs/creating-managing-projects) or numbers. */
const PROJECT = /^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$/;
const LOCATION = /^[a-z]+(?:-[a-z0-9]+)+$/;
/** Secret ids: letters, digits, `-` and `_`, at most 255. */
const SECRET = /^[A-Za-z0-9_-]{1,255}$/;
/** `latest`, a version number, or a version alias. */
const VERSION = /^(?:latest|[1-9][0-9]*|[A-Za-z][A-Za-z0-9_-]{0,62})$/;
const NAME = /^projects\/([^/]+)\/(?:locations\/([^/]+)\/)?secrets\/([^/]+)(?:\/versions\/([^/]+))?$/;

export interface GcpSmName {
  /** The version's resource name, e.g. `projects/p/secrets/s/versions/latest`. */
  name: string;
  project: string;
  location: string | undefined;
}

/** Checks a reference and names the version it reads. */
export function parseGcpSmPath(ref: SecretRef): GcpSmName {
  const bad = (why: string) =>
    new GcpSmError('GCP_SM_BAD_REFERENCE', `${ref.raw}: ${why}; expected \${gcp-sm:projects/<project>/secrets/<secret>[/versions/<version>]}, e.g. \${gcp-sm:projects/prod-1/secrets/openai-key}`);
  const m = NAME.exec(ref.path.trim());
  if (!m) throw bad('not a secret name');
  const [, project, location, secret, version = 'latest'] = m;
  if (!PROJECT.test(project!)) throw bad(`"${project}" is not a project id or number`);
  if (location !== undefined && !LOCATION.test(location)) throw bad(`"${location}" is not a location`);
  if (!SECRET.test(secret!)) throw bad(`"${secret}" is not a secret id (letters, digits, - and _)`);
  if (!VERSION.test(version)) throw bad(`"${version}" is not a version (latest, a number or an alias)`);
  const parent = location === undefined ? `projects/${project}` : `projects/${project}/locations/${location}`;
  return { name: `${parent}/secrets/${secret}/versions/${version}`, project: project!, location };
}

/** The `:access` URL of `name`: the override, the regional endpoint, or the global one. */
export function accessUrl(parsed: GcpSmName, env: NodeJS.ProcessEnv = process.env): string {
  const override = env[ENDPOINT_OVERRIDE_ENV];
  let base: string;
  if (override !== undefined && override !== '') {
    let url: URL;
    try {
      url = new URL(override);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    } catch (err) {
      throw new GcpSmError('GCP_SM_CONFIG', `${ENDPOINT_OVERRIDE_ENV} must be an http(s) URL`, { cause: err });
    }
    // gcloud's override is the API root, with or without its version.
    base = `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '')}`;
  } else {
    base = parsed.location === undefined ? 'https://secretmanager.googleapis.com' : `https://secretmanager.${parsed.location}.rep.googleapis.com`;
  }
  return `${base}/v1/${parsed.name}:access`;
}

let google: { key: string; token: CachedToken } | undefined;

/** What Application Default Credentials are found from: a change makes a new token. */
const ADC_ENV = ['GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG', 'GCE_METADATA_HOST', 'GCE_METADATA_IP'];

/** The process's Google token, shared by every reference. */
function googleToken(project: string, env: NodeJS.ProcessEnv): CachedToken {
  const key = JSON.stringify(ADC_ENV.map((k) => env[k]));
  if (google?.key !== key) google = { key, token: new CachedToken((signal) => applicationDefaultToken(signal, project)) };
  return google.token;
}

/** Reads one reference: the version's payload as text. */
export async function readGcpSm(ref: SecretRef, signal: AbortSignal = AbortSignal.timeout(30_000), env: NodeJS.ProcessEnv = process.env, scrubber?: SecretScrubber): Promise<string> {
  const parsed = parseGcpSmPath(ref);
  let url: string;
  try {
    url = accessUrl(parsed, env);
  } catch (err) {
    throw new GcpSmError('GCP_SM_CONFIG', `${ref.raw}: ${(err as Error).message}`, { cause: err });
  }
  const tokens = googleToken(parsed.project, env);
  if (scrubber) tokens.maskIn(scrubber);
  const got = await bearerRead(url, tokens, signal);
  // cloud-identity's messages name the credential source and Google's error code, never a key.
  if (got.kind === 'no_token') throw new GcpSmError('GCP_SM_AUTH', `${ref.raw}: no Google access token: ${got.error instanceof Error ? got.error.message : String(got.error)}`, { cause: got.error });
  if (got.kind === 'unreachable') throw new GcpSmError('GCP_SM_UNREACHABLE', `${ref.raw}: Secret Manager at ${new URL(url).origin} could not be reached: ${connectionProblem(got.error)}`, { cause: got.error });
  if (got.status !== 200) throw new GcpSmError('GCP_SM_FAILED', `${ref.raw}: Secret Manager answered ${got.status}${googleError(got.text)}`, { status: got.status });
  return payloadText(got.text, ref);
}

/** `: STATUS: message` from Google's error body (it describes the request, never a value). */
function googleError(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: { status?: unknown; message?: unknown } }).error;
    const parts = [e?.status, e?.message].filter((p): p is string => typeof p === 'string' && p !== '');
    return parts.length > 0 ? ` ${parts.join(': ').slice(0, 300)}` : '';
  } catch {
    return '';
  }
}

function payloadText(text: string, ref: SecretRef): string {
  const bad = (why: string) => new GcpSmError('GCP_SM_BAD_ANSWER', `${ref.raw}: ${why}`);
  let payload: { data?: unknown; dataCrc32c?: unknown } | undefined;
  try {
    payload = (JSON.parse(text) as { payload?: { data?: unknown; dataCrc32c?: unknown } }).payload;
  } catch {
    throw bad('the answer is not JSON');
  }
  if (typeof payload?.data !== 'string') throw bad('the answer has no payload.data');
  const bytes = Buffer.from(payload.data, 'base64');
  // Google asks clients to check the checksum (https://cloud.google.com/secret-manager/docs/data-integrity).
  if (payload.dataCrc32c !== undefined && String(payload.dataCrc32c) !== String(crc32c(bytes))) throw bad('the payload does not match its dataCrc32c checksum');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('the payload is not UTF-8 text (binary secrets are not supported)');
  }
}

const CRC32C_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32C (Castagnoli), the checksum Secret Manager sends as `dataCrc32c`. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const gcpSmStore: SecretStore = {
  scheme: 'gcp-sm',
  validate: (ref) => parseProblem(() => parseGcpSmPath(ref)),
  read(ref, ctx) {
    return readGcpSm(ref, ctx.signal, process.env, ctx.scrubber);
  },
};
