import { z } from 'zod';
import { duration } from '../../config-fields/fields.js';
import { gcpKind } from '../../credentials/gcp/kind.js';
import { kindContext, type BuiltCredential } from '../../credentials/kind.js';
import { gcpAuthSchemas } from '../../credentials/gcp/schema.js';
import { staticKind } from '../../credentials/static/kind.js';
import { accessTokenAuthSchema } from '../../credentials/static/schema.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { applyHeaderCredential, type BearerCredential } from '../../signing/header.js';
import type { UpstreamRequest } from '../../upstream/types.js';
import { instanceSchema } from '../instance-schema.js';
import { rules, type PathRule } from '../transparent-path.js';
import { defineProvider, type ProviderContext, type ProviderParts } from '../types.js';
import { isVertexClaudeModel, vertexClaudeChat, vertexClaudeHost } from './openai_to_anthropic_rawpredict.js';
import { geminiChat } from './openai_to_gemini.js';
import { vertexEmbeddings } from './openai_to_vertex_embeddings.js';
import { googleErrorShape } from './errors.js';
import { vertexUsage } from './usage.js';
import { vertexEndpointOf } from './endpoints.js';
import { VERTEX_PRICES, vertexPriceIds } from './prices.js';

/** A project id (`my-project`, or domain-scoped `example.com:my-project`) or a project number. */
const PROJECT = /^(?:(?:[a-z0-9-]+\.)+[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[0-9]{1,20}$/;
/** `us-central1`, `europe-west4`, `global`, ... */
const LOCATION = /^[a-z][a-z0-9-]{0,40}[a-z0-9]$/;

/**
 * Vertex authentication, discriminated by `type`: `access_token`, or Google's own kinds
 * (`service_account`, `default_credentials`, `external_account`) whose tokens google-auth-library fetches and
 * RefreshingCredential refreshes; `setup` switches over it exhaustively.
 */
export const vertexAuthSchema = z.discriminatedUnion('type', [accessTokenAuthSchema, ...gcpAuthSchemas]);
export type VertexAuth = z.output<typeof vertexAuthSchema>;

const schema = instanceSchema(
  'vertex',
  {
    /** The Google Cloud project every call is made in; clients cannot name another. */
    project: z.string().regex(PROJECT, 'must be a Google Cloud project id (such as my-project) or project number'),
    /** The Vertex AI location (`us-central1`, `europe-west4`, `global`); clients cannot name another. */
    location: z.string().regex(LOCATION, 'must be a Vertex AI location such as us-central1 or global'),
    /** Google credential kinds: refresh the token this long before it expires (default 5 minutes). */
    credential_refresh_window: duration().optional(),
  },
  vertexAuthSchema,
);

/**
 * Client headers Google would honour with the gateway's credential: another project to bill
 * (`x-goog-user-project`), IAM delegation (`x-goog-iam-*`), and a method override that could turn
 * an allowed POST into another method.
 */
const STRIPPED_HEADERS = new Set(['x-goog-user-project', 'x-goog-iam-authorization-token', 'x-goog-iam-authority-selector', 'x-http-method-override']);

/** Claude's token counter on Vertex (after `publishers/`), the model in the body. */
const CLAUDE_COUNT_TOKENS = 'anthropic/models/count-tokens:rawPredict';

/** Google's system parameter naming the project to bill and charge quota to (the header's twin). */
const BILLING_OVERRIDE_PARAMS = new Set(['userProject', '$userProject']);

/** The default endpoint of a location: regional hosts, and one host for `global`. */
export function vertexEndpoint(location: string): { origin: string; basePath: string } {
  return { origin: location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${location}-aiplatform.googleapis.com`, basePath: '' };
}

/**
 * The transparent routes of one instance: inference on publisher models (`{model}:generateContent`,
 * `:streamGenerateContent`, `:countTokens`, `:rawPredict`, `:streamRawPredict`, ...), in the
 * instance's own project and location only, so the gateway's credential cannot be pointed at
 * another project. `v1beta1` is what Google's genai SDKs use on Vertex.
 */
export function vertexInferenceRules(project: string, location: string): PathRule[] {
  return rules(
    `POST v1/projects/${project}/locations/${location}/publishers/*/models/*`,
    `POST v1beta1/projects/${project}/locations/${location}/publishers/*/models/*`,
  );
}

/**
 * Vertex express mode's paths, `{v1|v1beta1}/publishers/{publisher}/models/{model}:{method}`
 * without a project and location (what Google's genai SDKs send with an API key), completed
 * with the instance's own, so they reach the same allowlisted routes.
 * https://cloud.google.com/vertex-ai/generative-ai/docs/start/express-mode/overview
 */
export function vertexExpressPath(project: string, location: string): (segments: readonly string[]) => readonly string[] | undefined {
  return (segments) =>
    segments.length === 5 && (segments[0] === 'v1' || segments[0] === 'v1beta1') && segments[1] === 'publishers' && segments[3] === 'models'
      ? [segments[0], 'projects', project, 'locations', location, ...segments.slice(1)]
      : undefined;
}

/**
 * Applies the bearer token, refusing a request whose query names another project to bill
 * (`?userProject=`): the header form is stripped, the query is the client's own and is only
 * forwarded untouched, so it is refused instead.
 */
function applyVertexCredential(req: UpstreamRequest, credential: BearerCredential): UpstreamRequest {
  const q = req.path.indexOf('?');
  if (q >= 0) {
    for (const name of new URLSearchParams(req.path.slice(q + 1)).keys()) {
      if (BILLING_OVERRIDE_PARAMS.has(name)) throw new GatewayError('invalid_request', `the "${name}" query parameter is not allowed: the instance's project is billed`);
    }
  }
  return applyHeaderCredential(req, credential);
}

/**
 * Google Vertex AI: Gemini (and partner models such as Anthropic's) in one configured project
 * and location. Transparent mode forwards the native inference API of that project and location
 * only; protocol mode translates OpenAI chat completions to Gemini's generateContent, or for
 * `claude-*` models to Anthropic Messages through `:rawPredict`, and OpenAI embeddings to the text
 * embeddings `:predict`.
 */
export const vertex = defineProvider({
  type: 'vertex',
  schema,
  defaultEndpoint: undefined,
  // Per instance (setup): only the instance's own project and location.
  transparentRules: [],
  endpointOf: vertexEndpointOf,
  strippedHeaders: STRIPPED_HEADERS,
  // Google's google.rpc.Status for the gateway's own errors, as Vertex answers its own.
  errorShape: googleErrorShape,
  usage: vertexUsage,
  prices: VERTEX_PRICES,
  priceIds: vertexPriceIds,
  // Gemini's generateContent, and the Anthropic Messages body of Claude's rawPredict.
  completionCapFields: ['generationConfig.maxOutputTokens', 'max_tokens'],
  samples: {
    instances: [
      {
        config: { project: 'my-project', location: 'us-central1', authentication: { type: 'access_token', token: '${env:PROP_KEY}' } },
        chat: ['gemini-2.0-flash', 'claude-sonnet-4'],
        embeddings: ['text-embedding-005'],
      },
    ],
    column: { heading: 'vertex (Gemini)', place: 8 },
    transcripts: [
      { dir: 'wire/vertex-gemini/mock-responses/vertexai', ext: '.txt', match: /^streaming-success-/, contentType: 'text/event-stream' },
      { dir: 'wire/vertex-gemini/mock-responses/vertexai', ext: '.json', match: /^unary-success-/, contentType: 'application/json' },
      // Claude through rawPredict streams Anthropic's events.
      { dir: 'wire/anthropic', ext: '.sse', contentType: 'text/event-stream' },
    ],
  },
  modelFromPath(segments) {
    // v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:{method}
    if (segments.length !== 9 || segments[7] !== 'models') return undefined;
    let last = segments[8]!;
    try {
      last = decodeURIComponent(last);
    } catch {
      // forwarded as sent; the scope check sees the raw segment
    }
    // Claude's token counter is one resource for every model; the body's `model` names the one
    // counted, so scopes read it there.
    // https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/count-tokens
    if (`${segments[6]}/models/${last}` === CLAUDE_COUNT_TOKENS) return undefined;
    const colon = last.indexOf(':');
    return colon > 0 ? last.slice(0, colon) : last;
  },
  // An expired or revoked token: 401 UNAUTHENTICATED with Google's `Bearer ... error="invalid_token"`
  // challenge. Refetched and retried once (an `access_token` re-reads its secret).
  staleCredential: (status, headers) => status === 401 && /^bearer\b/i.test(String(headers['www-authenticate'] ?? '')),
  setup(name, config, ctx): ProviderParts<BearerCredential> {
    const { project, location } = config;
    const gemini = geminiChat({ project, location });
    const claude = vertexClaudeChat({ project, location });
    const claudeHost = vertexClaudeHost({ project, location });
    const { credential, close } = vertexCredential(name, config.authentication, config.credential_refresh_window, ctx, project);
    return {
      credential,
      ...(close !== undefined ? { close: async () => close() } : {}),
      sign: applyVertexCredential,
      region: location,
      endpoint: vertexEndpoint(location),
      transparentRules: vertexInferenceRules(project, location),
      expandNativePath: vertexExpressPath(project, location),
      chat: (options) => (isVertexClaudeModel(options.model) ? claude(options) : gemini(options)),
      embeddings: vertexEmbeddings({ project, location }),
      direct: { messages: (model) => (isVertexClaudeModel(model) ? claudeHost : undefined) },
      // ListModels (Model Registry) in the instance's own project and location: read-only, and
      // allowed by roles/aiplatform.user, which every caller of the inference API holds.
      probe: { path: `/v1/projects/${project}/locations/${location}/models?pageSize=1` },
    };
  },
});

/** The instance's credential source for its authentication block. */
function vertexCredential(name: string, auth: VertexAuth, refreshWindowMs: number | undefined, ctx: ProviderContext, project: string): BuiltCredential<BearerCredential> {
  const kinds = kindContext(ctx, name, 'vertex', refreshWindowMs);
  switch (auth.type) {
    case 'access_token':
      // An OAuth 2 access token minted elsewhere (e.g. by a sidecar), re-read on the refresh interval.
      return staticKind.build(auth, { ...kinds, header: (token): BearerCredential => ({ type: 'bearer', token }) });
    case 'service_account':
    case 'default_credentials':
    case 'external_account':
      return gcpKind.build(auth, { ...kinds, project });
    default:
      auth satisfies never;
      throw new Error('unknown vertex authentication type');
  }
}
