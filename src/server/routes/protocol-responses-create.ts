import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import { responseOwner } from '../../request/response-owner.js';
import type { Middleware } from '../../request/types.js';
import type { Instance } from '../../providers/instance.js';
import { parseProviderJson } from '../../protocol/json.js';
import type { ChatCompletionChunk } from '../../protocol/openai.js';
import {
  chatToResponse,
  checkResponsesRequest,
  inputItems,
  newItemId,
  ResponsesStream,
  responsesToChat,
  sseFrame,
  type ResponseItem,
  type ResponseObject,
  type ResponsesRequest,
  type ResponseStreamEvent,
} from '../../protocol/responses/index.js';
import { SseDecoder } from '../../protocol/sse.js';
import { previousResponseError } from '../../store/stored-responses.js';
import type { ResponseJson, StoredItem } from '../../store/response-types.js';
import { ITEM_LOOKUP_MAX } from '../../store/responses.js';
import { DROPPED_HEADER, callOf, errorReader, providerError, readAll, relayStream, sendJson, sendNative, streamFailure, translateAnswer, type ProtocolOperation, type ProtocolRouteDeps } from './protocol-call.js';

/**
 * `POST /v1/responses` and `POST /openai/{instance}/responses`: the OpenAI Responses API over
 * every provider with a chat translator.
 *  - direct where the provider serves the Responses API itself (OpenAI, Azure, OpenAI's models on
 *    Bedrock: the instance's `direct.responses`): the client's body goes on with the earlier turns
 *    spelled out in `input` and `store: false`, so the provider keeps nothing;
 *  - through the OpenAI chat hub otherwise (protocol/responses/).
 * Either way the gateway is the store: with `store` (the default) the response is kept in the
 * gateway's own store (`responses` config), visible only to its owner, and `previous_response_id`
 * continues a conversation on any instance, whichever provider answered the turns before.
 */

export const RESPONSES: ProtocolOperation<ResponsesRequest> = {
  endpoint: 'responses',
  check: checkResponsesRequest,
  unsupported: (instance) => (instance.chat || instance.direct.responses ? undefined : `instance "${instance.name}" (${instance.type}) does not offer the Responses API`),
};

export function createResponse(deps: ProtocolRouteDeps): Middleware {
  return async function createModelResponse(ctx) {
    const instance = ctx.instance!;
    const { body, model } = callOf<ResponsesRequest>(ctx);
    const turn: Turn = { ctx, instance, body, model, owner: responseOwner(ctx.principal!), deps, history: [], input: [] };
    await resolveItemReferences(turn);
    const previous = body.previous_response_id;
    if (typeof previous === 'string') {
      const found = await deps.responses.history(previous, turn.owner);
      if (!found.ok) throw previousResponseError(previous, found);
      turn.history = found.items as unknown as ResponseItem[];
    }
    const target = instance.direct.responses?.(model);
    // This turn's items as stored; items the hub cannot carry are refused here, before any provider call.
    turn.input = inputItems(turn.body, newItemId, target ? 'keep' : 'refuse');
    if (target) return relayDirect(turn, target);
    return relayThroughHub(turn);
  };
}

/** One request's state, passed between the steps. */
interface Turn {
  ctx: RequestContext;
  instance: Instance;
  body: ResponsesRequest;
  /** The provider's model id. */
  model: string;
  owner: string;
  deps: ProtocolRouteDeps;
  /** The earlier turns' items, oldest first ([] without previous_response_id). */
  history: ResponseItem[];
  /** This turn's input items, as they are stored. */
  input: ResponseItem[];
}

/**
 * Replaces each `item_reference` in `body.input` (and OpenAI's `{id}` shorthand for one) with
 * the item it names, as the gateway stored it: an input or output item of a response the same
 * owner stored (the Vercel AI SDK sends earlier answers back this way under its default
 * `store: true`). OpenAI resolves them from its own store; the gateway is the store here, so
 * they are resolved before either path, and this turn is stored with the real items (its
 * input_items list them, a later reference to them resolves). An id not found for this owner
 * (unknown, expired, deleted, someone else's, or the store disabled) is OpenAI's 400.
 */
async function resolveItemReferences(turn: Turn): Promise<void> {
  const input = turn.body.input;
  if (!Array.isArray(input)) return;
  const at: number[] = [];
  input.forEach((item, i) => {
    if (isItemReference(item)) at.push(i);
  });
  if (at.length === 0) return;
  if (at.length > ITEM_LOOKUP_MAX) throw new GatewayError('invalid_request', `input: at most ${ITEM_LOOKUP_MAX} item_reference items per request, got ${at.length}`, { param: 'input' });
  const ids = at.map((i) => (input[i] as { id: string }).id);
  const found = await turn.deps.responses.items(ids, turn.owner);
  const resolved = [...input];
  for (const i of at) {
    const id = (input[i] as { id: string }).id;
    const item = found.get(id);
    if (item === undefined) throw new GatewayError('invalid_request', `Item with id '${id.slice(0, 200)}' not found.`, { param: `input[${i}]` });
    resolved[i] = item as unknown as (typeof input)[number];
  }
  turn.body = { ...turn.body, input: resolved };
}

/** `{type: 'item_reference', id}`, or `{id}` without `type` or `role` (the schema's shorthand, schema.ts). */
function isItemReference(item: unknown): boolean {
  if (typeof item !== 'object' || item === null) return false;
  const { type, id } = item as { type?: unknown; id?: unknown };
  if (typeof id !== 'string') return false;
  return type === 'item_reference' || ((type === undefined || type === null) && !('role' in item));
}

/**
 * Keeps the finished response when the client asked for it (`store`, default true) and the
 * gateway stores responses; the answer's `store` says whether it was kept. Before the client
 * gets the answer, so a follow-up sent at once finds it.
 */
async function keep(turn: Turn, response: ResponseObject | ResponseJson): Promise<ResponseJson> {
  const wanted = turn.body.store !== false && turn.deps.responses.enabled;
  const answer = { ...response, store: wanted, previous_response_id: turn.body.previous_response_id ?? null } as ResponseJson;
  if (!wanted) return answer;
  const kept = await turn.deps.responses.keep({
    id: answer.id,
    owner: turn.owner,
    instance: turn.instance.name,
    model: turn.model,
    previousId: turn.body.previous_response_id ?? null,
    input: turn.input as unknown as StoredItem[],
    response: answer,
  });
  return kept ? answer : { ...answer, store: false };
}

function noteUsage(turn: Turn, usage: { input_tokens?: unknown; output_tokens?: unknown } | null | undefined): void {
  if (usage === null || usage === undefined) return;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  turn.ctx.usage = { model: turn.model, inputTokens: n(usage.input_tokens), outputTokens: n(usage.output_tokens) };
}

// ---------------------------------------------------------------------------------------------
// Through the chat hub

async function relayThroughHub(turn: Turn): Promise<void> {
  const { ctx, instance, body, model, deps } = turn;
  const stream = body.stream === true;
  const { chat, dropped } = responsesToChat(body, turn.history);
  const created = Math.floor(Date.now() / 1000);
  const translator = instance.chat!({ model, id: `chatcmpl-${newItemId('hub').slice(4, 28)}`, created, stream, includeUsage: true });
  const native = translator.request({ ...chat, model });
  const answer = await sendNative(ctx, instance, native);
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body, instance.name));
  const extra: Record<string, string> = {};
  const allDropped = [...new Set([...dropped, ...native.dropped])];
  if (allDropped.length > 0) extra[DROPPED_HEADER] = allDropped.join(', ');
  const meta = { id: newItemId('resp'), createdAt: created, model: body.model, request: body };
  const hubUsage = () => {
    const u = translator.usage();
    if (u) noteUsage(turn, { input_tokens: u.inputTokens, output_tokens: u.outputTokens });
  };
  if (!stream) {
    const completion = await translateAnswer(instance, answer.body, (bytes) => translator.response(bytes));
    hubUsage();
    sendJson(ctx, await keep(turn, chatToResponse(completion, meta)), extra);
    return;
  }
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': ctx.id, ...extra });
  const events = new ResponsesStream(meta);
  const frames = (list: ResponseStreamEvent[]) => list.map(sseFrame).join('');
  const fromChunks = (chunks: ChatCompletionChunk[]) => frames(chunks.flatMap((c) => events.push(c)));
  ctx.res.write(frames(events.start()));
  try {
    await relayStream(answer.body, ctx, { push: (bytes) => fromChunks(translator.push(bytes)), end: () => fromChunks(translator.end()) + frames(events.end()) }, async () => {
      hubUsage();
      await keep(turn, events.response());
    });
  } catch (err) {
    const failure = streamFailure(ctx, instance, err);
    if (failure) ctx.res.end(frames(events.fail({ code: failure.code, message: deps.scrubber.scrub(failure.message) })));
  } finally {
    hubUsage();
  }
}

// ---------------------------------------------------------------------------------------------
// Direct: the provider's own Responses API

/** Terminal stream events, whose `response` is the finished response. */
const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const TERMINAL_TYPE = /"type"\s*:\s*"response\.(?:completed|incomplete|failed)"/;
const SEQUENCE_NUMBER = /"sequence_number"\s*:\s*(\d{1,15})/;

async function relayDirect(turn: Turn, target: { path: string; model: string }): Promise<void> {
  const { ctx, instance, body, model, deps } = turn;
  const stream = body.stream === true;
  const answer = await sendNative(ctx, instance, { path: target.path, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(directBody(turn, target.model))), dropped: [] });
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, errorReader(instance, model), await readAll(answer.body, instance.name));
  if (!stream) {
    const response = parseProviderJson<ResponseJson & { usage?: { input_tokens?: unknown; output_tokens?: unknown } }>(await readAll(answer.body, instance.name), instance.name);
    if (typeof response?.id !== 'string') throw new GatewayError('upstream_error', `instance ${instance.name}: the provider's response has no id`);
    noteUsage(turn, response.usage);
    sendJson(ctx, await keep(turn, response));
    return;
  }
  // The provider's events go to the client as they are; the finished response is read on the side.
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': ctx.id });
  const decoder = new SseDecoder({ lineLimit: instance.streamLineLimit });
  let final: (ResponseJson & { usage?: { input_tokens?: unknown; output_tokens?: unknown } }) | undefined;
  let lastSequence = -1;
  const watch = (events: ReturnType<SseDecoder['push']>) => {
    for (const ev of events) {
      const sequence = SEQUENCE_NUMBER.exec(ev.data);
      if (sequence) lastSequence = Number(sequence[1]);
      // Only a terminal event is parsed: OpenAI names each event in `event:`; without it, its type is in the data.
      if (ev.event !== 'message' ? !TERMINAL_EVENTS.has(ev.event) : !TERMINAL_TYPE.test(ev.data)) continue;
      const parsed = parseProviderJson<{ type?: unknown; response?: typeof final }>(Buffer.from(ev.data), instance.name);
      if (typeof parsed?.type === 'string' && TERMINAL_EVENTS.has(parsed.type) && typeof parsed.response?.id === 'string') final = parsed.response;
    }
  };
  try {
    await relayStream(
      answer.body,
      ctx,
      {
        push: (bytes) => {
          watch(decoder.push(bytes));
          return bytes;
        },
        end: () => {
          watch(decoder.end());
          if (final === undefined) throw new GatewayError('upstream_stream_incomplete', 'the provider stream ended before its response was complete');
          return '';
        },
      },
      async () => {
        noteUsage(turn, final!.usage);
        await keep(turn, final!);
      },
    );
  } catch (err) {
    const failure = streamFailure(ctx, instance, err);
    // The Responses API's `error` event, numbered after the last event the provider sent.
    if (failure) ctx.res.end(sseFrame({ type: 'error', code: failure.code, message: deps.scrubber.scrub(failure.message), param: null, sequence_number: lastSequence + 1 } as unknown as ResponseStreamEvent));
  }
}

/**
 * The client's body for the provider: the model id the provider names it by, the earlier turns
 * spelled out before this turn's input, no `previous_response_id`, and `store: false` (the
 * gateway keeps the conversation; the provider keeps nothing).
 */
function directBody(turn: Turn, model: string): Record<string, unknown> {
  const { previous_response_id: _previous, ...rest } = turn.body;
  // Every item goes without its id: the provider stores nothing, so no id means anything there.
  const own = typeof turn.body.input === 'string' ? turn.body.input : turn.body.input?.flatMap((item) => replayable(item as unknown as ResponseItem));
  const input = turn.history.length === 0 ? own : [...turn.history.flatMap(replayable), ...(typeof own === 'string' ? [{ role: 'user', content: own }] : (own ?? []))];
  return { ...rest, model, input, store: false };
}

/**
 * An item as input to a provider that keeps nothing: without its `id` and `status` (the provider
 * would look the id up, and it stored nothing), and reasoning only when it carries its encrypted
 * content (a bare reasoning item cannot be read back without the provider's copy).
 */
function replayable(item: ResponseItem): Record<string, unknown>[] {
  const { id: _id, status: _status, ...rest } = item as unknown as Record<string, unknown>;
  if (rest['type'] === 'reasoning' && typeof rest['encrypted_content'] !== 'string') return [];
  return [rest];
}
