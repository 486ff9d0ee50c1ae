import { GatewayError } from '../errors/gateway-error.js';
import type { Embedding, EmbeddingsInput, EmbeddingsRequest, EmbeddingsResponse } from './openai.js';

/**
 * What every embeddings translation shares: reading OpenAI's `input` as texts for providers
 * that take text only, and the `encoding_format` conversion the gateway applies to every answer.
 * The `input` shapes themselves are checked with the request (openai-schema.ts).
 */

/**
 * The input as texts, for providers that embed text only; pre-tokenised input (token ids are
 * OpenAI's tokeniser's) is refused.
 */
export function textInputs(input: EmbeddingsInput, provider: string): string[] {
  if (typeof input === 'string') return [input];
  if (input.every((i): i is string => typeof i === 'string')) return input;
  throw new GatewayError('invalid_request', `${provider} embeds text only: "input" must be a string or an array of strings, not token ids`);
}

/** The request fields every embeddings translator reads; `user` is reported as dropped. */
const KNOWN_FIELDS: ReadonlySet<string> = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user']);

/** Refuses, naming every one, the request fields no embeddings translator knows. */
export function refuseUnknownFields(body: EmbeddingsRequest, provider: string): void {
  const unknown = Object.keys(body).filter((k) => !KNOWN_FIELDS.has(k));
  if (unknown.length > 0) throw new GatewayError('invalid_request', `${provider} embeddings do not support ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')}`);
}

/** OpenAI's embeddings list; the provider's input tokens are both prompt and total. */
export function embeddingsList(model: string, data: Embedding[], tokens: number): EmbeddingsResponse {
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/**
 * Each embedding in the format the client asked for: `base64` is the float32 values,
 * little-endian, in base64, as OpenAI sends them (and as the openai SDK, which asks for base64
 * by default, decodes them); `float` (the default) is a number array. A provider may answer in
 * either form; embeddings already in the wanted form are left alone.
 */
export function encodeEmbeddings(response: EmbeddingsResponse, format: 'float' | 'base64'): EmbeddingsResponse {
  for (const item of response.data) {
    const e = item.embedding;
    if (format === 'base64' && Array.isArray(e)) item.embedding = float32Base64(e);
    else if (format === 'float' && typeof e === 'string') item.embedding = float32Values(e);
  }
  return response;
}

export function float32Base64(values: readonly number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i]!, i * 4);
  return buf.toString('base64');
}

export function float32Values(base64: string): number[] {
  const buf = Buffer.from(base64, 'base64');
  if (buf.length % 4 !== 0) throw new GatewayError('upstream_error', 'the provider answered a base64 embedding that is not float32 values');
  const out = new Array<number>(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}
