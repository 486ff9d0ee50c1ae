import { GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse } from './openai.js';
import { chatRequestSchema, embeddingsRequestSchema } from './openai-schema.js';

/**
 * Protocol mode: an OpenAI chat request translated to a provider's native API and back. One
 * translator per request (it holds the stream's state); never shared.
 *
 * @example
 * const t = instance.provider.chat!({ model, id, created, stream: true, includeUsage: true });
 * const native = t.request(body);               // → forwarded to instance endpoint + native.path
 * for (const chunk of upstreamBody) send(t.push(chunk));
 * send(t.end());                                // throws StreamIncomplete if the provider never finished
 */

/** The native request, relative to the instance's endpoint (its base path is prepended). */
export interface NativeRequest {
  /** Native path and query, starting with "/". */
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /**
   * OpenAI parameters the provider has no equivalent for and that are safe to ignore; reported
   * to the client in `x-llmproxy-dropped-params`. Parameters that would change the answer's
   * meaning are refused with a GatewayError('invalid_request') instead.
   */
  dropped: string[];
}

export interface TranslatorOptions {
  /** The provider's model id (after alias resolution). */
  model: string;
  /** `chatcmpl-...` id for the answer. */
  id: string;
  /** Unix seconds. */
  created: number;
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with `choices: []` and `usage`. */
  includeUsage: boolean;
  /**
   * Longest line (and event) accepted in the provider's stream, in bytes (`server.stream_line_limit`,
   * set by Instance); translators pass it to their SseDecoder, which throws a GatewayError past it.
   */
  streamLineLimit?: number | undefined;
}

/**
 * A translator's refusal of a request the schema accepted but the provider cannot honour: 400
 * `invalid_request`, whose `param` is the field the message starts with, in OpenAI's spelling
 * (`temperature: Anthropic accepts 0 to 1`, `messages[2].content[0]: ...`, `n=2 is not ...`).
 *
 * @example
 * throw refusal(`tools[${i}].type: only "function" tools are supported`); // param "tools[0].type"
 */
export function refusal(message: string): GatewayError {
  return new GatewayError('invalid_request', message, { param: leadingParam(message) });
}

const LEADING_PATH = /^([a-z_][a-z0-9_]*)((?:\[\d+\]|\.[a-z_][a-z0-9_]*)*)(?=$|[:= ])/;
/** Top-level request fields a message may start with: the schemas' own, and those OpenAI has beyond them. */
const REQUEST_FIELDS: ReadonlySet<string> = new Set([
  ...Object.keys(chatRequestSchema.shape),
  ...Object.keys(embeddingsRequestSchema.shape),
  'metadata',
  'store',
  'service_tier',
  'prediction',
  'verbosity',
  'audio',
  'functions',
  'function_call',
  'web_search_options',
  'prompt_cache_key',
]);

/** The request field path a refusal message starts with, when its first segment is a request field. */
export function leadingParam(message: string): string | undefined {
  const m = LEADING_PATH.exec(message);
  return m !== null && REQUEST_FIELDS.has(m[1]!) ? m[0] : undefined;
}

/** A provider stream that ended without its terminal event; the client gets an error event. */
export class StreamIncomplete extends Error {
  override readonly name = 'StreamIncomplete';
}

export interface ChatTranslator {
  /** Throws GatewayError('invalid_request') for a parameter the provider cannot honour. */
  request(body: ChatRequest): NativeRequest;
  /** A successful non-streaming answer (2xx body) as a chat.completion. */
  response(body: Buffer): ChatCompletion;
  /** Streaming: upstream bytes in, OpenAI chunks out (possibly none). */
  push(chunk: Buffer): ChatCompletionChunk[];
  /** The upstream stream ended: final chunks; throws StreamIncomplete if it ended early. */
  end(): ChatCompletionChunk[];
  /** The message of a provider error body, for the OpenAI error object; undefined if none. */
  errorMessage(body: Buffer): string | undefined;
  /** Token usage seen so far (for accounting), or undefined. */
  usage(): { inputTokens: number; outputTokens: number } | undefined;
}

export type ChatTranslatorFactory = (options: TranslatorOptions) => ChatTranslator;

export interface EmbeddingsTranslatorOptions {
  /** The provider's model id (after alias resolution). */
  model: string;
}

/**
 * Protocol mode, embeddings: an OpenAI embeddings request translated to one native request and
 * its answer back. One translator per request (it keeps the usage it read).
 *
 * `response` may return each embedding as floats or, when the provider honoured
 * `encoding_format: base64`, as a base64 string; the gateway then converts every embedding to
 * the format the client asked for (see protocol/embeddings.ts), so translators never encode.
 *
 * @example
 * const t = instance.embeddings!({ model: 'amazon.titan-embed-text-v2:0' });
 * const native = t.request({ model, input: 'hello' }); // → POST endpoint + native.path
 * const answer = t.response(upstreamBody);             // { object: 'list', data: [{ embedding: [...] }], ... }
 */
export interface EmbeddingsTranslator {
  /** Throws GatewayError('invalid_request') for an input or parameter the provider cannot honour. */
  request(body: EmbeddingsRequest): NativeRequest;
  /** A successful answer (2xx body) as OpenAI's embeddings list. */
  response(body: Buffer): EmbeddingsResponse;
  /** The message of a provider error body, for the OpenAI error object; undefined if none. */
  errorMessage(body: Buffer): string | undefined;
  /** Input tokens the provider reported (for accounting), or undefined. */
  usage(): { inputTokens: number } | undefined;
}

export type EmbeddingsTranslatorFactory = (options: EmbeddingsTranslatorOptions) => EmbeddingsTranslator;

/**
 * What a translator does with each OpenAI chat parameter, exported beside it so
 * docs/protocol-mode.md's table is checked against the code: `mapped` (to the provider's
 * equivalent), `passthrough` (sent as is), `dropped` (ignored, listed in
 * `x-llmproxy-dropped-params`), `refused` (400). A parameter not listed is refused.
 */
export type ParameterRule = 'mapped' | 'passthrough' | 'dropped' | 'refused';
export type ParameterRules = Readonly<Record<string, ParameterRule>>;
