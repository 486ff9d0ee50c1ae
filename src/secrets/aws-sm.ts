/**
 * `${aws-sm:<secret-id>#<field>}`: an AWS Secrets Manager secret, e.g. `${aws-sm:prod/openai}`
 * (the whole `SecretString`) or `${aws-sm:prod/openai#api_key}` (one field of a JSON
 * `SecretString`). The secret id may be a name or an ARN; the field is what follows the last `#`.
 *
 * Configured as every AWS SDK client is: credentials from the default provider chain
 * (environment, shared config/SSO, web identity, container, IMDS), region from `AWS_REGION`,
 * and the endpoint overridable with `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or `AWS_ENDPOINT_URL`).
 * The SDK is loaded only when an `aws-sm` reference is first read. One client per process
 * (per region) serves every reference. Errors name the reference, never a value.
 */
import { parseProblem, type SecretRef } from './ref.js';
import type { SecretStore } from './types.js';

export type AwsSmErrorCode = 'AWS_SM_CONFIG' | 'AWS_SM_BAD_REFERENCE' | 'AWS_SM_FAILED' | 'AWS_SM_FIELD_MISSING' | 'AWS_SM_NOT_TEXT';

/** Every failure of the Secrets Manager store; the message names the reference, never a value. */
export class AwsSmError extends Error {
  readonly code: AwsSmErrorCode;
  constructor(code: AwsSmErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AwsSmError';
    this.code = code;
  }
}

/**
 * A Secrets Manager secret ARN: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources).
 */
const SECRET_ARN = /^arn:aws(?:-[a-z]+)*:secretsmanager:[a-z0-9-]+:\d+:secret:[^:\s]+$/;

/** Splits `prod/openai#api_key` into the secret id and the optional field; refuses a malformed ARN. */
export function parseAwsSmPath(ref: SecretRef): { secretId: string; field: string | undefined } {
  const hash = ref.path.lastIndexOf('#');
  const secretId = (hash < 0 ? ref.path : ref.path.slice(0, hash)).trim();
  const field = hash < 0 ? undefined : ref.path.slice(hash + 1);
  if (secretId === '' || field === '') {
    throw new AwsSmError('AWS_SM_BAD_REFERENCE', `${ref.raw}: expected \${aws-sm:<secret-id>} or \${aws-sm:<secret-id>#<field>}, e.g. \${aws-sm:prod/openai#api_key}`);
  }
  if (secretId.startsWith('arn:') && !SECRET_ARN.test(secretId)) {
    throw new AwsSmError('AWS_SM_BAD_REFERENCE', `${ref.raw}: not a Secrets Manager secret ARN; expected arn:aws:secretsmanager:<region>:<account-id>:secret:<name>`);
  }
  return { secretId, field };
}

/** The value a reference denotes, from the `SecretString` of a secret. */
export function valueFromSecretString(secretString: string, field: string | undefined, ref: SecretRef): string {
  if (field === undefined) {
    if (secretString === '') throw new AwsSmError('AWS_SM_FIELD_MISSING', `${ref.raw}: the secret is empty`);
    return secretString;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    // The parser's message would quote the value; say only what was expected.
    throw new AwsSmError('AWS_SM_NOT_TEXT', `${ref.raw}: the secret is not a JSON object, so it has no field "${field}"`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AwsSmError('AWS_SM_NOT_TEXT', `${ref.raw}: the secret is not a JSON object, so it has no field "${field}"`);
  }
  const value = (parsed as Record<string, unknown>)[field];
  if (value === undefined || value === null) throw new AwsSmError('AWS_SM_FIELD_MISSING', `${ref.raw}: the secret has no field "${field}"`);
  if (typeof value !== 'string' || value === '') throw new AwsSmError('AWS_SM_FIELD_MISSING', `${ref.raw}: field "${field}" is not a non-empty string`);
  return value;
}

type SmModule = typeof import('@aws-sdk/client-secrets-manager');
interface SmClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<{ SecretString?: string; SecretBinary?: Uint8Array }>;
}

let sdk: Promise<SmModule> | undefined;
let shared: { region: string; client: Promise<{ client: SmClient; mod: SmModule }> } | undefined;

function sharedClient(env: NodeJS.ProcessEnv): Promise<{ client: SmClient; mod: SmModule }> {
  const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || '';
  if (region === '') throw new AwsSmError('AWS_SM_CONFIG', 'AWS_REGION is not set (needed by ${aws-sm:...} references)');
  if (shared?.region !== region) {
    sdk ??= import('@aws-sdk/client-secrets-manager');
    const client = sdk.then((mod) => ({ mod, client: new mod.SecretsManagerClient({ region }) as unknown as SmClient }));
    shared = { region, client };
    client.catch(() => {
      if (shared?.client === client) shared = undefined;
    });
  }
  return shared.client;
}

/** Reads one reference through the process's Secrets Manager client. */
export async function readAwsSm(ref: SecretRef, signal?: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { secretId, field } = parseAwsSmPath(ref);
  const { client, mod } = await sharedClient(env);
  let answer;
  try {
    answer = await client.send(new mod.GetSecretValueCommand({ SecretId: secretId }), signal ? { abortSignal: signal } : undefined);
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    // AWS error messages describe the request (secret id, principal), never the value.
    const message = err instanceof Error ? err.message.slice(0, 200) : '';
    throw new AwsSmError('AWS_SM_FAILED', `${ref.raw}: Secrets Manager GetSecretValue failed: ${name}${status ? ` (${status})` : ''}${message && message !== name ? `: ${message}` : ''}`, { cause: err });
  }
  if (typeof answer.SecretString !== 'string') {
    throw new AwsSmError('AWS_SM_NOT_TEXT', `${ref.raw}: the secret has no SecretString (binary secrets are not supported)`);
  }
  return valueFromSecretString(answer.SecretString, field, ref);
}

export const awsSmStore: SecretStore = {
  scheme: 'aws-sm',
  validate: (ref) => parseProblem(() => parseAwsSmPath(ref)),
  read(ref, ctx) {
    return readAwsSm(ref, ctx.signal);
  },
};
