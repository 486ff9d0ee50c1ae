import { GatewayError } from '../../errors/gateway-error.js';
import { openaiErrorMessage } from './chat.js';
import { parseProviderJson } from '../../protocol/json.js';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../../protocol/openai.js';
import type { EmbeddingsTranslator, EmbeddingsTranslatorFactory, NativeRequest } from '../../protocol/translator.js';

const DEFAULT_PATH = '/v1/embeddings';

/**
 * Protocol-mode embeddings for OpenAI-compatible providers (OpenAI, the demo upstream, Ollama,
 * Azure OpenAI): the request goes out as the client wrote it with the provider's model id,
 * `encoding_format` included; the answer is parsed for usage. A provider that ignores `base64`
 * and answers floats is fine: the gateway converts to the format asked for.
 */
export const openaiCompatibleEmbeddings: EmbeddingsTranslatorFactory = (options) => new OpenAICompatibleEmbeddings(options.model, DEFAULT_PATH, openaiErrorMessage);

/** What an OpenAI-compatible embeddings API may do differently from OpenAI's; every field is optional. */
export interface OpenAICompatibleEmbeddingsOptions {
  /** The native path and query for a model id (default `/v1/embeddings`); may throw GatewayError('invalid_request'). */
  path?(model: string): string;
  /** The message of an error answer in another JSON shape; default {@link openaiErrorMessage}. */
  errorMessage?(body: Buffer): string | undefined;
}

/**
 * The translator above for an API that differs as `options` say; without any option,
 * {@link openaiCompatibleEmbeddings} itself.
 *
 * @example
 * // Azure: per deployment, with an API version.
 * openaiCompatibleEmbeddingsWith({ path: (model) => `/openai/deployments/${model}/embeddings?api-version=2024-10-21` })
 */
export function openaiCompatibleEmbeddingsWith(options: OpenAICompatibleEmbeddingsOptions): EmbeddingsTranslatorFactory {
  if (!options.path && !options.errorMessage) return openaiCompatibleEmbeddings;
  const path = options.path ?? (() => DEFAULT_PATH);
  const errorMessage = options.errorMessage ?? openaiErrorMessage;
  return (translator) => new OpenAICompatibleEmbeddings(translator.model, path(translator.model), errorMessage);
}

/** An embeddings list whose every item's `embedding` is numbers or a base64 string. */
function isEmbeddingsList(v: unknown): v is EmbeddingsResponse {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const { data, usage } = v as { data?: unknown; usage?: unknown };
  if (usage !== undefined && (usage === null || typeof usage !== 'object')) return false;
  return (
    Array.isArray(data) &&
    data.every((item: unknown) => {
      const e = item !== null && typeof item === 'object' ? (item as { embedding?: unknown }).embedding : undefined;
      return typeof e === 'string' || (Array.isArray(e) && e.every((x) => typeof x === 'number'));
    })
  );
}

class OpenAICompatibleEmbeddings implements EmbeddingsTranslator {
  readonly #model: string;
  readonly #path: string;
  readonly #errorMessage: (body: Buffer) => string | undefined;
  #usage: { inputTokens: number } | undefined;

  constructor(model: string, path: string, errorMessage: (body: Buffer) => string | undefined) {
    this.#model = model;
    this.#path = path;
    this.#errorMessage = errorMessage;
  }

  request(body: EmbeddingsRequest): NativeRequest {
    return {
      path: this.#path,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: Buffer.from(JSON.stringify({ ...body, model: this.#model })),
      dropped: [],
    };
  }

  response(body: Buffer): EmbeddingsResponse {
    const answer = parseProviderJson<unknown>(body, 'the provider');
    // Passed on as it came (the gateway only re-encodes each embedding): check what is read.
    if (!isEmbeddingsList(answer)) throw new GatewayError('upstream_error', 'the provider answered without a "data" list of embeddings');
    const prompt = answer.usage?.prompt_tokens;
    if (typeof prompt === 'number') this.#usage = { inputTokens: prompt };
    return answer;
  }

  errorMessage(body: Buffer): string | undefined {
    return this.#errorMessage(body);
  }

  usage(): { inputTokens: number } | undefined {
    return this.#usage;
  }
}
