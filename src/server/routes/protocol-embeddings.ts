import type { RequestContext } from '../../request/context.js';
import { encodeEmbeddings } from '../../protocol/embeddings.js';
import { checkEmbeddingsRequest } from '../../protocol/openai-schema.js';
import type { EmbeddingsRequest } from '../../protocol/openai.js';
import { callOf, providerError, readAll, sendJson, sendNative, translateAnswer, type ProtocolOperation } from './protocol-call.js';

/**
 * Protocol mode, embeddings: `POST /openai/{instance}/embeddings` and `POST /v1/embeddings`.
 * The answer's embeddings are converted to the client's `encoding_format` here, once, whatever
 * form the provider answered in.
 */
export const EMBEDDINGS: ProtocolOperation<EmbeddingsRequest> = {
  endpoint: 'embeddings',
  check: checkEmbeddingsRequest,
  unsupported(instance) {
    return instance.embeddings ? undefined : `instance "${instance.name}" (${instance.type}) does not offer OpenAI embeddings; use /transparent/${instance.name}/...`;
  },
};

export async function translateEmbeddings(ctx: RequestContext): Promise<void> {
  const instance = ctx.instance!;
  const { body, model } = callOf<EmbeddingsRequest>(ctx);
  const translator = instance.embeddings!({ model });
  const native = translator.request(body);
  const answer = await sendNative(ctx, instance, native);
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body, instance.name));
  const list = encodeEmbeddings(await translateAnswer(instance, answer.body, (bytes) => translator.response(bytes)), body.encoding_format ?? 'float');
  const usage = translator.usage();
  if (usage) ctx.usage = { model, inputTokens: usage.inputTokens, outputTokens: 0 };
  sendJson(ctx, list, native.dropped.length > 0 ? { 'x-llmproxy-dropped-params': native.dropped.join(', ') } : {});
}
