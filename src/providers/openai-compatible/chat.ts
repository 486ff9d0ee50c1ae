import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { parseProviderJson } from '../../protocol/json.js';
import { SseDecoder, type SseEvent } from '../../protocol/sse.js';
import { StreamIncomplete, type ChatTranslator, type ChatTranslatorFactory, type NativeRequest } from '../../protocol/translator.js';

const DEFAULT_PATH = '/v1/chat/completions';

/** What an OpenAI-compatible API may do differently from OpenAI's; every field is optional. */
export interface OpenAICompatibleChatOptions {
  /**
   * The native path and query for a provider model id (default `/v1/chat/completions`). May
   * throw GatewayError('invalid_request') for a model it cannot address.
   */
  path?(model: string): string;
  /** OpenAI parameter → the name the API reads it under (`{ max_completion_tokens: 'max_tokens' }`). */
  renames?: Readonly<Record<string, string>>;
  /** OpenAI parameters the API lacks: not sent, and reported in `x-llmproxy-dropped-params`. */
  drops?: readonly string[];
  /** The message of an error answer whose JSON is not OpenAI's `{"error": {"message"}}`; default {@link openaiErrorMessage}. */
  errorMessage?(body: Buffer): string | undefined;
}

/** The options above resolved once per factory, so a request pays only for the hooks it has. */
interface Shape {
  path: (model: string) => string;
  renames: ReadonlyArray<readonly [string, string]>;
  drops: readonly string[];
  errorMessage: (body: Buffer) => string | undefined;
}

const OPENAI_SHAPE: Shape = { path: () => DEFAULT_PATH, renames: [], drops: [], errorMessage: openaiErrorMessage };

/**
 * Protocol mode for OpenAI-compatible providers (OpenAI, the demo upstream, xAI, Ollama, Azure
 * OpenAI): the request goes out as the client wrote it with the provider's model id; answers
 * come back parsed (for usage and stream integrity) and re-serialised unchanged. A stream must
 * end with `data: [DONE]`. One translator per request; it holds the stream's decoder and state.
 */
export const openaiCompatibleChat: ChatTranslatorFactory = (options) => new OpenAICompatibleChat(options.model, OPENAI_SHAPE, options.streamLineLimit);

/**
 * The translator above for an API that differs from OpenAI's as `options` say; without any
 * option, {@link openaiCompatibleChat} itself (so providers that differ in nothing share it).
 *
 * @example
 * // Azure OpenAI: the deployment and the API version are in the URL.
 * chat: openaiCompatibleChatWith({ path: (model) => `/openai/deployments/${model}/chat/completions?api-version=2024-10-21` })
 * // An API that calls the cap `max_tokens` only and has no `seed`.
 * chat: openaiCompatibleChatWith({ renames: { max_completion_tokens: 'max_tokens' }, drops: ['seed'] })
 */
export function openaiCompatibleChatWith(options: OpenAICompatibleChatOptions): ChatTranslatorFactory {
  const renames = Object.entries(options.renames ?? {});
  const drops = options.drops ?? [];
  if (!options.path && renames.length === 0 && drops.length === 0 && !options.errorMessage) return openaiCompatibleChat;
  const shape: Shape = {
    path: options.path ?? OPENAI_SHAPE.path,
    renames,
    drops,
    errorMessage: options.errorMessage ?? openaiErrorMessage,
  };
  return (translator) => new OpenAICompatibleChat(translator.model, shape, translator.streamLineLimit);
}

class OpenAICompatibleChat implements ChatTranslator {
  readonly #model: string;
  readonly #path: string;
  readonly #shape: Shape;
  readonly #sse: SseDecoder;
  #done = false;
  #failure: StreamIncomplete | undefined;
  #usage: { inputTokens: number; outputTokens: number } | undefined;

  constructor(model: string, shape: Shape, lineLimit: number | undefined) {
    this.#model = model;
    this.#path = shape.path(model);
    this.#shape = shape;
    this.#sse = new SseDecoder({ lineLimit });
  }

  request(body: ChatRequest): NativeRequest {
    const native: Record<string, unknown> = { ...body, model: this.#model };
    const dropped: string[] = [];
    for (const name of this.#shape.drops) {
      if (!Object.hasOwn(native, name)) continue;
      delete native[name];
      dropped.push(name);
    }
    for (const [from, to] of this.#shape.renames) {
      if (!Object.hasOwn(native, from)) continue;
      native[to] = native[from];
      delete native[from];
    }
    return {
      path: this.#path,
      headers: { 'content-type': 'application/json', accept: body.stream ? 'text/event-stream' : 'application/json' },
      body: Buffer.from(JSON.stringify(native)),
      dropped,
    };
  }

  response(body: Buffer): ChatCompletion {
    const completion = parseProviderJson<unknown>(body, 'the provider');
    // Passed on as it came, so it must at least be an object (JSON `null` or `42` is not an answer).
    if (!isObject(completion)) throw new GatewayError('upstream_error', 'the provider answered with JSON that is not an object');
    this.#noteUsage(completion['usage']);
    return completion as unknown as ChatCompletion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    return this.#events(this.#sse.push(chunk));
  }

  end(): ChatCompletionChunk[] {
    const rest = this.#events(this.#sse.end());
    if (this.#failure) throw this.#failure;
    if (!this.#done) throw new StreamIncomplete('the provider stream ended without [DONE]');
    return rest;
  }

  /**
   * Chunks of the events; an error event is thrown on the next call, after the chunks that came
   * before it in the same read are delivered, so the result does not depend on how reads split.
   */
  #events(events: SseEvent[]): ChatCompletionChunk[] {
    if (this.#failure) throw this.#failure;
    const out: ChatCompletionChunk[] = [];
    for (const event of events) {
      if (event.data === '[DONE]') {
        this.#done = true;
        continue;
      }
      const parsed = parseProviderJson<unknown>(event.data, 'the provider');
      if (!isObject(parsed)) throw (this.#failure = new StreamIncomplete('the provider sent a stream event that is not a JSON object'));
      if (parsed['error']) {
        this.#failure = new StreamIncomplete(messageOf(parsed['error']) ?? 'the provider reported an error mid-stream');
        if (out.length === 0) throw this.#failure;
        return out;
      }
      this.#noteUsage(parsed['usage']);
      // A chunk without choices and without usage carries nothing for the client: Azure opens
      // every stream with one holding only `prompt_filter_results` (and empty id and model),
      // which clients reading `choices[0]` or the chunk's id would trip over.
      if (Array.isArray(parsed['choices']) && parsed['choices'].length === 0 && !parsed['usage']) continue;
      out.push(parsed as unknown as ChatCompletionChunk);
    }
    return out;
  }

  errorMessage(body: Buffer): string | undefined {
    return this.#shape.errorMessage(body);
  }

  usage(): { inputTokens: number; outputTokens: number } | undefined {
    return this.#usage;
  }

  #noteUsage(usage: unknown): void {
    if (isObject(usage)) this.#usage = { inputTokens: count(usage['prompt_tokens']), outputTokens: count(usage['completion_tokens']) };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A token count as reported; anything but a finite number counts as 0. */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * The text of an `error` member: OpenAI's object (`{"error": {"message": ...}}`), or a string as
 * xAI (`{"code": "...", "error": "..."}`) and Ollama's native API send it.
 */
function messageOf(error: unknown): string | undefined {
  if (typeof error === 'string') return error === '' ? undefined : error;
  const message = error !== null && typeof error === 'object' ? (error as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : undefined;
}


/** The message of an OpenAI-style error body (`{"error": {"message"}}`, or a string as xAI and Ollama send it). */
export function openaiErrorMessage(body: Buffer): string | undefined {
  try {
    return messageOf((JSON.parse(body.toString('utf8')) as { error?: unknown }).error);
  } catch {
    return undefined;
  }
}
