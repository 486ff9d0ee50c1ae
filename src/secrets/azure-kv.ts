/**
 * `${azure-kv:<vault-url>/<name>}`: the current version of an Azure Key Vault secret, e.g.
 * `${azure-kv:https://myvault.vault.azure.net/openai-key}`. The vault URL must be https.
 *
 * Read through `@azure/keyvault-secrets` (`SecretClient`, loaded on first use) with
 * `DefaultAzureCredential`, configured from the environment as every Azure SDK is:
 * `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` (service principal), workload
 * identity on AKS, or managed identity; `AZURE_AUTHORITY_HOST` for a sovereign or private
 * authority. Key Vault's challenge-based auth (a 401 naming the resource and tenant first) is
 * handled by the SDK; the challenge resource is verified against the vault's domain except for
 * loopback vaults (emulators). One credential per process and one client per vault serve every
 * reference. Errors name the reference, never a value.
 */
import { parseProblem, type SecretRef } from './ref.js';
import type { SecretStore } from './types.js';

export type AzureKvErrorCode = 'AZURE_KV_BAD_REFERENCE' | 'AZURE_KV_FAILED' | 'AZURE_KV_EMPTY';

/** Every failure of the Key Vault store; the message names the reference, never a value. */
export class AzureKvError extends Error {
  readonly code: AzureKvErrorCode;
  readonly status: number | undefined;
  constructor(code: AzureKvErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AzureKvError';
    this.code = code;
    this.status = options.status;
  }
}

const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Splits `https://myvault.vault.azure.net/openai-key` into the vault URL and the secret name. */
export function parseAzureKvPath(ref: SecretRef): { vaultUrl: string; name: string } {
  const bad = () => new AzureKvError('AZURE_KV_BAD_REFERENCE', `${ref.raw}: expected \${azure-kv:https://<vault>.vault.azure.net/<secret-name>}`);
  let url: URL;
  try {
    url = new URL(ref.path.trim());
  } catch {
    throw bad();
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw bad();
  const segments = url.pathname.split('/').filter((s) => s !== '');
  if (segments.length !== 1 || !SECRET_NAME.test(segments[0]!)) throw bad();
  return { vaultUrl: url.origin, name: segments[0]! };
}

type Identity = typeof import('@azure/identity');
type KvSecrets = typeof import('@azure/keyvault-secrets');
type Client = InstanceType<KvSecrets['SecretClient']>;

let libs: Promise<{ identity: Identity; secrets: KvSecrets }> | undefined;
let credential: { key: string; value: InstanceType<Identity['DefaultAzureCredential']> } | undefined;
const clients = new Map<string, { credential: object; client: Client }>();

const ENV_KEYS = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST'];

async function clientFor(vaultUrl: string): Promise<Client> {
  libs ??= Promise.all([import('@azure/identity'), import('@azure/keyvault-secrets')]).then(([identity, secrets]) => ({ identity, secrets }));
  let loaded;
  try {
    loaded = await libs;
  } catch (err) {
    libs = undefined;
    throw err;
  }
  // The credential is rebuilt only when its environment changes, so its token cache is shared.
  const key = JSON.stringify(ENV_KEYS.map((k) => process.env[k]));
  if (credential?.key !== key) credential = { key, value: new loaded.identity.DefaultAzureCredential({ disableInstanceDiscovery: true }) };
  const cached = clients.get(vaultUrl);
  if (cached && cached.credential === credential.value) return cached.client;
  const client = new loaded.secrets.SecretClient(vaultUrl, credential.value, {
    disableChallengeResourceVerification: LOOPBACK.has(new URL(vaultUrl).hostname),
    retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
  });
  clients.set(vaultUrl, { credential: credential.value, client });
  return client;
}

/** Reads one reference (the secret's current version). */
export async function readAzureKv(ref: SecretRef, signal?: AbortSignal): Promise<string> {
  const { vaultUrl, name } = parseAzureKvPath(ref);
  const client = await clientFor(vaultUrl);
  let secret;
  try {
    secret = await client.getSecret(name, signal ? { abortSignal: signal } : {});
  } catch (err) {
    const e = err as { name?: string; code?: string; statusCode?: number; message?: string };
    const what = [e.code ?? e.name ?? 'Error', e.statusCode !== undefined ? `(${e.statusCode})` : ''].filter(Boolean).join(' ');
    // Key Vault's and Entra's messages describe the request (vault, secret name, principal), never a value.
    const detail = typeof e.message === 'string' ? e.message.split('\n')[0]!.slice(0, 200) : '';
    throw new AzureKvError('AZURE_KV_FAILED', `${ref.raw}: Key Vault read failed: ${what}${detail ? `: ${detail}` : ''}`, { status: e.statusCode, cause: err });
  }
  if (typeof secret.value !== 'string' || secret.value === '') throw new AzureKvError('AZURE_KV_EMPTY', `${ref.raw}: the secret has no value`);
  return secret.value;
}

export const azureKvStore: SecretStore = {
  scheme: 'azure-kv',
  validate: (ref) => parseProblem(() => parseAzureKvPath(ref)),
  read(ref, ctx) {
    return readAzureKv(ref, ctx.signal);
  },
};
