import { GatewayError } from '../../errors/gateway-error.js';
import { embeddingsList, refuseUnknownFields, textInputs } from '../../protocol/embeddings.js';
import { parseProviderJson } from '../../protocol/json.js';
import type { Embedding, EmbeddingsRequest, EmbeddingsResponse } from '../../protocol/openai.js';
import { nativeEmbeddings, type NativeEmbeddings } from '../../protocol/native-embeddings.js';
import type { EmbeddingsTranslatorFactory, NativeRequest } from '../../protocol/translator.js';
import type { WatsonxChatConfig, WatsonxScope } from './chat/request.js';
import { watsonxErrorMessage } from './chat/response.js';

/**
 * OpenAI embeddings → IBM watsonx.ai text embeddings (https://cloud.ibm.com/apidocs/watsonx-ai#text-embeddings):
 * `POST /ml/v1/text/embeddings?version=…` with `{"model_id", "inputs": [...], "project_id" | "space_id"}`
 * → `{"model_id", "results": [{"embedding": [...]}], "created_at", "input_token_count"}`.
 *
 * | OpenAI            | watsonx                                                        |
 * |-------------------|----------------------------------------------------------------|
 * | model             | `model_id`                                                     |
 * | (instance config) | `project_id` or `space_id`; `version` query parameter          |
 * | input             | `inputs`: every text (watsonx takes a batch); token ids: 400   |
 * | dimensions        | refused: watsonx embedding models have a fixed size            |
 * | encoding_format   | applied by the gateway (floats from watsonx)                   |
 * | user              | dropped                                                        |
 *
 * `parameters.truncate_input_tokens` has no OpenAI equivalent and is not sent: an input longer
 * than the model takes is watsonx's 400, as it is OpenAI's.
 */
export function watsonxEmbeddings(config: WatsonxChatConfig): EmbeddingsTranslatorFactory {
  const path = `/ml/v1/text/embeddings?version=${encodeURIComponent(config.version)}`;
  return (options) => nativeEmbeddings(new WatsonxEmbeddings(options.model, config.scope, path));
}

class WatsonxEmbeddings implements NativeEmbeddings {
  readonly #model: string;
  readonly #scope: WatsonxScope;
  readonly #path: string;
  /** How many texts the request sent; the answer must hold as many embeddings. */
  #inputs: number | undefined;

  constructor(model: string, scope: WatsonxScope, path: string) {
    this.#model = model;
    this.#scope = scope;
    this.#path = path;
  }

  request(body: EmbeddingsRequest): NativeRequest {
    const inputs = textInputs(body.input, 'watsonx.ai');
    refuseUnknownFields(body, 'watsonx.ai');
    if (body.dimensions !== undefined && body.dimensions !== null) {
      throw new GatewayError('invalid_request', 'watsonx.ai embedding models have a fixed size: "dimensions" is not supported');
    }
    this.#inputs = inputs.length;
    return {
      path: this.#path,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: Buffer.from(JSON.stringify({ model_id: this.#model, inputs, ...this.#scope })),
      dropped: body.user === undefined ? [] : ['user'],
    };
  }

  response(body: Buffer): EmbeddingsResponse {
    const answer: { results?: unknown; input_token_count?: unknown } = parseProviderJson<{ results?: unknown; input_token_count?: unknown } | null>(body, 'watsonx') ?? {};
    if (!Array.isArray(answer.results)) throw new GatewayError('upstream_error', 'watsonx answered without "results"');
    if (this.#inputs !== undefined && answer.results.length !== this.#inputs) {
      throw new GatewayError('upstream_error', `watsonx answered ${answer.results.length} embeddings for ${this.#inputs} inputs`);
    }
    const data: Embedding[] = (answer.results as Array<{ embedding?: unknown }>).map((r, index) => {
      const e = r?.embedding;
      if (!Array.isArray(e) || !e.every((v) => typeof v === 'number')) throw new GatewayError('upstream_error', `watsonx answered result ${index} without an "embedding" array`);
      return { object: 'embedding', index, embedding: e as number[] };
    });
    const count = answer.input_token_count;
    const tokens = typeof count === 'number' && Number.isFinite(count) && count > 0 ? count : 0;
    return embeddingsList(this.#model, data, tokens);
  }

  errorMessage(body: Buffer): string | undefined {
    return watsonxErrorMessage(body);
  }
}
