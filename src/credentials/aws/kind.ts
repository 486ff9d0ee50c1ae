import { fetchListener, type CredentialKind, type CredentialKindContext } from '../kind.js';
import { awsCredential, type AwsCredential, type BearerCredential } from './index.js';
import { accessKeys, assumeRole, bearerToken, defaultCredentials, webIdentity, workloadIdentity, type AwsAuth } from './schema.js';

/**
 * AWS credentials: the SDK's chain, access keys, assume-role chains, web identity (IRSA), and
 * Bedrock API keys (`bearer_token`, sent as `Authorization: Bearer` instead of a SigV4
 * signature). STS and IMDS are called in the instance's region.
 */
export const awsKind = {
  name: 'aws',
  types: {
    default_credentials: { schema: defaultCredentials, fetches: true },
    access_keys: { schema: accessKeys, fetches: false },
    assume_role: { schema: assumeRole, fetches: true },
    web_identity: { schema: webIdentity, fetches: true },
    workload_identity: { schema: workloadIdentity, fetches: true },
    bearer_token: { schema: bearerToken, fetches: false },
  },
  build(auth: AwsAuth, ctx: CredentialKindContext & { region: string }) {
    const { credential, close } = awsCredential(auth, {
      region: ctx.region,
      secrets: ctx.secrets,
      scrubber: ctx.scrubber,
      baseDir: ctx.baseDir,
      onFetch: fetchListener(ctx),
      ...(ctx.policy ? { policy: ctx.policy } : {}),
    });
    return { credential, close };
  },
} satisfies CredentialKind<AwsAuth, { region: string }, AwsCredential | BearerCredential>;
