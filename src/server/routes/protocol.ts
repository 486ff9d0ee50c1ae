import { randomId } from '../../util/random-id.js';
import { GatewayError, NO_ROUTE_MESSAGE } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import type { Chain, Middleware, RouteSpec } from '../../request/types.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import { compose } from '../compose.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { checkChatRequest } from '../../protocol/openai-schema.js';
import type { ChatTranslator } from '../../protocol/translator.js';
import { callOf, DROPPED_HEADER, parseCall, providerError, readAll, relayStream, resolveTarget, sendNative, streamFailure, translateAnswer, type ProtocolOperation, type ProtocolRouteDeps } from './protocol-call.js';
import { EMBEDDINGS, translateEmbeddings } from './protocol-embeddings.js';
import { ModelLists, listModels } from './protocol-models.js';
import { messagesRoute } from './protocol-messages.js';
import { RESPONSES, createResponse } from './protocol-responses-create.js';
import { storedResponseDispatch } from './protocol-responses.js';


/** Chat completions: the body is checked against the OpenAI request schema (protocol/openai-schema.ts). */
export const CHAT: ProtocolOperation<ChatRequest> = {
  endpoint: 'chat',
  check: checkChatRequest,
  unsupported(instance) {
    return instance.chat ? undefined : `instance "${instance.name}" (${instance.type}) does not offer the OpenAI protocol yet; use /transparent/${instance.name}/...`;
  },
};

/**
 * Protocol mode: `POST /openai/{instance}/chat/completions` and `.../embeddings` (the body's
 * `model` is the provider's model id), `POST /v1/chat/completions` and `/v1/embeddings` (the
 * model is an alias from `model_aliases`, or `instance/model`). The request is translated to the
 * provider's API and the answer (streams included) back to OpenAI's.
 */
export function protocolChatRoutes(deps: ProtocolRouteDeps): RouteSpec[] {
  const chat = [deps.authenticate, deps.readBody, parseCall(CHAT, deps.jsonDepthLimit), resolveTarget(deps, CHAT), deps.authorize, translateChat(deps.scrubber)];
  const embeddings = [deps.authenticate, deps.readBody, parseCall(EMBEDDINGS, deps.jsonDepthLimit), resolveTarget(deps, EMBEDDINGS), deps.authorize, translateEmbeddings];
  const responses = [deps.authenticate, deps.readBody, parseCall(RESPONSES, deps.jsonDepthLimit), resolveTarget(deps, RESPONSES), deps.authorize, createResponse(deps)];
  const lists = new ModelLists(deps.logger);
  const models = [deps.authenticate, listModels(deps, lists)];
  const stored = storedResponseDispatch(deps);
  const perInstance = { chat: compose(chat), embeddings: compose(embeddings), models: compose(models), responses: compose(responses), stored };
  return [
    { name: 'openai', path: '/openai/', prefix: true, methods: ['GET', 'POST', 'DELETE'], mode: 'protocol', middleware: [namedInstance(perInstance)] },
    { name: 'v1-chat', path: '/v1/chat/completions', methods: ['POST'], mode: 'protocol', middleware: chat },
    { name: 'v1-embeddings', path: '/v1/embeddings', methods: ['POST'], mode: 'protocol', middleware: embeddings },
    { name: 'v1-models', path: '/v1/models', methods: ['GET'], mode: 'protocol', middleware: models },
    { name: 'v1-responses', path: '/v1/responses', methods: ['POST'], mode: 'protocol', middleware: responses },
    { name: 'v1-responses-stored', path: '/v1/responses/', prefix: true, methods: ['GET', 'DELETE'], mode: 'protocol', middleware: [stored] },
    messagesRoute(deps, lists),
  ];
}

/**
 * `/openai/{instance}/chat/completions`, `…/embeddings`, `…/models`, `…/responses` and the stored
 * responses under `…/responses/{id}`: the instance from the path.
 */
function namedInstance(chains: { chat: Chain; embeddings: Chain; models: Chain; responses: Chain; stored: Middleware }): Middleware {
  return async function openaiInstanceRoute(ctx, next) {
    const m = /^\/openai\/([^/]+)\/(chat\/completions|embeddings|models|responses(?:\/[^/]+(?:\/input_items)?)?)$/.exec(ctx.path);
    if (m && m[2]!.startsWith('responses/')) {
      ctx.instanceName = m[1]!;
      return chains.stored(ctx, next);
    }
    const post: Record<string, Chain> = { 'chat/completions': chains.chat, embeddings: chains.embeddings, responses: chains.responses };
    const op = !m ? undefined : m[2] === 'models' ? (ctx.method === 'GET' ? chains.models : undefined) : ctx.method === 'POST' ? post[m[2]!] : undefined;
    if (!m || !op) throw new GatewayError('not_found', NO_ROUTE_MESSAGE);
    ctx.instanceName = m[1]!;
    await op(ctx);
  };
}

/** The chat completion call; `scrubber` masks secrets in provider error text sent mid-stream. */
function translateChat(scrubber: SecretScrubber): Middleware {
  return function translateChatCompletion(ctx) {
    return relayChat(ctx, scrubber);
  };
}

async function relayChat(ctx: RequestContext, scrubber: SecretScrubber): Promise<void> {
  const instance = ctx.instance!;
  const { body, model } = callOf<ChatRequest>(ctx);
  const stream = body.stream === true;
  const id = `chatcmpl-${randomId(12)}`;
  const translator = instance.chat!({ model, id, created: Math.floor(Date.now() / 1000), stream, includeUsage: body.stream_options?.include_usage === true });
  const native = translator.request(body);
  const answer = await sendNative(ctx, instance, native);
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body, instance.name));

  const extra: Record<string, string> = { 'x-request-id': ctx.id };
  if (native.dropped.length > 0) extra[DROPPED_HEADER] = native.dropped.join(', ');
  if (!stream) {
    const completion = await translateAnswer(instance, answer.body, (bytes) => translator.response(bytes));
    noteUsage(ctx, translator, model);
    const text = JSON.stringify(completion);
    ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
    ctx.res.end(text);
    return;
  }
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
  const frames = (chunks: ChatCompletionChunk[]) => chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('');
  try {
    await relayStream(answer.body, ctx, { push: (bytes) => frames(translator.push(bytes)), end: () => frames(translator.end()) + 'data: [DONE]\n\n' }, () => noteUsage(ctx, translator, model));
  } catch (err) {
    const failure = streamFailure(ctx, instance, err);
    // Headers are sent: the failure travels as an SSE error object, then the stream ends.
    if (failure) ctx.res.end(`data: ${JSON.stringify({ error: { message: scrubber.scrub(failure.message), type: 'api_error', code: failure.code, param: null } })}\n\n`);
  } finally {
    noteUsage(ctx, translator, model);
  }
}

function noteUsage(ctx: RequestContext, translator: ChatTranslator, model: string): void {
  const usage = translator.usage();
  if (usage) ctx.usage = { model, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
}
