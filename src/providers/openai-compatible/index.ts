import type { z } from 'zod';
import type { PathRule } from '../transparent-path.js';
import type { ProviderDefinition, ProviderSamples, UsageTranscripts } from '../types.js';
import type { UsageReader } from '../usage.js';
import { SAMPLE_API_KEY_INSTANCE } from './auth.js';
import { openaiCompatibleChatWith } from './chat.js';
import { openaiCompatibleEmbeddingsWith } from './embeddings.js';
import { CHAT_ROUTE, EMBEDDINGS_ROUTE, MODELS_ROUTE, RESPONSES_ROUTE, OPENAI_CAP_FIELDS, OPENAI_ENDPOINTS, OPENAI_INFERENCE_RULES } from './compatible.js';
import { OPENAI_MODEL_LIST } from './models.js';
import { openaiUsage } from './usage.js';

export { bearerApiKeyInstances } from './auth.js';
export { OPENAI_ENDPOINTS, OPENAI_INFERENCE_RULES, bearerFromApiKey } from './compatible.js';

/** OpenAI's recorded chat streams: what {@link openaiUsage} is checked against. */
export const OPENAI_TRANSCRIPTS: readonly UsageTranscripts[] = [{ dir: 'wire/openai', ext: '.sse', contentType: 'text/event-stream; charset=utf-8' }];

/**
 * A provider that speaks (part of) the OpenAI API: a ProviderDefinition without the parts the
 * base derives, plus how the API differs from OpenAI's. Everything else of a definition passes
 * through: `routes` for extra routes, `strippedHeaders`, `staleCredential`, `prices`, ...
 */
export interface CompatibleProviderOptions<S extends z.ZodType<{ type: string }>>
  extends Omit<ProviderDefinition<S>, 'transparentRules' | 'usage' | 'chat' | 'embeddings' | 'completionCapFields' | 'samples'> {
  /**
   * Which of OpenAI's routes ({@link OPENAI_INFERENCE_RULES}, by `source`, e.g.
   * `POST v1/chat/completions`) the API serves at its root; default all. Protocol-mode chat and
   * embeddings are offered when their route is served.
   */
  readonly served?: ReadonlySet<string>;
  /** Transparent-mode routes of the API's own beyond OpenAI's (Ollama's `api/chat`). */
  readonly nativeRules?: readonly PathRule[];
  /** OpenAI chat parameter → the name the API reads it under (`{ max_completion_tokens: 'max_tokens' }`). */
  readonly renames?: Readonly<Record<string, string>>;
  /** OpenAI chat parameters the API lacks: not sent, and reported to the client as dropped. */
  readonly drops?: readonly string[];
  /** The message of an error answer whose JSON is not OpenAI's `{"error": {"message"}}`. */
  errorMessage?(body: Buffer): string | undefined;
  /** Default OpenAI's usage fields. */
  readonly usage?: UsageReader;
  /**
   * Default: the instance block {@link SAMPLE_API_KEY_INSTANCE} with `sampleModel` for chat and
   * `text-embedding-3-small` for embeddings, checked against OpenAI's transcripts (with the
   * default `usage`).
   */
  readonly samples?: ProviderSamples;
  /** The chat model of the default samples; default `gpt-4o`. */
  readonly sampleModel?: string;
  /** The parameter-table column of the default samples (ProviderSamples.column). */
  readonly column?: ProviderSamples['column'];
}

/**
 * Defines an OpenAI-compatible provider: its transparent rules are the OpenAI routes it serves
 * plus its own, its protocol mode is the pass-through translators with its renames, drops and
 * error reading, its usage and completion caps are OpenAI's.
 *
 * @example
 * export const xai = defineCompatibleProvider({
 *   type: 'xai',
 *   ...bearerApiKeyInstances('xai'),
 *   defaultEndpoint: 'https://api.x.ai',
 *   served: new Set(['POST v1/chat/completions', 'GET v1/models']),
 *   renames: { max_completion_tokens: 'max_tokens' },
 * });
 */
export function defineCompatibleProvider<S extends z.ZodType<{ type: string }>>(options: CompatibleProviderOptions<S>): ProviderDefinition<S> {
  const { served, nativeRules = [], renames = {}, drops, errorMessage, usage = openaiUsage, samples, sampleModel = 'gpt-4o', column, ...definition } = options;
  const serves = (route: string) => served === undefined || served.has(route);
  const chat = serves(CHAT_ROUTE) ? openaiCompatibleChatWith({ renames, ...(drops ? { drops } : {}), ...(errorMessage ? { errorMessage } : {}) }) : undefined;
  const embeddings = serves(EMBEDDINGS_ROUTE) ? openaiCompatibleEmbeddingsWith(errorMessage ? { errorMessage } : {}) : undefined;
  return {
    ...definition,
    transparentRules: [...OPENAI_INFERENCE_RULES.filter((r) => serves(r.source)), ...nativeRules],
    // The API's own paths first, then OpenAI's.
    endpointOf: definition.endpointOf ? (method, segments) => definition.endpointOf!(method, segments) ?? OPENAI_ENDPOINTS(method, segments) : OPENAI_ENDPOINTS,
    usage,
    ...(chat ? { chat } : {}),
    ...(embeddings ? { embeddings } : {}),
    // The Responses API goes to the provider's own where it serves it.
    ...(definition.direct === undefined && serves(RESPONSES_ROUTE) ? { direct: { responses: (model: string) => ({ path: '/v1/responses', model }) } } : {}),
    // The list endpoint where the API serves OpenAI's; a definition's own lister wins.
    ...(definition.listModels === undefined && serves(MODELS_ROUTE) ? { listModels: OPENAI_MODEL_LIST } : {}),
    // The credential probe: the definition's own, else the first page of its model list.
    ...(definition.probe === undefined && (definition.listModels !== undefined || serves(MODELS_ROUTE)) ? { probe: (definition.listModels ?? OPENAI_MODEL_LIST).request(undefined) } : {}),
    // A renamed cap is read under its new name too.
    completionCapFields: [...new Set([...OPENAI_CAP_FIELDS, ...OPENAI_CAP_FIELDS.flatMap((f) => (Object.hasOwn(renames, f) ? [renames[f]!] : []))])],
    samples: samples ?? {
      instances: [{ config: SAMPLE_API_KEY_INSTANCE, chat: chat ? [sampleModel] : [], embeddings: embeddings ? ['text-embedding-3-small'] : [] }],
      ...(column ? { column } : {}),
      passThrough: { drops: drops ?? [] },
      // A provider with its own usage reader names its transcripts (the contract test refuses none).
      transcripts: usage === openaiUsage ? OPENAI_TRANSCRIPTS : [],
    },
  };
}
