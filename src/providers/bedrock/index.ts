import { z } from 'zod';
import { duration, endpointUrl, type Endpoint } from '../../config-fields/fields.js';
import { awsKind } from '../../credentials/aws/kind.js';
import { awsAuthSchema } from '../../credentials/aws/schema.js';
import { kindContext } from '../../credentials/kind.js';
import type { Credential } from '../../credentials/types.js';
import { applyHeaderCredential } from '../../signing/header.js';
import { signSigV4 } from '../../signing/sigv4.js';
import { instanceSchema } from '../instance-schema.js';
import { rules } from '../transparent-path.js';
import { defineProvider } from '../types.js';
import { invokeChat } from './openai_to_anthropic_invoke.js';
import { converseChat } from './openai_to_converse.js';
import { openaiToTitanEmbeddings } from './openai_to_titan_embeddings.js';
import { bedrockUsage } from './usage.js';

const schema = instanceSchema(
  'bedrock',
  {
    region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, 'must be an AWS region such as us-east-1'),
    /** The control plane (foundation-models); default `https://bedrock.{region}.amazonaws.com`. */
    control_endpoint: endpointUrl().optional(),
    /** Refresh temporary credentials this long before they expire. */
    credential_refresh_window: duration().optional(),
    /**
     * Protocol mode's API for Claude (`anthropic.*`, `{geo}.anthropic.*`): `converse` (default)
     * or `invoke` (InvokeModel with the Anthropic Messages body). Other models always use Converse.
     */
    chat_api: z.enum(['converse', 'invoke']).optional(),
  },
  awsAuthSchema,
);

/** Error types with which AWS says the credential, not the request, is the problem. */
const STALE_CREDENTIAL_ERRORS = ['ExpiredTokenException', 'InvalidSignatureException', 'UnrecognizedClientException'];

/**
 * AWS Bedrock: the runtime API (InvokeModel, InvokeModelWithResponseStream, Converse,
 * ConverseStream) and the control plane's foundation-model listing, SigV4-signed with
 * credentials the gateway obtains (the AWS chain, access keys, assume-role chains, IRSA), or a
 * Bedrock API key sent as Bearer.
 */
export const bedrock = defineProvider({
  type: 'bedrock',
  schema,
  defaultEndpoint: undefined,
  transparentRules: rules(
    'POST model/*/invoke',
    'POST model/*/invoke-with-response-stream',
    'POST model/*/converse',
    'POST model/*/converse-stream',
    'GET foundation-models',
    'GET foundation-models/*',
  ),
  // The client's own AWS signature material must never reach AWS next to the gateway's.
  strippedHeaders: new Set(['x-amz-security-token', 'x-amz-date', 'x-amz-content-sha256']),
  usage: bedrockUsage,
  // Converse serves every Bedrock chat model with one request shape; `chat_api: invoke` (setup)
  // sends Claude models through InvokeModel instead.
  chat: converseChat,
  // Titan text embeddings through InvokeModel; one input per request.
  embeddings: openaiToTitanEmbeddings,
  // Inference-profile ARNs travel as one path segment with `/` encoded.
  allowEncodedSlash: true,
  upstreamFor: (segments) => (segments[0] === 'foundation-models' ? 'control' : undefined),
  modelFromPath(segments) {
    if (segments[0] !== 'model' || segments[1] === undefined) return undefined;
    try {
      return decodeURIComponent(segments[1]);
    } catch {
      return segments[1];
    }
  },
  staleCredential(status, headers) {
    if (status !== 403 && status !== 400) return false;
    const type = headers['x-amzn-errortype'];
    return typeof type === 'string' && STALE_CREDENTIAL_ERRORS.some((name) => type.startsWith(name));
  },
  setup(name, config, ctx) {
    const region = config.region;
    const { credential, close } = awsKind.build(config.authentication, { ...kindContext(ctx, name, 'bedrock', config.credential_refresh_window), region });
    // A Bedrock API key is sent as `Authorization: Bearer` instead of a SigV4 signature.
    const bearer = config.authentication.type === 'bearer_token';
    const hosts = new Map<string, string>();
    const hostOf = (endpoint: Endpoint): string => {
      let host = hosts.get(endpoint.origin);
      if (host === undefined) hosts.set(endpoint.origin, (host = new URL(endpoint.origin).host));
      return host;
    };
    return {
      credential,
      region,
      endpoint: { origin: `https://bedrock-runtime.${region}.amazonaws.com`, basePath: '' },
      upstreams: { control: config.control_endpoint ?? { origin: `https://bedrock.${region}.amazonaws.com`, basePath: '' } },
      sign: bearer
        ? (req, cred) => applyHeaderCredential(req, cred as Extract<Credential, { type: 'bearer' }>)
        : (req, cred, endpoint) => signSigV4(req, cred as Extract<Credential, { type: 'aws' }>, { region, service: 'bedrock', host: hostOf(endpoint) }),
      ...(config.chat_api === 'invoke' ? { chat: invokeChat(converseChat) } : {}),
      close: async () => close(),
    };
  },
});
