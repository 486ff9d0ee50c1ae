import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../middleware/context.js';
import { encodeEmbeddings, isEmbeddingsInput } from '../../protocol/embeddings.js';
import type { EmbeddingsRequest } from '../../protocol/openai.js';
import { callOf, providerError, readAll, sendJson, sendNative, type ProtocolOperation } from './protocol-call.js';

/**
 * Protocol mode, embeddings: `POST /openai/{instance}/embeddings` and `POST /v1/embeddings`.
 * The answer's embeddings are converted to the client's `encoding_format` here, once, whatever
 * form the provider answered in.
 */
export const EMBEDDINGS: ProtocolOperation<EmbeddingsRequest> = {
  check(body) {
    if (!isEmbeddingsInput(body['input'])) {
      throw new GatewayError('invalid_request', '"input" must be a string, a non-empty array of strings, or token ids (an array of integers, or of arrays of integers)');
    }
    const format = body['encoding_format'];
    if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') throw new GatewayError('invalid_request', '"encoding_format" must be "float" or "base64"');
    const dimensions = body['dimensions'];
    if (dimensions !== undefined && dimensions !== null && !(Number.isInteger(dimensions) && (dimensions as number) > 0)) {
      throw new GatewayError('invalid_request', '"dimensions" must be a positive integer');
    }
    return body as EmbeddingsRequest;
  },
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
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body));
  const list = encodeEmbeddings(translator.response(await readAll(answer.body)), body.encoding_format ?? 'float');
  const usage = translator.usage();
  if (usage) ctx.usage = { model, inputTokens: usage.inputTokens, outputTokens: 0 };
  sendJson(ctx, list, native.dropped.length > 0 ? { 'x-llmproxy-dropped-params': native.dropped.join(', ') } : {});
}
