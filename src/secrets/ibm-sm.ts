/**
 * `${ibm-sm:<instance-url>/<secret-id>[#<field>]}`: an IBM Cloud Secrets Manager secret, e.g.
 * `${ibm-sm:https://0123abcd.eu-de.secrets-manager.appdomain.cloud/6c9a1e52-0d4a-4c3b-9e9f-3f1b2a7d5e11}`.
 * Read with `GET <instance-url>/api/v2/secrets/<id>`
 * (https://cloud.ibm.com/apidocs/secrets-manager/secrets-manager-v2#get-secret). Without a
 * field, an `arbitrary` secret gives its `payload` and an `iam_credentials` secret its `api_key`;
 * `#field` names another field (`username` / `password` of a `username_password` secret,
 * `certificate` / `private_key` of a certificate, a key of a `kv` secret's `data`).
 *
 * Authenticated with an IAM access token, exchanged by the same code as watsonx instances
 * (`cloud-identity/ibm-iam.ts`), configured from the environment as IBM's own SDKs configure a
 * `secrets_manager` client:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `SECRETS_MANAGER_AUTH_TYPE` | `iam` (an API key; the default when `SECRETS_MANAGER_APIKEY` is set) or `container` (a trusted profile) |
 * | `SECRETS_MANAGER_APIKEY` | `iam`: the API key |
 * | `SECRETS_MANAGER_IAM_PROFILE_ID` / `SECRETS_MANAGER_IAM_PROFILE_NAME` | `container`: the trusted profile (a name needs `SECRETS_MANAGER_IAM_ACCOUNT_ID`) |
 * | `SECRETS_MANAGER_CR_TOKEN_FILENAME` | `container`: the compute-resource token file (default: IBM's locations on IKS / Code Engine) |
 * | `SECRETS_MANAGER_AUTH_URL` | IAM's base URL (default `https://iam.cloud.ibm.com`; a private endpoint, a test) |
 *
 * The principal needs the SecretsReader service role on the secret (or its group). The instance
 * URL must be https (http only on loopback, for emulators). One token per set of settings serves
 * every reference, refreshed before it expires and dropped when Secrets Manager answers 401 (one
 * retry). The token is masked in the logs of every gateway that read with it (`ctx.scrubber`).
 * Errors name the reference, never a value.
 */
import { CachedToken } from '../cloud-identity/cached-token.js';
import { APIKEY_GRANT, CR_TOKEN_GRANT, DEFAULT_CR_TOKEN_FILES, DEFAULT_IAM_URL, IamTokenSource, readCrToken, type IamGrant } from '../cloud-identity/ibm-iam.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { bearerRead, connectionProblem } from './bearer-read.js';
import { parseProblem, type SecretRef } from './ref.js';
import type { SecretStore } from './types.js';

export type IbmSmErrorCode = 'IBM_SM_BAD_REFERENCE' | 'IBM_SM_CONFIG' | 'IBM_SM_AUTH' | 'IBM_SM_UNREACHABLE' | 'IBM_SM_FAILED' | 'IBM_SM_FIELD_MISSING' | 'IBM_SM_BAD_ANSWER';

/** Every failure of the Secrets Manager store; the message names the reference, never a value. */
export class IbmSmError extends Error {
  readonly code: IbmSmErrorCode;
  readonly status: number | undefined;
  constructor(code: IbmSmErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IbmSmError';
    this.code = code;
    this.status = options.status;
  }
}

/** Secret ids are UUIDs. */
const SECRET_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const FIELD = /^[A-Za-z0-9_.-]{1,128}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** The field a secret type gives when the reference names none. */
const DEFAULT_FIELD: Readonly<Record<string, string>> = { arbitrary: 'payload', iam_credentials: 'api_key' };

export interface IbmSmPath {
  /** The instance's base URL, without a trailing slash. */
  instance: string;
  id: string;
  field: string | undefined;
}

/** Splits `https://<instance>/<id>#field` into its parts. */
export function parseIbmSmPath(ref: SecretRef): IbmSmPath {
  const bad = (why: string) =>
    new IbmSmError('IBM_SM_BAD_REFERENCE', `${ref.raw}: ${why}; expected \${ibm-sm:https://<instance-id>.<region>.secrets-manager.appdomain.cloud/<secret-id>[#<field>]}`);
  const text = ref.path.trim();
  const hash = text.lastIndexOf('#');
  const field = hash < 0 ? undefined : text.slice(hash + 1);
  if (field !== undefined && !FIELD.test(field)) throw bad(`"#${field}" is not a field name`);
  let url: URL;
  try {
    url = new URL(hash < 0 ? text : text.slice(0, hash));
  } catch {
    throw bad('not a URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) throw bad('the instance URL must be https');
  if (url.search !== '' || url.username !== '' || url.password !== '') throw bad('the instance URL takes no query or credentials');
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const id = segments.pop();
  if (id === undefined || !SECRET_ID.test(id)) throw bad('the last path segment must be the secret id (a UUID)');
  const prefix = segments.length > 0 ? `/${segments.join('/')}` : '';
  return { instance: `${url.origin}${prefix}`, id, field };
}

interface IbmSmAuth {
  method: 'iam' | 'container';
  iamUrl: string;
  grant: IamGrant;
}

/** The IAM settings from the environment (see the table above). */
export function ibmSmAuthFromEnv(env: NodeJS.ProcessEnv = process.env): IbmSmAuth {
  const get = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const apiKey = get('SECRETS_MANAGER_APIKEY');
  const type = (get('SECRETS_MANAGER_AUTH_TYPE') ?? (apiKey !== undefined ? 'iam' : undefined))?.toLowerCase();
  const iamUrl = (get('SECRETS_MANAGER_AUTH_URL') ?? DEFAULT_IAM_URL).replace(/\/+$/, '').replace(/\/identity\/token$/, '');
  try {
    const u = new URL(iamUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
  } catch (err) {
    throw new IbmSmError('IBM_SM_CONFIG', 'SECRETS_MANAGER_AUTH_URL must be an http(s) URL', { cause: err });
  }
  switch (type) {
    case 'iam': {
      if (apiKey === undefined) throw new IbmSmError('IBM_SM_CONFIG', 'SECRETS_MANAGER_AUTH_TYPE is iam but SECRETS_MANAGER_APIKEY is not set');
      return { method: 'iam', iamUrl, grant: { grantType: APIKEY_GRANT, params: async () => ({ apikey: apiKey }) } };
    }
    case 'container':
    case 'crauth': {
      const id = get('SECRETS_MANAGER_IAM_PROFILE_ID');
      const name = get('SECRETS_MANAGER_IAM_PROFILE_NAME');
      const account = get('SECRETS_MANAGER_IAM_ACCOUNT_ID');
      if ((id === undefined) === (name === undefined)) throw new IbmSmError('IBM_SM_CONFIG', 'container auth needs exactly one of SECRETS_MANAGER_IAM_PROFILE_ID and SECRETS_MANAGER_IAM_PROFILE_NAME');
      if (name !== undefined && account === undefined) throw new IbmSmError('IBM_SM_CONFIG', 'SECRETS_MANAGER_IAM_PROFILE_NAME needs SECRETS_MANAGER_IAM_ACCOUNT_ID');
      const file = get('SECRETS_MANAGER_CR_TOKEN_FILENAME');
      const files = file !== undefined ? [file] : DEFAULT_CR_TOKEN_FILES;
      const profile: Record<string, string> = id !== undefined ? { profile_id: id } : { profile_name: name!, account_id: account! };
      return { method: 'container', iamUrl, grant: { grantType: CR_TOKEN_GRANT, params: async () => ({ cr_token: await readCrToken(files), ...profile }) } };
    }
    case undefined:
      throw new IbmSmError('IBM_SM_CONFIG', 'no IBM Cloud credentials for ${ibm-sm:...}: set SECRETS_MANAGER_APIKEY, or SECRETS_MANAGER_AUTH_TYPE=container with SECRETS_MANAGER_IAM_PROFILE_ID');
    default:
      throw new IbmSmError('IBM_SM_CONFIG', `SECRETS_MANAGER_AUTH_TYPE must be iam or container, not "${type.slice(0, 40)}"`);
  }
}

const AUTH_ENV = ['SECRETS_MANAGER_AUTH_TYPE', 'SECRETS_MANAGER_APIKEY', 'SECRETS_MANAGER_IAM_PROFILE_ID', 'SECRETS_MANAGER_IAM_PROFILE_NAME', 'SECRETS_MANAGER_IAM_ACCOUNT_ID', 'SECRETS_MANAGER_CR_TOKEN_FILENAME', 'SECRETS_MANAGER_AUTH_URL'];
let shared: { key: string; token: CachedToken } | undefined;

/** The process's IAM token, rebuilt only when its settings change. */
function iamToken(env: NodeJS.ProcessEnv): CachedToken {
  const key = JSON.stringify(AUTH_ENV.map((k) => env[k]));
  if (shared?.key !== key) {
    const auth = ibmSmAuthFromEnv(env);
    // The scrubber of IamTokenSource is its own: store errors never carry the token, and the
    // resolver masks the values read, not the credentials used to read them.
    const source = new IamTokenSource(auth.method, { origin: auth.iamUrl, basePath: '' }, auth.grant, new SecretScrubber());
    shared = { key, token: new CachedToken((signal) => source.fetch(signal)) };
  }
  return shared.token;
}

/** Reads one reference: the field it names of the secret's current version. */
export async function readIbmSm(ref: SecretRef, signal: AbortSignal = AbortSignal.timeout(30_000), env: NodeJS.ProcessEnv = process.env, scrubber?: SecretScrubber): Promise<string> {
  const { instance, id, field } = parseIbmSmPath(ref);
  let tokens: CachedToken;
  try {
    tokens = iamToken(env);
  } catch (err) {
    throw new IbmSmError('IBM_SM_CONFIG', `${ref.raw}: ${(err as Error).message}`, { cause: err });
  }
  if (scrubber) tokens.maskIn(scrubber);
  const url = `${instance}/api/v2/secrets/${id}`;
  const got = await bearerRead(url, tokens, signal);
  // IamError messages carry IAM's code and message, never the API key or CR token.
  if (got.kind === 'no_token') throw new IbmSmError('IBM_SM_AUTH', `${ref.raw}: no IAM token: ${got.error instanceof Error ? got.error.message : String(got.error)}`, { cause: got.error });
  if (got.kind === 'unreachable') throw new IbmSmError('IBM_SM_UNREACHABLE', `${ref.raw}: Secrets Manager at ${new URL(instance).origin} could not be reached: ${connectionProblem(got.error)}`, { cause: got.error });
  if (got.status !== 200) throw new IbmSmError('IBM_SM_FAILED', `${ref.raw}: Secrets Manager answered ${got.status}${ibmError(got.text)}`, { status: got.status });
  return fieldOf(got.text, field, ref);
}

/** ` code: message` of IBM's error body (`{errors: [{code, message}], status_code, trace}`). */
function ibmError(text: string): string {
  try {
    const first = (JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors?.[0];
    const parts = [first?.code, first?.message].filter((p): p is string => typeof p === 'string' && p !== '');
    return parts.length > 0 ? ` ${parts.join(': ').slice(0, 300)}` : '';
  } catch {
    return '';
  }
}

function fieldOf(text: string, field: string | undefined, ref: SecretRef): string {
  let secret: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    secret = parsed as Record<string, unknown>;
  } catch {
    throw new IbmSmError('IBM_SM_BAD_ANSWER', `${ref.raw}: the answer is not a JSON secret`);
  }
  const type = typeof secret['secret_type'] === 'string' ? secret['secret_type'] : 'unknown';
  const name = field ?? DEFAULT_FIELD[type];
  if (name === undefined) throw new IbmSmError('IBM_SM_FIELD_MISSING', `${ref.raw}: a ${type} secret has several fields; name one, e.g. #password`);
  const data = secret['data'];
  let value = secret[name];
  // A kv secret keeps its keys in `data`.
  if (value === undefined && typeof data === 'object' && data !== null && !Array.isArray(data)) value = (data as Record<string, unknown>)[name];
  if (value === undefined || value === null) throw new IbmSmError('IBM_SM_FIELD_MISSING', `${ref.raw}: the ${type} secret has no field "${name}"`);
  if (typeof value !== 'string' || value === '') throw new IbmSmError('IBM_SM_FIELD_MISSING', `${ref.raw}: field "${name}" of the ${type} secret is not a non-empty string`);
  return value;
}

export const ibmSmStore: SecretStore = {
  scheme: 'ibm-sm',
  validate: (ref) => parseProblem(() => parseIbmSmPath(ref)),
  read(ref, ctx) {
    return readIbmSm(ref, ctx.signal, process.env, ctx.scrubber);
  },
};
