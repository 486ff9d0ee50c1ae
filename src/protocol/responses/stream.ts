import type { ChatCompletionChunk, ChatUsage, FinishReason } from '../openai.js';
import { asRecord, endOf, finishOf, outputText, responseObject, responseUsage } from './from-chat.js';
import {
  newItemId,
  type FunctionCallItem,
  type IdMaker,
  type OutputMessageItem,
  type OutputRefusal,
  type OutputText,
  type ResponseMeta,
  type ResponseObject,
  type ResponseOutputItem,
} from './types.js';

/**
 * Chat stream → Responses stream: the chat chunks the provider's translator produces become the
 * Responses API's semantic events, in the official order, each with a `sequence_number` from 0:
 *
 *   response.created, response.in_progress            (status in_progress, output [])
 *   per message:   response.output_item.added, response.content_part.added,
 *                  response.output_text.delta…, response.output_text.done,
 *                  response.content_part.done, response.output_item.done
 *                  (a refusal is a part of its own: response.refusal.delta… / .done)
 *   per tool call: response.output_item.added, response.function_call_arguments.delta…,
 *                  response.function_call_arguments.done, response.output_item.done
 *   response.completed, or response.incomplete (finish_reason length / content_filter),
 *   or response.failed (a provider error or a cut stream: never response.completed).
 *
 * https://platform.openai.com/docs/api-reference/responses-streaming
 */

interface Sequenced {
  sequence_number: number;
}

type ResponseEvent = { type: 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed'; response: ResponseObject };
type ItemEvent = { type: 'response.output_item.added' | 'response.output_item.done'; output_index: number; item: ResponseOutputItem };
type PartEvent = { type: 'response.content_part.added' | 'response.content_part.done'; item_id: string; output_index: number; content_index: number; part: OutputText | OutputRefusal };
type RefusalDeltaEvent = { type: 'response.refusal.delta'; item_id: string; output_index: number; content_index: number; delta: string };
type RefusalDoneEvent = { type: 'response.refusal.done'; item_id: string; output_index: number; content_index: number; refusal: string };
type TextDeltaEvent = { type: 'response.output_text.delta'; item_id: string; output_index: number; content_index: number; delta: string; logprobs: unknown[] };
type TextDoneEvent = { type: 'response.output_text.done'; item_id: string; output_index: number; content_index: number; text: string; logprobs: unknown[] };
type ArgumentsDeltaEvent = { type: 'response.function_call_arguments.delta'; item_id: string; output_index: number; delta: string };
type ArgumentsDoneEvent = { type: 'response.function_call_arguments.done'; item_id: string; output_index: number; name: string; arguments: string };

/** A Responses stream event, as the gateway writes them. */
type Unsequenced = ResponseEvent | ItemEvent | PartEvent | TextDeltaEvent | TextDoneEvent | RefusalDeltaEvent | RefusalDoneEvent | ArgumentsDeltaEvent | ArgumentsDoneEvent;
export type ResponseStreamEvent = Unsequenced & Sequenced;

interface OpenMessage {
  item: OutputMessageItem;
  index: number;
  /** The parts so far; the last one is still being written while `partOpen`. */
  parts: Array<OutputText | OutputRefusal>;
  partOpen: boolean;
}

interface OpenCall {
  item: FunctionCallItem;
  index: number;
}

/**
 * One streamed response: chat chunks in, Responses events out. Holds the stream's state (items
 * open, text and arguments so far, sequence number) in fields: one per request, never shared.
 * Only choice 0 is read (the converter never sets `n`).
 *
 * @example
 * const stream = new ResponsesStream({ id: newItemId('resp'), createdAt, model: req.model, request: req });
 * send(stream.start());                                   // created, in_progress
 * for (const chunk of translator.push(bytes)) send(stream.push(chunk));
 * try { translator.end().forEach((c) => send(stream.push(c))); send(stream.end()); }
 * catch (err) { send(stream.fail({ code: 'server_error', message: 'the provider stream ended early' })); }
 * store.save(stream.response());
 * function send(events) { for (const e of events) res.write(sseFrame(e)); }
 */
export class ResponsesStream {
  readonly #meta: ResponseMeta;
  readonly #newId: IdMaker;
  #sequence = 0;
  #started = false;
  /** Set once a terminal event (completed, incomplete, failed) went out: nothing follows it. */
  #closed = false;
  readonly #output: ResponseOutputItem[] = [];
  #message: OpenMessage | undefined;
  /** Tool calls by their chat `index`, open until the choice finishes. */
  readonly #calls = new Map<number, OpenCall>();
  #finish: FinishReason | null | undefined;
  #usage: ChatUsage | undefined;
  #final: ResponseObject | undefined;

  constructor(meta: ResponseMeta, newId: IdMaker = newItemId) {
    this.#meta = meta;
    this.#newId = newId;
  }

  /** `response.created` and `response.in_progress`, once (push, end and fail send them if not yet sent). */
  start(): ResponseStreamEvent[] {
    const out: ResponseStreamEvent[] = [];
    this.#start(out);
    return out;
  }

  /** The events one chat chunk makes (none for an empty delta). */
  push(chunk: ChatCompletionChunk): ResponseStreamEvent[] {
    const out: ResponseStreamEvent[] = [];
    if (this.#closed) return out;
    this.#start(out);
    // OpenAI-compatible translators relay the provider's chunks as they came (any object): every
    // field is checked, so an odd chunk adds nothing rather than throwing.
    if (typeof chunk.usage === 'object' && chunk.usage !== null && !Array.isArray(chunk.usage)) this.#usage = chunk.usage;
    for (const raw of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const choice = asRecord(raw);
      if (choice['index'] !== 0 || this.#finish !== undefined) continue;
      const delta = asRecord(choice['delta']);
      const content = delta['content'];
      if (typeof content === 'string' && content !== '') this.#part('output_text', content, out);
      // Not in ChunkDelta: OpenAI-compatible translators pass OpenAI's refusal deltas through as they came.
      const refusal = delta['refusal'];
      if (typeof refusal === 'string' && refusal !== '') this.#part('refusal', refusal, out);
      for (const call of Array.isArray(delta['tool_calls']) ? delta['tool_calls'].map(asRecord) : []) {
        const fn = asRecord(call['function']);
        if (Number.isInteger(call['index'])) this.#call(call['index'] as number, optionalString(call['id']), optionalString(fn['name']), optionalString(fn['arguments']), out);
      }
      const finish = choice['finish_reason'];
      if (typeof finish === 'string') {
        this.#finish = finishOf(finish);
        this.#closeAll(endOf(this.#finish).status === 'incomplete', out);
      }
    }
    return out;
  }

  /**
   * The chat stream ended: `response.completed` (or `response.incomplete`) with the usage. A
   * stream whose choice never finished was cut short: `response.failed` instead.
   */
  end(): ResponseStreamEvent[] {
    if (this.#closed) return [];
    if (this.#finish === undefined) return this.fail({ code: 'server_error', message: 'the provider stream ended before the answer finished' });
    const out: ResponseStreamEvent[] = [];
    this.#start(out);
    const end = endOf(this.#finish);
    this.#final = responseObject(this.#meta, { status: end.status, output: this.#snapshotOutput(), usage: responseUsage(this.#usage), incomplete: end.incomplete });
    this.#emit(out, { type: end.status === 'completed' ? 'response.completed' : 'response.incomplete', response: this.#final });
    this.#closed = true;
    return out;
  }

  /**
   * Closes the stream on a provider error or a cut stream: `response.failed` with the error and
   * the output so far (items still open marked incomplete), never `response.completed`.
   * `error.message` goes to the client: pass the gateway's message, never a secret.
   */
  fail(error: { code: string; message: string }): ResponseStreamEvent[] {
    if (this.#closed) return [];
    const out: ResponseStreamEvent[] = [];
    this.#start(out);
    for (const open of [this.#message, ...this.#calls.values()]) if (open !== undefined && open.item.status === 'in_progress') open.item.status = 'incomplete';
    this.#final = responseObject(this.#meta, { status: 'failed', output: this.#snapshotOutput(), usage: this.#usage ? responseUsage(this.#usage) : null, error: { code: error.code, message: error.message } });
    this.#emit(out, { type: 'response.failed', response: this.#final });
    this.#closed = true;
    return out;
  }

  /** The response as it stands: the final one after end or fail (for the store), else in progress. */
  response(): ResponseObject {
    return this.#final ?? responseObject(this.#meta, { status: 'in_progress', output: this.#snapshotOutput(), usage: null });
  }

  #start(out: ResponseStreamEvent[]): void {
    if (this.#started) return;
    this.#started = true;
    const shell = () => responseObject(this.#meta, { status: 'in_progress', output: [], usage: null });
    this.#emit(out, { type: 'response.created', response: shell() });
    this.#emit(out, { type: 'response.in_progress', response: shell() });
  }

  #part(kind: 'output_text' | 'refusal', delta: string, out: ResponseStreamEvent[]): void {
    let message = this.#message;
    if (message === undefined) {
      const item: OutputMessageItem = { id: this.#newId('msg'), type: 'message', status: 'in_progress', role: 'assistant', content: [] };
      message = { item, index: this.#output.push(item) - 1, parts: [], partOpen: false };
      this.#message = message;
      this.#emit(out, { type: 'response.output_item.added', output_index: message.index, item: copy(item) });
    }
    let part = message.partOpen ? message.parts.at(-1) : undefined;
    if (part === undefined || part.type !== kind) {
      this.#closePart(message, out);
      part = kind === 'output_text' ? outputText('') : { type: 'refusal', refusal: '' };
      message.parts.push(part);
      message.partOpen = true;
      this.#emit(out, { type: 'response.content_part.added', item_id: message.item.id, output_index: message.index, content_index: message.parts.length - 1, part: { ...part } });
    }
    const at = { item_id: message.item.id, output_index: message.index, content_index: message.parts.length - 1 };
    if (part.type === 'output_text') {
      part.text += delta;
      this.#emit(out, { type: 'response.output_text.delta', ...at, delta, logprobs: [] });
    } else {
      part.refusal += delta;
      this.#emit(out, { type: 'response.refusal.delta', ...at, delta });
    }
  }

  #closePart(message: OpenMessage, out: ResponseStreamEvent[]): void {
    const part = message.parts.at(-1);
    if (!message.partOpen || part === undefined) return;
    const at = { item_id: message.item.id, output_index: message.index, content_index: message.parts.length - 1 };
    if (part.type === 'output_text') this.#emit(out, { type: 'response.output_text.done', ...at, text: part.text, logprobs: [] });
    else this.#emit(out, { type: 'response.refusal.done', ...at, refusal: part.refusal });
    this.#emit(out, { type: 'response.content_part.done', ...at, part: { ...part } });
    message.partOpen = false;
  }

  #call(index: number, id: string | undefined, name: string | undefined, args: string | undefined, out: ResponseStreamEvent[]): void {
    let call = this.#calls.get(index);
    if (call === undefined) {
      // Text comes before the calls in a chat answer: the message is done when the first call starts.
      this.#closeMessage('completed', out);
      const item: FunctionCallItem = { id: this.#newId('fc'), type: 'function_call', status: 'in_progress', arguments: '', call_id: id ?? this.#newId('call'), name: name ?? '' };
      call = { item, index: this.#output.push(item) - 1 };
      this.#calls.set(index, call);
      this.#emit(out, { type: 'response.output_item.added', output_index: call.index, item: copy(item) });
    } else if (call.item.name === '' && typeof name === 'string') {
      call.item.name = name;
    }
    if (typeof args === 'string' && args !== '') {
      call.item.arguments += args;
      this.#emit(out, { type: 'response.function_call_arguments.delta', item_id: call.item.id, output_index: call.index, delta: args });
    }
  }

  #closeMessage(status: 'completed' | 'incomplete', out: ResponseStreamEvent[]): void {
    const message = this.#message;
    if (message === undefined) return;
    this.#closePart(message, out);
    message.item.content = message.parts.map((p) => ({ ...p }));
    message.item.status = status;
    this.#emit(out, { type: 'response.output_item.done', output_index: message.index, item: copy(message.item) });
    // Text after tool calls (rare) opens a new message.
    this.#message = undefined;
  }

  /** The choice finished: every open item is done, in output order; the last one is incomplete when the answer was cut. */
  #closeAll(cut: boolean, out: ResponseStreamEvent[]): void {
    const open = [...(this.#message ? [this.#message] : []), ...this.#calls.values()].filter((o) => o.item.status === 'in_progress').sort((a, b) => a.index - b.index);
    const lastIndex = this.#output.length - 1;
    for (const o of open) {
      const status = cut && o.index === lastIndex ? 'incomplete' : 'completed';
      if (o.item.type === 'message') {
        this.#closeMessage(status, out);
        continue;
      }
      const item = o.item;
      this.#emit(out, { type: 'response.function_call_arguments.done', item_id: item.id, output_index: o.index, name: item.name, arguments: item.arguments });
      item.status = status;
      this.#emit(out, { type: 'response.output_item.done', output_index: o.index, item: copy(item) });
    }
    if (cut && open.length === 0) {
      const last = this.#output.at(-1);
      if (last !== undefined) last.status = 'incomplete';
    }
  }

  /** The output items as they stand, copied (events already written never change); an open message with its text so far. */
  #snapshotOutput(): ResponseOutputItem[] {
    return this.#output.map((item) => (this.#message !== undefined && item === this.#message.item ? { ...item, content: this.#message.parts.map((p) => ({ ...p })) } : copy(item)));
  }

  #emit(out: ResponseStreamEvent[], event: Unsequenced): void {
    out.push({ ...event, sequence_number: this.#sequence++ } as ResponseStreamEvent);
  }
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function copy<T extends ResponseOutputItem>(item: T): T {
  return item.type === 'message' ? ({ ...item, content: item.content.map((p) => ({ ...p })) } as T) : { ...item };
}

/**
 * One event as OpenAI frames it on the wire: `event: <type>`, `data: <json>`, a blank line. JSON
 * never holds a raw newline, so one `data:` line is enough.
 *
 * @example
 * res.write(sseFrame(event)); // 'event: response.created\ndata: {"type":"response.created",…}\n\n'
 */
export function sseFrame(event: ResponseStreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}
