import { GatewayError } from '../../errors/gateway-error.js';
import { embeddingsList, refuseUnknownFields, textInputs } from '../../protocol/embeddings.js';
import { parseProviderJson } from '../../protocol/json.js';
import type { Embedding, EmbeddingsRequest, EmbeddingsResponse } from '../../protocol/openai.js';
import { nativeEmbeddings, type NativeEmbeddings } from '../../protocol/native-embeddings.js';
import type { EmbeddingsTranslatorFactory, NativeRequest } from '../../protocol/translator.js';
import { googleErrorMessage } from './gemini/response.js';

/**
 * OpenAI embeddings → Vertex AI text embeddings
 * (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api):
 * `POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predict`
 * with `{"instances": [{"content"}], "parameters"?: {"outputDimensionality"}}` →
 * `{"predictions": [{"embeddings": {"values": [...], "statistics": {"token_count", "truncated"}}}]}`.
 *
 * | OpenAI            | Vertex                                                          |
 * |-------------------|-----------------------------------------------------------------|
 * | model             | path `.../publishers/google/models/{model}:predict`             |
 * | input             | `instances`: one `{content}` per text (a batch); token ids: 400 |
 * | dimensions        | `parameters.outputDimensionality`                               |
 * | encoding_format   | applied by the gateway (floats from Vertex)                     |
 * | user              | dropped                                                         |
 *
 * Vertex's own limits (instances per request, models that take one text only, such as
 * gemini-embedding-001 in some versions) are its to enforce: its 400 reaches the client with
 * its message. `task_type`, `title` and `autoTruncate` keep Vertex's defaults.
 */
export function vertexEmbeddings(target: { project: string; location: string }): EmbeddingsTranslatorFactory {
  const base = `/v1/projects/${target.project}/locations/${target.location}/publishers/google/models/`;
  return (options) => nativeEmbeddings(new VertexEmbeddings(options.model, base));
}

/** Vertex publisher model ids: `text-embedding-005`, `gemini-embedding-001`, ... (one path segment). */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

interface Prediction {
  embeddings?: { values?: unknown; statistics?: { token_count?: unknown } };
}

class VertexEmbeddings implements NativeEmbeddings {
  readonly #model: string;
  readonly #base: string;
  /** How many texts the request sent; the answer must hold as many embeddings. */
  #inputs: number | undefined;

  constructor(model: string, base: string) {
    this.#model = model;
    this.#base = base;
  }

  request(body: EmbeddingsRequest): NativeRequest {
    if (!MODEL_ID.test(this.#model)) throw new GatewayError('invalid_request', `"${this.#model.slice(0, 100)}" is not a Vertex AI publisher model id (such as text-embedding-005)`);
    const texts = textInputs(body.input, 'Vertex AI');
    refuseUnknownFields(body, 'Vertex AI');
    this.#inputs = texts.length;
    const native: { instances: Array<{ content: string }>; parameters?: { outputDimensionality: number } } = { instances: texts.map((content) => ({ content })) };
    if (body.dimensions !== undefined && body.dimensions !== null) native.parameters = { outputDimensionality: body.dimensions };
    return {
      path: `${this.#base}${this.#model}:predict`,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: Buffer.from(JSON.stringify(native)),
      dropped: body.user === undefined ? [] : ['user'],
    };
  }

  response(body: Buffer): EmbeddingsResponse {
    const answer: { predictions?: unknown } = parseProviderJson<{ predictions?: unknown } | null>(body, 'Vertex AI') ?? {};
    if (!Array.isArray(answer.predictions)) throw new GatewayError('upstream_error', 'Vertex AI answered without "predictions"');
    if (this.#inputs !== undefined && answer.predictions.length !== this.#inputs) {
      throw new GatewayError('upstream_error', `Vertex AI answered ${answer.predictions.length} embeddings for ${this.#inputs} inputs`);
    }
    let tokens = 0;
    const data: Embedding[] = (answer.predictions as Prediction[]).map((p, index) => {
      const values = p?.embeddings?.values;
      if (!Array.isArray(values) || !values.every((v) => typeof v === 'number')) {
        throw new GatewayError('upstream_error', `Vertex AI answered prediction ${index} without "embeddings.values"`);
      }
      const count = p.embeddings!.statistics?.token_count;
      if (typeof count === 'number' && Number.isFinite(count) && count > 0) tokens += count;
      return { object: 'embedding', index, embedding: values as number[] };
    });
    return embeddingsList(this.#model, data, tokens);
  }

  errorMessage(body: Buffer): string | undefined {
    return googleErrorMessage(body);
  }
}
