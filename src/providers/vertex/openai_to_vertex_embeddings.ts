import { GatewayError } from '../../errors/gateway-error.js';
import { textInputs } from '../../protocol/embeddings.js';
import { parseProviderJson } from '../../protocol/json.js';
import type { Embedding, EmbeddingsRequest, EmbeddingsResponse } from '../../protocol/openai.js';
import type { EmbeddingsTranslator, EmbeddingsTranslatorFactory, NativeRequest } from '../../protocol/translator.js';
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
  return (options) => new VertexEmbeddings(options.model, base);
}

/** Vertex publisher model ids: `text-embedding-005`, `gemini-embedding-001`, ... (one path segment). */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

const KNOWN = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user']);

interface Prediction {
  embeddings?: { values?: unknown; statistics?: { token_count?: unknown } };
}

class VertexEmbeddings implements EmbeddingsTranslator {
  readonly #model: string;
  readonly #base: string;
  #usage: { inputTokens: number } | undefined;
  /** How many texts the request sent; the answer must hold as many embeddings. */
  #inputs: number | undefined;

  constructor(model: string, base: string) {
    this.#model = model;
    this.#base = base;
  }

  request(body: EmbeddingsRequest): NativeRequest {
    if (!MODEL_ID.test(this.#model)) throw new GatewayError('invalid_request', `"${this.#model.slice(0, 100)}" is not a Vertex AI publisher model id (such as text-embedding-005)`);
    const texts = textInputs(body.input, 'Vertex AI');
    const unknown = Object.keys(body).filter((k) => !KNOWN.has(k));
    if (unknown.length > 0) throw new GatewayError('invalid_request', `Vertex AI embeddings do not support ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')}`);
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
    this.#usage = { inputTokens: tokens };
    return { object: 'list', data, model: this.#model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }

  errorMessage(body: Buffer): string | undefined {
    return googleErrorMessage(body);
  }

  usage(): { inputTokens: number } | undefined {
    return this.#usage;
  }
}
