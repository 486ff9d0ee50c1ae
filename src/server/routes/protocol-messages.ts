import { randomId } from '../../util/random-id.js';
import { GatewayError, NO_ROUTE_MESSAGE } from '../../errors/gateway-error.js';
import { anthropicErrorShape } from '../../protocol/anthropic-messages/errors.js';
import type { RequestContext } from '../../request/context.js';
import type { Chain, Middleware, RouteSpec } from '../../request/types.js';
import type { Instance } from '../../providers/instance.js';
import type { AnthropicHost } from '../../protocol/anthropic-messages/index.js';
import { foldUsage } from '../../protocol/anthropic-messages/response.js';
import type { AnthropicMessagesParams, AnthropicStreamEvent, AnthropicUsage } from '../../protocol/anthropic-messages/types.js';
import type { TokenCounts } from '../../protocol/chunks.js';
import { parseProviderJson } from '../../protocol/json.js';
import {
  anthropicModelList,
  chatToMessage,
  checkCountTokensRequest,
  checkMessagesRequest,
  estimateInputTokens,
  messagesToChat,
  MessagesStream,
  newMessageId,
  sseFrame,
  type CountTokensRequest,
  type MessagesRequest,
  type MessagesStreamEvent,
  type StreamErrorType,
} from '../../protocol/messages-api/index.js';
import type { ChatCompletionChunk } from '../../protocol/openai.js';
import { compose } from '../compose.js';
import { callOf, DROPPED_HEADER, errorReader, parseCall, providerError, readAll, relayStream, resolveTarget, sendJson, sendNative, streamFailure, translateAnswer, type ProtocolOperation, type ProtocolRouteDeps } from './protocol-call.js';
import { collectModels, type ModelLists } from './protocol-models.js';

/**
 * The Anthropic Messages API as a client protocol: `POST /anthropic/{instance}/v1/messages`,
 * `…/v1/messages/count_tokens` and `GET …/v1/models`, and the same under `/anthropic/v1/…`
 * with the model an alias or `instance/model` (as on `/v1`). What Claude Code and the Anthropic
 * SDKs send, over every provider:
 *  - direct, where the model is Claude on a host that speaks Messages (api.anthropic.com,
 *    Bedrock InvokeModel, Vertex rawPredict: the instance's `direct.messages`): the client's body
 *    goes on with only the host's envelope added, so every Messages feature the host has works;
 *  - through the OpenAI chat hub otherwise (protocol/messages-api/), with the provider's chat
 *    translator.
 * Errors, the gateway's own included, are shaped as Anthropic's, so SDKs raise their typed errors.
 */

/** The part of a `/anthropic/` path after the optional instance: which operation. */
const PATH = /^\/anthropic\/(?:([^/]+)\/)?v1\/(messages\/count_tokens|messages|models)$/;

/** `POST …/v1/messages`: the body checked as the Messages API checks it (protocol/messages-api/schema.ts). */
export const MESSAGES: ProtocolOperation<MessagesRequest> = {
  // The Messages API is conversational generation, as on the transparent routes.
  endpoint: 'chat',
  check: checkMessagesRequest,
  unsupported: (instance) => (instance.chat || instance.direct.messages ? undefined : `instance "${instance.name}" (${instance.type}) does not offer the Anthropic Messages API`),
};

/** `POST …/v1/messages/count_tokens`. */
export const COUNT_TOKENS: ProtocolOperation<CountTokensRequest> = { endpoint: 'count_tokens', check: checkCountTokensRequest, unsupported: MESSAGES.unsupported };

/** What the direct path reads of either body; the rest goes to the host as the client wrote it. */
type MessagesBody = { model: string; stream?: boolean | null | undefined } & Record<string, unknown>;

export function messagesRoute(deps: ProtocolRouteDeps, lists: ModelLists): RouteSpec {
  const target = (op: ProtocolOperation<{ model: string }>) => [deps.readBody, parseCall(op, deps.jsonDepthLimit), resolveTarget(deps, op), deps.authorize];
  const chains = {
    messages: compose([...target(MESSAGES), relayMessages(deps)]),
    count: compose([...target(COUNT_TOKENS), countTokens]),
    models: compose([listAnthropicModels(deps, lists)]),
  };
  return { name: 'anthropic', path: '/anthropic/', prefix: true, methods: ['GET', 'POST'], mode: 'protocol', middleware: [anthropicShaped, deps.authenticate, dispatch(chains)] };
}

/** From here on (authentication included) the gateway's errors take Anthropic's shape. */
async function anthropicShaped(ctx: RequestContext, next: () => Promise<void>): Promise<void> {
  ctx.errorFlavour = anthropicErrorShape;
  return next();
}

function dispatch(chains: { messages: Chain; count: Chain; models: Chain }): Middleware {
  return async function anthropicRoute(ctx) {
    const m = PATH.exec(ctx.path);
    const op = m === null ? undefined : m[2] === 'models' ? (ctx.method === 'GET' ? chains.models : undefined) : ctx.method !== 'POST' ? undefined : m[2] === 'messages' ? chains.messages : chains.count;
    if (!m || !op) throw new GatewayError('not_found', NO_ROUTE_MESSAGE);
    ctx.instanceName = m[1] ?? '';
    await op(ctx);
  };
}

function relayMessages(deps: ProtocolRouteDeps): Middleware {
  return async function relayAnthropicMessages(ctx) {
    const instance = ctx.instance!;
    const { body, model } = callOf<MessagesRequest>(ctx);
    const host = instance.direct.messages?.(model);
    if (host) return relayDirect(ctx, instance, host, body as MessagesBody, model, deps);
    return relayThroughHub(ctx, instance, body, model, deps);
  };
}

/** The client's `anthropic-version` and `anthropic-beta` headers, placed as `host` takes them. */
function hostRequest(ctx: RequestContext, host: AnthropicHost, body: MessagesBody, model: string, stream: boolean): { headers: Record<string, string>; hostBody: Record<string, unknown> } {
  const { model: _model, stream: _stream, ...params } = body;
  const headers: Record<string, string> = { ...host.headers };
  const version = headerOf(ctx, 'anthropic-version');
  if (version !== undefined && Object.hasOwn(headers, 'anthropic-version')) headers['anthropic-version'] = version;
  let hostBody = host.body(params as unknown as AnthropicMessagesParams, model, stream);
  const betas = headerOf(ctx, 'anthropic-beta');
  if (betas !== undefined) {
    if (host.betas === 'header') headers['anthropic-beta'] = betas;
    else if (hostBody['anthropic_beta'] === undefined) hostBody = { ...hostBody, anthropic_beta: betas.split(',').map((b) => b.trim()).filter((b) => b !== '') };
  }
  return { headers, hostBody };
}

function headerOf(ctx: RequestContext, name: string): string | undefined {
  const raw = ctx.req.headers[name];
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  return value === undefined || value === '' ? undefined : value;
}

/** Claude on a Messages host: the client's body with the host's envelope; the answer and its events as the host sent them. */
async function relayDirect(ctx: RequestContext, instance: Instance, host: AnthropicHost, body: MessagesBody, model: string, deps: ProtocolRouteDeps): Promise<void> {
  const stream = body.stream === true;
  const { headers, hostBody } = hostRequest(ctx, host, body, model, stream);
  const answer = await sendNative(ctx, instance, { path: host.path(model, stream), headers, body: Buffer.from(JSON.stringify(hostBody)), dropped: [] });
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, errorReader(instance, model), await readAll(answer.body, instance.name));
  if (!stream) {
    const bytes = await readAll(answer.body, instance.name);
    const message = parseProviderJson<{ usage?: AnthropicUsage }>(bytes, instance.name);
    noteUsage(ctx, model, foldUsage(message.usage, undefined));
    ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length, 'x-request-id': ctx.id });
    ctx.res.end(bytes);
    return;
  }
  const decoder = host.decoder(instance.streamLineLimit);
  let usage: TokenCounts | undefined;
  let stopped = false;
  const frames = (events: Iterable<AnthropicStreamEvent>): string => {
    let text = '';
    for (const ev of events) {
      if (ev.type === 'message_start') usage = foldUsage(ev.message?.usage, usage);
      else if (ev.type === 'message_delta') usage = foldUsage(ev.usage, usage);
      else if (ev.type === 'message_stop') stopped = true;
      text += sseFrame(ev as unknown as MessagesStreamEvent);
    }
    return text;
  };
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': ctx.id });
  const end = () => {
    const text = frames(decoder.end());
    if (!stopped) throw new GatewayError('upstream_stream_incomplete', `the provider stream ended before message_stop`);
    return text;
  };
  try {
    await relayStream(answer.body, ctx, { push: (bytes) => frames(decoder.push(bytes)), end }, () => noteUsage(ctx, model, usage));
  } catch (err) {
    const failure = streamFailure(ctx, instance, err);
    if (failure) ctx.res.end(sseFrame(errorEvent(failure, deps)));
  } finally {
    noteUsage(ctx, model, usage);
  }
}

/** A non-Claude model: the Messages request through the OpenAI chat hub and the provider's translator. */
async function relayThroughHub(ctx: RequestContext, instance: Instance, body: MessagesRequest, model: string, deps: ProtocolRouteDeps): Promise<void> {
  const stream = body.stream === true;
  const { chat, dropped } = messagesToChat(body);
  const translator = instance.chat!({ model, id: `chatcmpl-${randomId(12)}`, created: Math.floor(Date.now() / 1000), stream, includeUsage: true });
  const native = translator.request({ ...chat, model });
  const answer = await sendNative(ctx, instance, native);
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body, instance.name));
  const extra: Record<string, string> = { 'x-request-id': ctx.id };
  const allDropped = [...new Set([...dropped, ...native.dropped])];
  if (allDropped.length > 0) extra[DROPPED_HEADER] = allDropped.join(', ');
  const meta = { id: newMessageId(), model: body.model };
  const noteHubUsage = () => noteUsage(ctx, model, translator.usage());
  if (!stream) {
    const completion = await translateAnswer(instance, answer.body, (bytes) => translator.response(bytes));
    noteHubUsage();
    sendJson(ctx, chatToMessage(completion, meta), extra);
    return;
  }
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
  const events = new MessagesStream(meta);
  const frames = (chunks: ChatCompletionChunk[], last: () => MessagesStreamEvent[] = () => []) => [...chunks.flatMap((c) => events.push(c)), ...last()].map(sseFrame).join('');
  try {
    await relayStream(answer.body, ctx, { push: (bytes) => frames(translator.push(bytes)), end: () => frames(translator.end(), () => events.end()) }, noteHubUsage);
  } catch (err) {
    const failure = streamFailure(ctx, instance, err);
    if (failure) ctx.res.end(sseFrame(errorEvent(failure, deps)));
  } finally {
    noteHubUsage();
  }
}

/** Anthropic's `error` event for a failure after the stream started; its text scrubbed of secrets. */
function errorEvent(failure: GatewayError, deps: ProtocolRouteDeps): MessagesStreamEvent {
  const type: StreamErrorType = failure.code === 'upstream_rate_limited' ? 'rate_limit_error' : failure.code === 'upstream_timeout' ? 'timeout_error' : 'api_error';
  return { type: 'error', error: { type, message: deps.scrubber.scrub(failure.message) } };
}

function noteUsage(ctx: RequestContext, model: string, usage: TokenCounts | undefined): void {
  if (usage) ctx.usage = { model, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
}

/** Header saying a count is the gateway's estimate, not the provider's (no count endpoint on that backend). */
export const ESTIMATE_HEADER = 'x-llmproxy-token-count';

/**
 * `POST …/v1/messages/count_tokens`: the backend's own count where it has an endpoint
 * (api.anthropic.com, Bedrock CountTokens, Vertex count-tokens:rawPredict), else the gateway's
 * documented estimate, marked `x-llmproxy-token-count: estimate`.
 */
async function countTokens(ctx: RequestContext): Promise<void> {
  const instance = ctx.instance!;
  const { body, model } = callOf<CountTokensRequest>(ctx);
  const counter = instance.direct.messages?.(model)?.countTokens;
  if (counter === undefined) {
    sendJson(ctx, { input_tokens: estimateInputTokens(body) }, { [ESTIMATE_HEADER]: 'estimate' });
    return;
  }
  const { model: _model, ...params } = body;
  const { headers } = hostRequest(ctx, instance.direct.messages!(model)!, body as MessagesBody, model, false);
  const answer = await sendNative(ctx, instance, { path: counter.path(model), headers, body: Buffer.from(JSON.stringify(counter.body(params, model))), dropped: [] });
  if (answer === undefined) return;
  const bytes = await readAll(answer.body, instance.name);
  if (answer.statusCode >= 300) throw providerError(instance, answer, errorReader(instance, model), bytes);
  const count = counter.read(parseProviderJson<unknown>(bytes, instance.name));
  if (count === undefined) throw new GatewayError('upstream_error', `instance ${instance.name}: the provider's token count has no count in it`);
  sendJson(ctx, { input_tokens: count }, { [ESTIMATE_HEADER]: 'provider' });
}

/** `GET …/v1/models` in Anthropic's list shape (`data` of `{type: 'model', id, display_name, created_at}`). */
function listAnthropicModels(deps: ProtocolRouteDeps, lists: ModelLists): Middleware {
  return async function listModelsAsAnthropic(ctx) {
    const { data, incompleteHeaders } = await collectModels(ctx, deps, lists);
    const query = new URLSearchParams(ctx.query);
    const page = anthropicModelList(
      data.map((m) => ({ id: m.id, created: m.created })),
      { limit: query.get('limit'), before_id: query.get('before_id'), after_id: query.get('after_id') },
    );
    sendJson(ctx, page, incompleteHeaders);
  };
}
