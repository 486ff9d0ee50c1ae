import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import type { Chain, Middleware, RouteSpec } from '../../request/types.js';
import type { RoleTable } from '../../clientauth/rbac.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { Logger } from '../../observability/logger.js';
import { compose } from '../compose.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { checkChatRequest } from '../../protocol/openai-schema.js';
import { StreamIncomplete, type ChatTranslator } from '../../protocol/translator.js';
import { upstreamFailure } from '../../upstream/errors.js';
import { callOf, parseCall, providerError, readAll, resolveTarget, sendNative, translateAnswer, type ProtocolOperation, type TargetDeps } from './protocol-call.js';
import { EMBEDDINGS, translateEmbeddings } from './protocol-embeddings.js';
import { ModelLists, listModels } from './protocol-models.js';

export interface ProtocolRouteDeps extends TargetDeps {
  scrubber: SecretScrubber;
  roles: RoleTable;
  authenticate: Middleware;
  readBody: Middleware;
  authorize: Middleware;
  /** Where a failed provider model-list fetch is reported. */
  logger: Logger;
}

/** Chat completions: the body is checked against the OpenAI request schema (protocol/openai-schema.ts). */
export const CHAT: ProtocolOperation<ChatRequest> = {
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
  const models = [deps.authenticate, listModels(deps, new ModelLists(deps.logger))];
  const perInstance = { chat: compose(chat), embeddings: compose(embeddings), models: compose(models) };
  return [
    { name: 'openai', path: '/openai/', prefix: true, methods: ['GET', 'POST'], mode: 'protocol', middleware: [namedInstance(perInstance)] },
    { name: 'v1-chat', path: '/v1/chat/completions', methods: ['POST'], mode: 'protocol', middleware: chat },
    { name: 'v1-embeddings', path: '/v1/embeddings', methods: ['POST'], mode: 'protocol', middleware: embeddings },
    { name: 'v1-models', path: '/v1/models', methods: ['GET'], mode: 'protocol', middleware: models },
  ];
}

/** `/openai/{instance}/chat/completions`, `.../embeddings` and `.../models`: the instance from the path. */
function namedInstance(chains: { chat: Chain; embeddings: Chain; models: Chain }): Middleware {
  return async function openaiInstanceRoute(ctx) {
    const m = /^\/openai\/([^/]+)\/(chat\/completions|embeddings|models)$/.exec(ctx.path);
    const op = !m ? undefined : m[2] === 'models' ? (ctx.method === 'GET' ? chains.models : undefined) : ctx.method !== 'POST' ? undefined : m[2] === 'embeddings' ? chains.embeddings : chains.chat;
    if (!m || !op) throw new GatewayError('not_found', `no route for ${ctx.method} ${ctx.path.slice(0, 200)}`);
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
  const id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
  const translator = instance.chat!({ model, id, created: Math.floor(Date.now() / 1000), stream, includeUsage: body.stream_options?.include_usage === true });
  const native = translator.request(body);
  const answer = await sendNative(ctx, instance, native);
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body, instance.name));

  const extra: Record<string, string> = { 'x-request-id': ctx.id };
  if (native.dropped.length > 0) extra['x-llmproxy-dropped-params'] = native.dropped.join(', ');
  if (!stream) {
    const completion = await translateAnswer(instance, answer.body, (bytes) => translator.response(bytes));
    noteUsage(ctx, translator, model);
    const text = JSON.stringify(completion);
    ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
    ctx.res.end(text);
    return;
  }
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
  try {
    await relay(answer.body, ctx, translator, () => noteUsage(ctx, translator, model));
  } catch (err) {
    if (ctx.abort!.signal.aborted) return;
    // Headers are sent: the failure travels as an SSE error object, then the stream ends.
    const failure = err instanceof GatewayError ? err : err instanceof StreamIncomplete ? new GatewayError('upstream_stream_incomplete', `the provider stream failed: ${err.message}`) : upstreamFailure(instance.name, err);
    ctx.errorCode = failure.code;
    ctx.res.end(`data: ${JSON.stringify({ error: { message: scrubber.scrub(failure.message), type: 'api_error', code: failure.code, param: null } })}\n\n`);
    return;
  } finally {
    noteUsage(ctx, translator, model);
  }
}

/** Translates upstream bytes to OpenAI chunks as they arrive, pausing the upstream while the client is not reading. */
function relay(body: Readable, ctx: RequestContext, translator: ChatTranslator, beforeEnd?: () => void): Promise<void> {
  const { res } = ctx;
  const write = (chunks: ChatCompletionChunk[]): boolean => {
    let ok = true;
    for (const c of chunks) ok = res.write(`data: ${JSON.stringify(c)}\n\n`);
    return ok;
  };
  return new Promise<void>((resolve, reject) => {
    const resume = () => body.resume();
    body.on('data', (chunk: Buffer) => {
      let ok: boolean;
      try {
        ok = write(translator.push(chunk));
      } catch (err) {
        body.destroy();
        reject(err);
        return;
      }
      if (!ok) {
        body.pause();
        res.once('drain', resume);
      }
    });
    body.once('end', () => {
      try {
        write(translator.end());
      } catch (err) {
        reject(err);
        return;
      }
      // Usage before end(): the response's 'close' (which does the accounting) may fire before this promise settles.
      beforeEnd?.();
      res.end('data: [DONE]\n\n');
      resolve();
    });
    body.once('error', reject);
  });
}

function noteUsage(ctx: RequestContext, translator: ChatTranslator, model: string): void {
  const usage = translator.usage();
  if (usage) ctx.usage = { model, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
}
