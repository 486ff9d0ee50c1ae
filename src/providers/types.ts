import type { z } from 'zod';
import type { ErrorShape } from '../errors/http.js';
import type { CachedCredential, Credential } from '../credentials/types.js';
import type { CredentialHealthListener } from '../credentials/kind.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { SecretResolver } from '../secrets/resolver.js';
import type { AnthropicHost } from '../protocol/anthropic-messages/index.js';
import type { ChatTranslatorFactory, EmbeddingsTranslatorFactory } from '../protocol/translator.js';
import type { UpstreamRequest } from '../upstream/types.js';
import type { Endpoint } from '../config-fields/fields.js';
import type { ProviderRoute, RouteContext, RouteKit } from './routes.js';
import type { EndpointOf } from './endpoint-names.js';
import type { PathRule } from './transparent-path.js';
import type { UsageReader } from './usage.js';

export interface ProviderContext {
  secrets: SecretResolver;
  logger: Logger;
  metrics: Metrics;
  /** Secrets a provider obtains itself (temporary credentials) are registered here, so logs mask them. */
  scrubber: SecretScrubber;
  /** The config file's folder: relative paths in an instance resolve against it. */
  baseDir: string;
  /** Told when an instance's fetched credential starts failing or recovers (credentials/kind.ts). */
  onCredentialHealth?: CredentialHealthListener | undefined;
}

/**
 * What a provider builds for one configured instance, typed by the credential `C` it holds, so
 * `sign` receives exactly what `credential` gives. `sign` is declared as a method: that makes a
 * `ProviderParts<BearerCredential>` a `ProviderParts` (what `setup` returns), which is sound
 * because the instance only ever passes `sign` a value this same `credential` returned.
 *
 * @example
 * const parts: ProviderParts<BearerCredential> = { credential, sign: (req, cred) => applyHeaderCredential(req, cred) };
 */
export interface ProviderParts<C extends Credential = Credential> {
  credential: CachedCredential<C>;
  /**
   * The request bound for `endpoint` with the credential applied (a header, a token, a
   * signature), as a new request: `req` stays unsigned, so a retry can sign it afresh.
   */
  sign(req: UpstreamRequest, credential: C, endpoint: Endpoint): UpstreamRequest;
  /** Headers the gateway adds to every forwarded request (from config, never from clients). */
  headers?: Record<string, string>;
  /** For region-aware providers; '' otherwise. */
  region?: string;
  /** Overrides the provider's default endpoint (the demo serves its own; Bedrock's depends on the region). */
  endpoint?: Endpoint;
  /** Further upstreams by name, chosen per request by the provider's `upstreamFor`. */
  upstreams?: Readonly<Record<string, Endpoint>>;
  /**
   * Protocol mode for this instance, when the translator needs the instance's config (a
   * project, an API version, deployment names); overrides the definition's `chat`.
   */
  chat?: ChatTranslatorFactory;
  /** Protocol-mode embeddings for this instance, when they need its config; overrides the definition's `embeddings`. */
  embeddings?: EmbeddingsTranslatorFactory;
  /** Direct paths for this instance, when they need its config; overrides the definition's `direct`. */
  direct?: DirectApis;
  /**
   * Transparent mode: checks a client's body before it is forwarded, for providers whose body
   * names the account that is billed (watsonx `project_id`/`space_id`). Returns the body to send
   * (the same buffer when nothing changes); throws a GatewayError to refuse the request.
   */
  transparentBody?(method: string, segments: readonly string[], body: Buffer | null): Buffer | null;
  /**
   * Transparent mode: the full native path for a short form clients send (Vertex express mode
   * leaves out the project and location, which the instance supplies), as segments; undefined
   * when the path is taken as sent. The allowlist, scopes and forwarding then see the full path.
   */
  expandNativePath?(segments: readonly string[]): readonly string[] | undefined;
  /**
   * Transparent-mode routes of this instance, when they depend on its config (Vertex: its own
   * project and location only); they replace the definition's `transparentRules`.
   */
  transparentRules?: readonly PathRule[];
  /**
   * The credential probe of this instance, when it needs the instance's config (an API
   * version, a project); overrides the definition's `probe`.
   */
  probe?: ProbeRequest;
  /** Releases what setup started. */
  close?(): Promise<void>;
}

/**
 * One provider: its config schema, its transparent-mode rules and how it reports usage. Adding
 * a provider is one folder exporting one of these plus one line in registry.ts.
 *
 * @example
 * export const anthropic = defineProvider({
 *   type: 'anthropic', schema, defaultEndpoint: 'https://api.anthropic.com',
 *   transparentRules: rules('POST v1/messages'), usage: anthropicUsage,
 *   setup: (name, config, ctx) => ({ credential, sign: applyHeaderCredential }),
 * });
 */
export interface ProviderDefinition<S extends z.ZodType<{ type: string }> = z.ZodType<{ type: string }>> {
  readonly type: string;
  readonly schema: S;
  /** The provider's public origin; undefined when an instance must name its endpoint. */
  readonly defaultEndpoint: string | undefined;
  /** Native routes a client may reach in transparent mode unless the instance adds more. */
  readonly transparentRules: readonly PathRule[];
  /** Client headers this provider must not receive (e.g. account selectors), lower case. */
  readonly strippedHeaders?: ReadonlySet<string>;
  readonly usage: UsageReader;
  /** Accept `%2F` inside path segments (Bedrock model ARNs); it is never decoded by the gateway. */
  readonly allowEncodedSlash?: boolean;
  /** The upstream (see ProviderParts.upstreams) a native path goes to; undefined for the main one. */
  upstreamFor?(segments: readonly string[]): string | undefined;
  /**
   * The provider's own error shape, for the gateway's own errors (bad gateway key, scope, limits)
   * on its transparent routes, so its SDKs raise their typed errors: a shape of its own, or
   * `aws` (AWS's markers, which AWS SDKs read); default OpenAI's.
   */
  readonly errorShape?: ErrorShape | 'aws';
  /**
   * The endpoint scope (endpoint-names.ts: `chat`, `embeddings`, `models`, ...) of a transparent
   * request by its method and checked native path, for keys and users with endpoint scopes;
   * undefined for a path it does not map (an operator's `allow_paths` beyond the inference
   * routes), which such a key is refused. Every route of `transparentRules` maps to one (the
   * provider contract test checks it).
   */
  readonly endpointOf?: EndpointOf;
  /** Where a transparent JSON body names the model (a dotted path), for key scopes; default `model`. */
  readonly bodyModelField?: string;
  /** The model a native path names (Bedrock: `/model/{modelId}/...`), for scopes and accounting. */
  modelFromPath?(segments: readonly string[]): string | undefined;
  /**
   * Other ids a key's model scope may allow the path's `model` under, for routes where the
   * provider names one model by another (Bedrock: CountTokens takes the bare `anthropic.X`, which
   * a scope on the inference profile `us.anthropic.X` covers). Checked after the model itself.
   */
  scopeAliases?(segments: readonly string[], model: string): readonly string[];
  /**
   * True when an upstream answer says the credential is stale (expired token, bad signature):
   * the gateway then invalidates it and retries the request once with a fresh one.
   */
  staleCredential?(status: number, headers: Readonly<Record<string, string | string[] | undefined>>): boolean;
  /** Protocol mode: OpenAI chat completions translated to this provider's API. */
  readonly chat?: ChatTranslatorFactory;
  /** Protocol mode: OpenAI embeddings translated to this provider's API. */
  readonly embeddings?: EmbeddingsTranslatorFactory;
  /** Protocol mode's direct paths, where a client protocol is this provider's own (see DirectApis). */
  readonly direct?: DirectApis;
  /**
   * Built-in list prices of this provider's models, keyed by model id or id prefix
   * (`gpt-4o` prices `gpt-4o-2024-08-06`); the composition root merges every provider's into the
   * table governance prices usage with, under the operator's `pricing.models`.
   */
  readonly prices?: Readonly<Record<string, ListPrice>>;
  /**
   * Other ids a model id of this provider is priced under, when its ids wrap a priced id
   * (Bedrock: `us.anthropic.claude-…` → `anthropic.claude-…`, `claude-…`). Given the id in lower
   * case; tried in order after the id itself.
   */
  priceIds?(modelId: string): readonly string[];
  /**
   * Where this provider's native request bodies put the completion cap, as JSON keys: top level
   * (`max_tokens`) or one level down (`inferenceConfig.maxTokens`). Governance's token estimate
   * reads the union of every provider's (governance/estimate.ts).
   */
  readonly completionCapFields?: readonly string[];
  /**
   * How to list the models the provider serves (its own list endpoint), for protocol mode's
   * `GET /v1/models` and `/openai/{instance}/models`; absent: only the configured aliases are listed.
   */
  readonly listModels?: ModelLister;
  /**
   * One cheap authenticated call that tells whether the provider accepts the instance's
   * credential (`config check --probe`, `/ready` with `readiness.probe_providers`), or why the
   * provider has none. Every provider declares one or the other (test/contracts/providers.test.ts);
   * an instance may override it (ProviderParts.probe).
   */
  readonly probe?: ProbeRequest | { readonly none: string };
  /** Routes this provider adds beside `/transparent/` (Bedrock's `/model/...`), built from the server's steps. */
  routes?<C extends RouteContext>(kit: RouteKit<C>): ReadonlyArray<ProviderRoute<C>>;
  /** What the contract tests exercise this provider with (test/contracts/providers.test.ts). */
  readonly samples?: ProviderSamples;
  setup(name: string, config: z.output<S>, ctx: ProviderContext): ProviderParts | Promise<ProviderParts>;
}

/**
 * A provider's model-list endpoint, page by page. The gateway sends each request through the
 * instance (signed like any other) and follows `next` until a page has none.
 *
 * @example
 * const lister: ModelLister = {
 *   request: (cursor) => ({ path: `/v1/models${cursor ? `?after_id=${cursor}` : ''}` }),
 *   page: (body) => ({ models: readIds(body), next: undefined }),
 * };
 */
export interface ModelLister {
  /**
   * The GET request for a page: path and query from the instance's base path (`/v1/models`) and
   * headers the API requires besides the credential; `cursor` is the previous page's `next`.
   */
  request(cursor: string | undefined): { path: string; headers?: Record<string, string> };
  /** The models of one page's JSON answer, and the cursor of the next page (undefined: the last). Throws on an answer it cannot read. */
  page(body: unknown): { models: ListedModel[]; next: string | undefined };
}

/**
 * A credential probe: a GET the instance signs and sends like any request (its custom headers
 * included), whose answer says whether the credential is accepted: 2xx ok, 401/403 rejected.
 * It must cost nothing and change nothing (a model or deployment list).
 *
 * @example
 * const probe: ProbeRequest = { path: '/v1/models' };
 */
export interface ProbeRequest {
  /** Path and query from the instance's base path; its first segments pick the upstream (`upstreamFor`). */
  readonly path: string;
  /** Headers the API requires besides the credential (`anthropic-version`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The client protocols a provider speaks itself, per model: a request in that protocol goes to
 * the provider as the client wrote it (the gateway only fills in what the host needs), instead
 * of through the OpenAI chat hub, so nothing is lost in translation. Undefined for a model means
 * the hub.
 *
 * @example
 * // Bedrock: Claude speaks Messages through InvokeModel; gpt-oss speaks Responses.
 * direct: {
 *   messages: (model) => (isBedrockAnthropicModel(model) ? BEDROCK_INVOKE : undefined),
 *   responses: (model) => (model.startsWith('openai.') ? { path: '/openai/v1/responses', model } : undefined),
 * }
 */
export interface DirectApis {
  /** The Anthropic Messages host serving `model`. */
  messages?(model: string): AnthropicHost | undefined;
  /** Where the OpenAI Responses API for `model` is served: the native path, and the model id its body names. */
  responses?(model: string): { path: string; model: string } | undefined;
}

/** One model a provider lists. */
export interface ListedModel {
  /** The id a chat or embeddings request names it by. */
  id: string;
  /** When it was created, epoch seconds, where the provider says (else 0). */
  created: number;
}

/** A list price, USD per million tokens. */
export interface ListPrice {
  input_per_mtok: number;
  output_per_mtok: number;
}

/**
 * Samples of a provider for the tests that run over the registry: the contract suite
 * (test/contracts/providers.test.ts), the translator properties (test/properties/) and
 * docs/protocol-mode.md's parameter table. Data only; nothing at runtime reads it.
 *
 * @example
 * samples: {
 *   instances: [{ config: { authentication: { type: 'api_key', api_key: '${env:PROP_KEY}' } }, chat: ['gpt-4o'], embeddings: [] }],
 *   transcripts: [{ dir: 'wire/openai', ext: '.sse', contentType: 'text/event-stream' }],
 * }
 */
export interface ProviderSamples {
  /**
   * Instance blocks (without `type`) that validate, each with the models that pick its chat and
   * embeddings translators; secrets are `${env:PROP_KEY}`. The first instance's first chat model
   * is this provider's column of the parameter table.
   */
  readonly instances: ReadonlyArray<{ readonly config: Readonly<Record<string, unknown>>; readonly chat: readonly string[]; readonly embeddings: readonly string[] }>;
  /**
   * This provider's column of docs/protocol-mode.md's parameter table: its heading (default the
   * type) and its place (columns are sorted by it; providers without one follow, in registry
   * order). Neighbours that share one chat translator share one column, headed by both.
   */
  readonly column?: { readonly heading?: string; readonly place: number };
  /**
   * Protocol-mode chat sends every OpenAI parameter on (under the API's own name) except the
   * ones it `drops`: the OpenAI-compatible base. The parameter-table test holds such a provider
   * to exactly that, and every other one to refusing something it cannot honour.
   */
  readonly passThrough?: { readonly drops: readonly string[] };
  /**
   * Recorded wire transcripts (under ../shared/testdata) its usage reader must read usage from,
   * or why it has none.
   */
  readonly transcripts: readonly UsageTranscripts[] | { readonly none: string };
}

/** The files of `dir` whose names end in `ext` (and match `match`), as answers of `contentType`. */
export interface UsageTranscripts {
  readonly dir: string;
  readonly ext: string;
  readonly match?: RegExp;
  readonly contentType: string;
  /**
   * `none`: the recordings report no tokens (their counts are zeros), so the reader must read
   * them through without reporting usage. Default: it reports tokens from at least one file.
   */
  readonly usage?: 'none';
}

export function defineProvider<S extends z.ZodType<{ type: string }>>(definition: ProviderDefinition<S>): ProviderDefinition<S> {
  return definition;
}
