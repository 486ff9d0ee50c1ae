import { GatewayError } from '../../errors/gateway-error.js';
import { embeddingsList, refuseUnknownFields, textInputs } from '../../protocol/embeddings.js';
import { parseProviderJson } from '../../protocol/json.js';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../../protocol/openai.js';
import { nativeEmbeddings, type NativeEmbeddings } from '../../protocol/native-embeddings.js';
import type { EmbeddingsTranslatorFactory, NativeRequest } from '../../protocol/translator.js';

/**
 * OpenAI embeddings → Amazon Titan Text Embeddings on Bedrock InvokeModel
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html):
 * `POST /model/{modelId}/invoke` with `{"inputText", "dimensions"?}` → `{"embedding": [...],
 * "inputTextTokenCount"}`.
 *
 * | OpenAI            | Titan                                                     |
 * |-------------------|-----------------------------------------------------------|
 * | model             | path `/model/{encodeURIComponent(model)}/invoke`           |
 * | input             | `inputText`: one text; more than one, or token ids: 400   |
 * | dimensions        | `dimensions` (V2: 256, 512 or 1024)                       |
 * | encoding_format   | applied by the gateway (floats from Titan)                |
 * | user              | dropped                                                   |
 *
 * Titan embeds one text per call and InvokeModel is one call, so an array of several inputs is
 * refused rather than fanned out (the answer would be several billed calls with no atomicity).
 */
export const openaiToTitanEmbeddings: EmbeddingsTranslatorFactory = (options) => nativeEmbeddings(new TitanEmbeddings(options.model));

class TitanEmbeddings implements NativeEmbeddings {
  readonly #model: string;

  constructor(model: string) {
    this.#model = model;
  }

  request(body: EmbeddingsRequest): NativeRequest {
    const texts = textInputs(body.input, 'Bedrock Titan');
    if (texts.length !== 1) {
      throw new GatewayError('invalid_request', `Bedrock Titan embeds one input per request; "input" holds ${texts.length}: send them one at a time`);
    }
    refuseUnknownFields(body, 'Bedrock Titan');
    const native: { inputText: string; dimensions?: number } = { inputText: texts[0]! };
    if (body.dimensions !== undefined && body.dimensions !== null) native.dimensions = body.dimensions;
    return {
      path: `/model/${encodeURIComponent(this.#model)}/invoke`,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: Buffer.from(JSON.stringify(native)),
      dropped: body.user === undefined ? [] : ['user'],
    };
  }

  response(body: Buffer): EmbeddingsResponse {
    const answer = parseProviderJson<{ embedding?: unknown; inputTextTokenCount?: unknown } | null>(body, 'Bedrock') ?? {};
    if (!Array.isArray(answer.embedding) || !answer.embedding.every((v) => typeof v === 'number')) {
      throw new GatewayError('upstream_error', 'Bedrock answered without an "embedding" array');
    }
    const tokens = typeof answer.inputTextTokenCount === 'number' ? answer.inputTextTokenCount : 0;
    return embeddingsList(this.#model, [{ object: 'embedding', index: 0, embedding: answer.embedding as number[] }], tokens);
  }

  errorMessage(body: Buffer): string | undefined {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { message?: unknown; Message?: unknown };
      const m = parsed.message ?? parsed.Message;
      return typeof m === 'string' ? m : undefined;
    } catch {
      return undefined;
    }
  }
}
