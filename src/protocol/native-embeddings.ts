import type { EmbeddingsRequest, EmbeddingsResponse } from './openai.js';
import type { EmbeddingsTranslator, NativeRequest } from './translator.js';

/**
 * An EmbeddingsTranslator assembled from a provider's parts: the usage it reports is the
 * answer's own `usage.prompt_tokens`, so no translator keeps it a second time.
 *
 * @example
 * export const titanEmbeddings: EmbeddingsTranslatorFactory = (options) => nativeEmbeddings(new TitanEmbeddings(options.model));
 */
export interface NativeEmbeddings {
  request(body: EmbeddingsRequest): NativeRequest;
  /** A successful answer as OpenAI's list, with the input tokens the provider counted. */
  response(body: Buffer): EmbeddingsResponse;
  errorMessage(body: Buffer): string | undefined;
}

export function nativeEmbeddings(parts: NativeEmbeddings): EmbeddingsTranslator {
  let usage: { inputTokens: number } | undefined;
  return {
    request: (body) => parts.request(body),
    response: (body) => {
      const answer = parts.response(body);
      usage = { inputTokens: answer.usage.prompt_tokens };
      return answer;
    },
    errorMessage: (body) => parts.errorMessage(body),
    usage: () => usage,
  };
}
