import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { resolve } from 'node:path';
import { parseSecretRef } from '../../secrets/ref.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import { RefreshingCredential, type CredentialSource, type FetchListener, type RefreshPolicy } from '../cache.js';
import { StaticCredential } from '../static/index.js';
import type { CachedCredential, Credential } from '../types.js';
import type { AssumeRoleAuth, AwsAuth } from './schema.js';

export type AwsCredential = Extract<Credential, { type: 'aws' }>;
export type BearerCredential = Extract<Credential, { type: 'bearer' }>;

export interface AwsCredentialContext {
  /** Region of the instance: STS is called in the same region (regional endpoints). */
  region: string;
  secrets: SecretResolver;
  scrubber: SecretScrubber;
  /** Relative `token_file` paths resolve against the config file's folder. */
  baseDir: string;
  onFetch: FetchListener;
  policy?: Partial<RefreshPolicy>;
}

/** The credential an AWS instance signs with, plus whatever must be released at shutdown. */
export interface AwsCredentialParts {
  /** A bearer credential for `bearer_token` (a Bedrock API key, sent instead of a SigV4 signature). */
  credential: CachedCredential<AwsCredential> | CachedCredential<BearerCredential>;
  close(): void;
}

/**
 * Builds one instance's credential from its `authentication` block. Each instance gets its own
 * providers and caches: an instance configured with explicit keys never consults the
 * environment, and one instance's chain never serves another.
 *
 * Endpoints follow AWS's own overrides (`AWS_ENDPOINT_URL_STS`,
 * `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_CONTAINER_CREDENTIALS_FULL_URI`, ...), which the
 * AWS SDK providers read themselves.
 */
export function awsCredential(auth: AwsAuth, ctx: AwsCredentialContext): AwsCredentialParts {
  const closers: Array<() => void> = [];
  const build = (a: AwsAuth): CachedCredential<AwsCredential> => {
    switch (a.type) {
      case 'bearer_token':
        throw new Error('bearer_token cannot be the source of assume_role');
      case 'access_keys': {
        const secret = ctx.secrets.handle(a.secret_access_key, a.refresh_interval);
        // The id is usually a literal; a reference is resolved like the secret, never sent as is.
        const keyId = parseSecretRef(a.access_key_id) !== undefined ? ctx.secrets.handle(a.access_key_id, a.refresh_interval) : undefined;
        const token = a.session_token !== undefined ? ctx.secrets.handle(a.session_token, a.refresh_interval) : undefined;
        const handles = [secret, ...(keyId ? [keyId] : []), ...(token ? [token] : [])];
        // Called only once every handle has a value.
        return new StaticCredential(handles, 'access_keys', () => ({
          type: 'aws',
          accessKeyId: keyId ? keyId.value : a.access_key_id,
          secretAccessKey: secret.value,
          ...(token ? { sessionToken: token.value } : {}),
        }));
      }
      default: {
        const cached = new RefreshingCredential(sdkSource(a.type, sdkProvider(a, ctx, build), ctx.scrubber), { onFetch: ctx.onFetch, ...(ctx.policy ? { policy: ctx.policy } : {}) });
        closers.push(() => cached.close());
        return cached;
      }
    }
  };
  const close = () => closers.forEach((c) => c());
  if (auth.type === 'bearer_token') {
    const handle = ctx.secrets.handle(auth.token, auth.refresh_interval);
    return { credential: new StaticCredential(handle, 'bearer_token', (token) => ({ type: 'bearer', token: token! })), close };
  }
  return { credential: build(auth), close };
}

/**
 * The AWS SDK's providers, loaded on first use: a gateway without AWS-signed instances never
 * loads the AWS SDK (it costs start time and memory).
 */
type Providers = typeof import('@aws-sdk/credential-providers');
let providers: Promise<Providers> | undefined;
function lazy(build: (p: Providers) => AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
  let built: AwsCredentialIdentityProvider | undefined;
  return async (options) => {
    built ??= build(await (providers ??= import('@aws-sdk/credential-providers')));
    return built(options);
  };
}

/** The AWS SDK provider behind a refreshing kind. */
function sdkProvider(a: Exclude<AwsAuth, { type: 'access_keys' | 'bearer_token' }>, ctx: AwsCredentialContext, build: (a: AwsAuth) => CachedCredential<AwsCredential>): AwsCredentialIdentityProvider {
  const clientConfig = { region: ctx.region };
  switch (a.type) {
    case 'default_credentials': {
      // The full Node chain: env, shared files and profiles, SSO, process, web identity, EKS Pod
      // Identity / ECS container credentials, IMDSv2. Memoized inside; our cache decides when
      // to refresh and asks with forceRefresh.
      return lazy(({ fromNodeProviderChain }) => {
        const chain = fromNodeProviderChain({ clientConfig, ...(a.profile ? { profile: a.profile } : {}) });
        return () => chain({ forceRefresh: true });
      });
    }
    case 'web_identity':
    case 'workload_identity': {
      const tokenFile = a.token_file ?? process.env['AWS_WEB_IDENTITY_TOKEN_FILE'];
      const roleArn = a.role_arn ?? process.env['AWS_ROLE_ARN'];
      if (!tokenFile || !roleArn) {
        return () => Promise.reject(new Error('workload_identity (aws_irsa) needs role_arn and token_file, or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE from EKS'));
      }
      // fromTokenFile reads the file at every call: kubelet rotates the projected token.
      return lazy(({ fromTokenFile }) =>
        fromTokenFile({
          roleArn,
          webIdentityTokenFile: resolve(ctx.baseDir, tokenFile),
          roleSessionName: a.session_name ?? 'llmproxy',
          ...('duration_seconds' in a && a.duration_seconds !== undefined ? { durationSeconds: a.duration_seconds } : {}),
          clientConfig,
        }),
      );
    }
    case 'assume_role':
      return assumeRoleProvider(a, ctx, build);
  }
}

function assumeRoleProvider(a: AssumeRoleAuth, ctx: AwsCredentialContext, build: (a: AwsAuth) => CachedCredential<AwsCredential>): AwsCredentialIdentityProvider {
  const source = build(a.source ?? { type: 'default_credentials' });
  return lazy(({ fromTemporaryCredentials }) => fromTemporaryCredentials({
    params: {
      RoleArn: a.role_arn,
      RoleSessionName: a.session_name ?? 'llmproxy',
      ...(a.external_id !== undefined ? { ExternalId: a.external_id } : {}),
      ...(a.duration_seconds !== undefined ? { DurationSeconds: a.duration_seconds } : {}),
    },
    // The source is itself cached (and refreshed) by us; STS signs with whatever it holds now.
    masterCredentials: async () => identity(await source.get()),
    clientConfig: { region: ctx.region },
  }));
}

/** Adapts an SDK provider to a credential source; registers fetched secrets with the scrubber. */
function sdkSource(method: string, provider: AwsCredentialIdentityProvider, scrubber: SecretScrubber): CredentialSource<AwsCredential> {
  let previous: string[] = [];
  return {
    method,
    async fetch(signal: AbortSignal): Promise<AwsCredential> {
      const id = await abortable(provider(), signal);
      const secrets = [id.secretAccessKey, ...(id.sessionToken ? [id.sessionToken] : [])];
      for (const s of previous) if (!secrets.includes(s)) scrubber.delete(s);
      for (const s of secrets) scrubber.add(s);
      previous = secrets;
      return {
        type: 'aws',
        accessKeyId: id.accessKeyId,
        secretAccessKey: id.secretAccessKey,
        ...(id.sessionToken ? { sessionToken: id.sessionToken } : {}),
        ...(id.expiration ? { expiresAt: id.expiration.getTime() } : {}),
      };
    },
  };
}

function identity(c: AwsCredential): AwsCredentialIdentity {
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}),
    ...(c.expiresAt !== undefined ? { expiration: new Date(c.expiresAt) } : {}),
  };
}

/** The SDK providers take no abort signal: stop waiting when ours fires (the call is abandoned). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('credential fetch aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolvePromise(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
