import type { GatewayError } from '../errors/gateway-error.js';
import type { ChatStream, EventDecoder } from './chat-stream.js';
import type { TokenCounts } from './chunks.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from './openai.js';
import type { ChatTranslator, NativeRequest } from './translator.js';

/**
 * A ChatTranslator assembled from a provider's parts, so no translator re-implements the calls
 * around them (the lazy stream, its end, which usage to report).
 *
 * @example
 * export const ociChat = (config: OciChatConfig): ChatTranslatorFactory => (options) =>
 *   nativeChat({
 *     request: (body) => ociRequest(body, options, config),
 *     response: (body) => ociResponse(body, options),
 *     errorMessage: ociErrorMessage,
 *     stream: () => ({ decoder: sseDecoder(options.streamLineLimit), events: new ChatStream(options, new OciEvents(options.model), 'at-once') }),
 *   });
 */

/**
 * A non-streaming answer and the usage it reported; a `failure` (an upstream_error) when the
 * tokens were spent on an answer that cannot be used, so they are still counted.
 */
export type NativeAnswer = { completion: ChatCompletion; usage: TokenCounts | undefined } | { failure: GatewayError; usage: TokenCounts | undefined };

/** The provider's parts. `stream` is called once, at the first upstream bytes (after `request`). */
export interface NativeChat<E> {
  request(body: ChatRequest): NativeRequest;
  response(body: Buffer): NativeAnswer;
  errorMessage(body: Buffer): string | undefined;
  stream(): { decoder: EventDecoder<E>; events: ChatStream<E> };
}

export function nativeChat<E>(parts: NativeChat<E>): ChatTranslator {
  return new NativeChatTranslator(parts);
}

/** Per request, never shared: holds the stream (decoder and skeleton) and the answer's usage. */
class NativeChatTranslator<E> implements ChatTranslator {
  readonly #parts: NativeChat<E>;
  #stream: { decoder: EventDecoder<E>; events: ChatStream<E> } | undefined;
  #answerUsage: TokenCounts | undefined;

  constructor(parts: NativeChat<E>) {
    this.#parts = parts;
  }

  request(body: ChatRequest): NativeRequest {
    return this.#parts.request(body);
  }

  response(body: Buffer): ChatCompletion {
    const answer = this.#parts.response(body);
    this.#answerUsage = answer.usage;
    if ('failure' in answer) throw answer.failure;
    return answer.completion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    const { decoder, events } = (this.#stream ??= this.#parts.stream());
    return events.translate(() => decoder.push(chunk));
  }

  end(): ChatCompletionChunk[] {
    const { decoder, events } = (this.#stream ??= this.#parts.stream());
    // The last event may lack its blank line or frame end: the decoder's end() still returns it.
    const out = events.translate(() => decoder.end());
    out.push(...events.end());
    return out;
  }

  errorMessage(body: Buffer): string | undefined {
    return this.#parts.errorMessage(body);
  }

  usage(): TokenCounts | undefined {
    return this.#stream?.events.usage() ?? (this.#answerUsage && { ...this.#answerUsage });
  }
}
