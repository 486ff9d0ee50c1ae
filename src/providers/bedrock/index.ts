import { z } from 'zod';
import { duration, endpointUrl, type Endpoint } from '../../config-fields/fields.js';
import { awsKind } from '../../credentials/aws/kind.js';
import { awsAuthSchema } from '../../credentials/aws/schema.js';
import { kindContext } from '../../credentials/kind.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import { signSigV4, type AwsCredential } from '../../signing/sigv4.js';
import { instanceSchema } from '../instance-schema.js';
import { rules } from '../transparent-path.js';
import { defineProvider, type ProviderParts } from '../types.js';
import { BEDROCK_INVOKE, invokeChat, isBedrockAnthropicModel } from './openai_to_anthropic_invoke.js';
import { converseChat } from './openai_to_converse.js';
import { openaiToTitanEmbeddings } from './openai_to_titan_embeddings.js';
import { bedrockUsage } from './usage.js';
import { BEDROCK_MODEL_LIST } from './models.js';
import { BEDROCK_PRICES, bedrockPriceIds } from './prices.js';
import { bedrockRoutes } from './routes.js';
import { countTokensScopeAliases } from './count-tokens-scope.js';
import { bedrockEndpointOf } from './endpoints.js';

const schema = instanceSchema(
  'bedrock',
  {
    region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, 'must be an AWS region such as us-east-1'),
    /** The control plane (foundation-models, inference-profiles); default `https://bedrock.{region}.amazonaws.com`. */
    control_endpoint: endpointUrl().optional(),
    /** bedrock-mantle, which serves the OpenAI Responses API; default `https://bedrock-mantle.{region}.api.aws`. */
    mantle_endpoint: endpointUrl().optional(),
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

/** Access keys for the contract tests' sample instances. */
const SAMPLE_AUTH = { type: 'access_keys', access_key_id: 'AKIAPROPERTYTEST0000', secret_access_key: '${env:PROP_KEY}' };

/** First path segments of the control plane (`bedrock.{region}`), not the runtime. */
const CONTROL_PLANE: ReadonlySet<string> = new Set(['foundation-models', 'inference-profiles']);

/**
 * The OpenAI Responses API on Bedrock is served by the bedrock-mantle host, signed for service
 * `bedrock-mantle` (IAM action `bedrock-mantle:CreateInference`), not by bedrock-runtime:
 * https://docs.aws.amazon.com/bedrock/latest/userguide/bedrock-mantle.html
 */
const MANTLE = 'mantle';

/** Error types with which AWS says the credential, not the request, is the problem. */
const STALE_CREDENTIAL_ERRORS = ['ExpiredTokenException', 'InvalidSignatureException', 'UnrecognizedClientException'];

/**
 * AWS Bedrock: the runtime API (InvokeModel, InvokeModelWithResponseStream, Converse,
 * ConverseStream, CountTokens, OpenAI-compatible chat completions), the Responses API on
 * bedrock-mantle, and the control plane's foundation-model and inference-profile listings,
 * SigV4-signed with credentials the gateway obtains (the AWS chain, access keys, assume-role
 * chains, IRSA), or a Bedrock API key sent as Bearer.
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
    // CountTokens (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CountTokens.html).
    'POST model/*/count-tokens',
    'GET foundation-models',
    'GET foundation-models/*',
    // ListInferenceProfiles and GetInferenceProfile (control plane), which Claude Code calls.
    'GET inference-profiles',
    'GET inference-profiles/*',
    // OpenAI-compatible Chat Completions on bedrock-runtime
    // (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-chat-completions.html) and
    // the Responses API on bedrock-mantle; the model is in the JSON body, where scopes read it.
    'POST openai/v1/chat/completions',
    'POST openai/v1/responses',
  ),
  endpointOf: bedrockEndpointOf,
  // The client's own AWS signature material must never reach AWS next to the gateway's.
  strippedHeaders: new Set(['x-amz-security-token', 'x-amz-date', 'x-amz-content-sha256']),
  usage: bedrockUsage,
  // The root `/model/...` paths for AWS SDKs and the legacy invoke-model envelope.
  routes: bedrockRoutes,
  prices: BEDROCK_PRICES,
  priceIds: bedrockPriceIds,
  // Converse, Titan, and the Anthropic Messages body of InvokeModel.
  completionCapFields: ['inferenceConfig.maxTokens', 'textGenerationConfig.maxTokenCount', 'max_tokens'],
  samples: {
    instances: [
      { config: { region: 'us-east-1', authentication: SAMPLE_AUTH }, chat: ['anthropic.claude-3-haiku-20240307-v1:0'], embeddings: ['amazon.titan-embed-text-v2:0'] },
      // invoke: Claude through InvokeModel, every other model through Converse.
      { config: { region: 'us-east-1', chat_api: 'invoke', authentication: SAMPLE_AUTH }, chat: ['anthropic.claude-3-haiku-20240307-v1:0', 'amazon.nova-lite-v1:0'], embeddings: [] },
    ],
    column: { heading: 'bedrock (Converse)', place: 7 },
    transcripts: [
      // The SDK's snapshots carry zero counts (bedrock/usage.test.ts fills them in to test the numbers).
      { dir: 'wire/bedrock/aws-sdk-js-v3-snapshots/reconstructed', ext: '.eventstream', contentType: 'application/vnd.amazon.eventstream', usage: 'none' },
    ],
  },
  // Converse serves every Bedrock chat model with one request shape; `chat_api: invoke` (setup)
  // sends Claude models through InvokeModel instead.
  chat: converseChat,
  // Claude speaks Messages through InvokeModel; OpenAI's open-weight models (`openai.gpt-oss-…`)
  // speak the Responses API on bedrock-mantle (upstreamFor below).
  direct: {
    messages: (model) => (isBedrockAnthropicModel(model) ? BEDROCK_INVOKE : undefined),
    responses: (model) => (model.startsWith('openai.') ? { path: '/openai/v1/responses', model } : undefined),
  },
  listModels: BEDROCK_MODEL_LIST,
  // ListFoundationModels on the control plane: SigV4-signed (or the Bedrock API key), read-only.
  probe: BEDROCK_MODEL_LIST.request(undefined),
  // Titan text embeddings through InvokeModel; one input per request.
  embeddings: openaiToTitanEmbeddings,
  // Inference-profile ARNs travel as one path segment with `/` encoded.
  allowEncodedSlash: true,
  upstreamFor(segments) {
    if (segments[0] !== undefined && CONTROL_PLANE.has(segments[0])) return 'control';
    return segments.length === 3 && segments[0] === 'openai' && segments[1] === 'v1' && segments[2] === 'responses' ? MANTLE : undefined;
  },
  modelFromPath(segments) {
    if (segments[0] !== 'model' || segments[1] === undefined) return undefined;
    try {
      return decodeURIComponent(segments[1]);
    } catch {
      return segments[1];
    }
  },
  // A scope on `us.anthropic.X` lets a key count tokens for `anthropic.X`.
  scopeAliases: countTokensScopeAliases,
  // The gateway's own errors on /transparent/{bedrock}/... carry AWS's markers, as on the root
  // routes, so an AWS SDK pointed at either raises a typed exception with the gateway's message.
  errorShape: 'aws',
  staleCredential(status, headers) {
    if (status !== 403 && status !== 400) return false;
    const type = headers['x-amzn-errortype'];
    return typeof type === 'string' && STALE_CREDENTIAL_ERRORS.some((name) => type.startsWith(name));
  },
  setup(name, config, ctx): ProviderParts<AwsCredential | BearerCredential> {
    const region = config.region;
    const { credential, close } = awsKind.build(config.authentication, { ...kindContext(ctx, name, 'bedrock', config.credential_refresh_window), region });
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
      upstreams: {
        control: config.control_endpoint ?? { origin: `https://bedrock.${region}.amazonaws.com`, basePath: '' },
        [MANTLE]: config.mantle_endpoint ?? { origin: `https://bedrock-mantle.${region}.api.aws`, basePath: '' },
      },
      // A Bedrock API key (`bearer_token`) is sent as a bearer token (both hosts take it); AWS
      // keys sign with SigV4, for the service of the host the request goes to.
      sign: (req, cred, endpoint) =>
        cred.type === 'bearer'
          ? applyHeaderCredential(req, cred)
          : signSigV4(req, cred, { region, service: req.target === MANTLE ? 'bedrock-mantle' : 'bedrock', host: hostOf(endpoint) }),
      ...(config.chat_api === 'invoke' ? { chat: invokeChat(converseChat) } : {}),
      close: async () => close(),
    };
  },
});
