import { z } from 'zod';
import { duration, type Endpoint } from '../../config-fields/fields.js';
import { ibmKind } from '../../credentials/ibm/kind.js';
import { kindContext } from '../../credentials/kind.js';
import { ibmApiKeyAuth, ibmTrustedProfileAuth } from '../../credentials/ibm/schema.js';
import { staticKind } from '../../credentials/static/kind.js';
import { bearerTokenAuthSchema } from '../../credentials/static/schema.js';
import type { CachedCredential } from '../../credentials/types.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import { instanceSchema } from '../instance-schema.js';
import { rules } from '../transparent-path.js';
import { endpointTable } from '../endpoint-names.js';
import { defineProvider, type ProviderContext, type ProviderParts } from '../types.js';
import { watsonxChat, type WatsonxScope } from './openai_to_watsonx.js';
import { watsonxEmbeddings } from './openai_to_watsonx_embeddings.js';
import { scopedBody } from './project-scope.js';
import { watsonxUsage } from './usage.js';

/**
 * `authentication` of a watsonx instance, discriminated by `type`: `bearer_token` (kept fresh
 * elsewhere), `api_key` (exchanged at IBM IAM) or `trusted_profile` (the compute resource's
 * token exchanged at IAM); the IAM kinds live in credentials/ibm/.
 */
export const watsonxAuthSchema = z.discriminatedUnion('type', [bearerTokenAuthSchema, ibmApiKeyAuth, ibmTrustedProfileAuth]);
export type WatsonxAuth = z.output<typeof watsonxAuthSchema>;

/** The API version date sent as `?version=` in protocol mode: IBM's Java SDK default at the time of writing. */
export const DEFAULT_API_VERSION = '2025-12-05';

const schema = instanceSchema(
  'watsonx',
  {
    /** IBM Cloud region of the watsonx.ai runtime: us-south, eu-de, eu-gb, jp-tok, au-syd, ca-tor, ap-south-1. */
    region: z.string().regex(/^[a-z]{2}-[a-z]+(?:-\d+)?$/, 'must be an IBM Cloud region such as us-south or eu-de'),
    /** The project that pays for every call (exactly one of project_id and space_id). */
    project_id: z.string().min(1).max(128).optional(),
    /** The deployment space that pays for every call (exactly one of project_id and space_id). */
    space_id: z.string().min(1).max(128).optional(),
    /** Refresh IAM access tokens (`api_key`, `trusted_profile`) this long before they expire; default 5m. */
    credential_refresh_window: duration().optional(),
    /** API version date (`YYYY-MM-DD`) for protocol mode; transparent clients send their own. */
    version: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be an API version date such as 2025-12-05')
      .default(DEFAULT_API_VERSION),
  },
  watsonxAuthSchema,
).superRefine((config, ctx) => {
  if ((config.project_id === undefined) === (config.space_id === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [config.project_id === undefined ? 'project_id' : 'space_id'],
      message: 'exactly one of project_id and space_id is required',
    });
  }
});

/** Regions whose runtime IBM hosts on AWS, off the `{region}.ml.cloud.ibm.com` pattern. */
const AWS_HOSTED_REGIONS: Readonly<Record<string, string>> = { 'ap-south-1': 'https://ap-south-1.aws.wxai.ibm.com' };

/** The watsonx.ai runtime of a region (IBM's `CloudRegion.mlEndpoint`). */
export function regionEndpoint(region: string): Endpoint {
  return { origin: Object.hasOwn(AWS_HOSTED_REGIONS, region) ? AWS_HOSTED_REGIONS[region]! : `https://${region}.ml.cloud.ibm.com`, basePath: '' };
}

function watsonxCredential(name: string, auth: WatsonxAuth, refreshWindowMs: number | undefined, ctx: ProviderContext): { credential: CachedCredential<BearerCredential>; close?: () => Promise<void> } {
  switch (auth.type) {
    case 'bearer_token':
      // An IAM access token something else keeps fresh in a secret store (IAM tokens live an hour).
      return { credential: staticKind.build(auth, { ...kindContext(ctx, name, 'watsonx', refreshWindowMs), header: (token): BearerCredential => ({ type: 'bearer', token }) }).credential };
    case 'api_key':
    case 'trusted_profile': {
      const { credential, close } = ibmKind.build(auth, kindContext(ctx, name, 'watsonx', refreshWindowMs));
      return { credential, close: async () => close() };
    }
    default:
      return auth satisfies never;
  }
}

/**
 * IBM watsonx.ai (the `ml/v1` runtime): inference only in transparent mode, OpenAI chat
 * completions and embeddings in protocol mode; every call bills the instance's project or space.
 */
export const watsonx = defineProvider({
  type: 'watsonx',
  schema,
  defaultEndpoint: undefined, // derived from the region in setup
  // Key scopes check the model a transparent body names.
  bodyModelField: 'model_id',
  transparentRules: rules(
    'POST ml/v1/text/chat',
    'POST ml/v1/text/chat_stream',
    'POST ml/v1/text/generation',
    'POST ml/v1/text/generation_stream',
    'POST ml/v1/text/embeddings',
    'GET ml/v1/foundation_model_specs',
  ),
  endpointOf: endpointTable({
    chat: ['POST ml/v1/text/chat', 'POST ml/v1/text/chat_stream'],
    completions: ['POST ml/v1/text/generation', 'POST ml/v1/text/generation_stream'],
    embeddings: ['POST ml/v1/text/embeddings'],
    models: ['GET ml/v1/foundation_model_specs'],
    count_tokens: ['POST ml/v1/text/tokenization'],
  }),
  usage: watsonxUsage,
  // The chat API's `max_tokens`, text generation's `parameters.max_new_tokens`.
  completionCapFields: ['max_tokens', 'parameters.max_new_tokens'],
  samples: {
    column: { place: 9 },
    instances: [
      {
        config: { region: 'us-south', project_id: 'project-1', authentication: { type: 'bearer_token', token: '${env:PROP_KEY}' } },
        chat: ['ibm/granite-3-8b-instruct'],
        embeddings: ['ibm/slate-125m-english-rtrvr'],
      },
    ],
    transcripts: [
      { dir: 'wire/watsonx', ext: '.json', contentType: 'application/json' },
      { dir: 'wire/watsonx', ext: '.txt', match: /^chat_streaming_/, contentType: 'text/event-stream' },
    ],
  },
  /**
   * A 401 is the only sign of an expired IAM token the hook can see: IBM says
   * `authentication_token_expired` in the body, which the hook does not get, and sends no
   * distinguishing header. Any 401 therefore refreshes the token and retries once (the
   * refreshing cache ignores a second invalidate within its cooldown, so a burst costs one IAM
   * call); a 401 after that is `upstream_credential_rejected`, as before. A 403 is a project
   * or space the token may not use: the request's problem, no refresh.
   */
  staleCredential: (status) => status === 401,
  setup(name, config, ctx): ProviderParts<BearerCredential> {
    const scope: WatsonxScope = config.project_id !== undefined ? { project_id: config.project_id } : { space_id: config.space_id! };
    const { credential, close } = watsonxCredential(name, config.authentication, config.credential_refresh_window, ctx);
    return {
      credential,
      ...(close ? { close } : {}),
      sign: applyHeaderCredential,
      region: config.region,
      endpoint: regionEndpoint(config.region),
      chat: watsonxChat({ scope, version: config.version }),
      embeddings: watsonxEmbeddings({ scope, version: config.version }),
      transparentBody: (_method, segments, body) => scopedBody(scope, segments, body),
      // The deployments of the instance's project or space: authenticated and scoped to what the
      // instance bills (the model specs list would not do: IBM serves it without a token).
      probe: { path: `/ml/v4/deployments?${new URLSearchParams({ version: config.version, ...scope, limit: '1' }).toString()}` },
    };
  },
});
