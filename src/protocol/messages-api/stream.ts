import type { ChatCompletionChunk } from '../openai.js';
import { newToolUseId, stopReasonOf, usageOf } from './from-chat.js';
import type { ContentBlockDelta, MessageUsage, MessagesStreamEvent, ResponseContentBlock, StopReason, StreamErrorType } from './types.js';

/**
 * Chat chunks in, Anthropic Messages stream events out, in Anthropic's order
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
 *
 *   message_start (empty content; input_tokens when the first chunk reports usage, else 0)
 *   ping
 *   per block, in order: content_block_start, content_block_delta…, content_block_stop
 *     (a thinking block for `delta.reasoning_content`, which some providers send; a text
 *     block for `delta.content` and `delta.refusal`; a tool_use block per tool call, with `input_json_delta`s;
 *     a block of another kind, or a new tool call, closes the open block)
 *   message_delta (stop_reason, stop_sequence null, usage: output_tokens and, once the provider
 *     reported them, the cumulative input and cache counts)
 *   message_stop
 *
 * The chat stream's usage arrives in its last chunk, after the finish reason
 * (`stream_options.include_usage`), so the message_delta is written by `end()`, after the
 * provider's stream ended cleanly. A stream that ends without a finish reason, or fails, ends
 * with an `error` event and never with message_stop. One instance per request: it holds the
 * stream's state (the open block, the block index of each chat tool call, the usage).
 *
 * @example
 * const out = new MessagesStream({ id: newMessageId(), model: req.model });
 * for (const bytes of upstream) for (const chunk of translator.push(bytes)) write(out.push(chunk).map(sseFrame).join(''));
 * try { write([...translator.end().flatMap((c) => out.push(c)), ...out.end()].map(sseFrame).join('')); }
 * catch (err) { write(sseFrame(out.error('api_error', 'the provider stream ended early'))); }
 */
export class MessagesStream {
  readonly #id: string;
  readonly #model: string;
  #started = false;
  #finished = false;
  /** Index of the next block; the open block's index is `#next - 1` when `#open` is set. */
  #next = 0;
  #open: { kind: 'text' | 'thinking' } | { kind: 'tool'; chatIndex: number } | undefined;
  /** Chat tool-call index → its block index. */
  readonly #tools = new Map<number, number>();
  #finish: string | null = null;
  #usage: MessageUsage | undefined;

  constructor(meta: { id: string; model: string }) {
    this.#id = meta.id;
    this.#model = meta.model;
  }

  /** The events one chat chunk stands for (the first call also writes message_start and ping). */
  push(chunk: ChatCompletionChunk): MessagesStreamEvent[] {
    if (this.#finished) return [];
    const out: MessagesStreamEvent[] = [];
    if (chunk.usage != null) this.#usage = usageOf(chunk.usage);
    this.#start(out);
    const choice = chunk.choices.find((c) => c.index === 0);
    if (choice === undefined) return out;
    const delta = choice.delta as ChatCompletionChunk['choices'][number]['delta'] & { reasoning_content?: unknown; refusal?: unknown };
    if (typeof delta.reasoning_content === 'string' && delta.reasoning_content !== '') {
      this.#into('thinking', out, { type: 'thinking', thinking: '', signature: '' });
      out.push({ type: 'content_block_delta', index: this.#next - 1, delta: { type: 'thinking_delta', thinking: delta.reasoning_content } });
    }
    // A refusal (OpenAI streams it apart from the content) is text to the client, as in chatToMessage.
    for (const text of [delta.content, delta.refusal]) {
      if (typeof text !== 'string' || text === '') continue;
      this.#into('text', out, { type: 'text', text: '' });
      out.push({ type: 'content_block_delta', index: this.#next - 1, delta: { type: 'text_delta', text } });
    }
    for (const call of delta.tool_calls ?? []) this.#toolCall(call, out);
    if (choice.finish_reason != null) {
      this.#finish = choice.finish_reason;
      this.#close(out);
    }
    return out;
  }

  /**
   * The provider's stream ended cleanly: the open block's stop, message_delta and message_stop;
   * an `error` event instead when no finish reason came (the answer is incomplete).
   */
  end(): MessagesStreamEvent[] {
    if (this.#finished) return [];
    if (this.#finish === null) return [this.error('api_error', 'the provider stream ended before the answer was complete')];
    const out: MessagesStreamEvent[] = [];
    this.#start(out);
    this.#close(out);
    this.#finished = true;
    const stop: StopReason = stopReasonOf(this.#finish, this.#tools.size > 0);
    const usage = this.#usage ?? { output_tokens: 0 };
    out.push({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null, stop_details: null, container: null }, usage });
    out.push({ type: 'message_stop' });
    return out;
  }

  /**
   * The `error` event for a provider error or a truncated stream; nothing is written after it.
   * `message` reaches the client: pass the gateway's wording, never a credential.
   */
  error(type: StreamErrorType, message: string): MessagesStreamEvent {
    this.#finished = true;
    return { type: 'error', error: { type, message } };
  }

  /** Usage seen so far (for accounting), or undefined. */
  usage(): MessageUsage | undefined {
    return this.#usage;
  }

  #start(out: MessagesStreamEvent[]): void {
    if (this.#started) return;
    this.#started = true;
    const usage: MessageUsage = { input_tokens: this.#usage?.input_tokens ?? 0, cache_creation_input_tokens: 0, cache_read_input_tokens: this.#usage?.cache_read_input_tokens ?? 0, output_tokens: 0 };
    out.push({
      type: 'message_start',
      message: { id: this.#id, type: 'message', role: 'assistant', model: this.#model, content: [], stop_reason: null, stop_sequence: null, stop_details: null, container: null, usage },
    });
    out.push({ type: 'ping' });
  }

  /** Makes a block of `kind` the open one, closing another kind's. */
  #into(kind: 'text' | 'thinking', out: MessagesStreamEvent[], block: ResponseContentBlock): void {
    if (this.#open?.kind === kind) return;
    this.#close(out);
    this.#open = { kind };
    out.push({ type: 'content_block_start', index: this.#next++, content_block: block });
  }

  #toolCall(call: NonNullable<ChatCompletionChunk['choices'][number]['delta']['tool_calls']>[number], out: MessagesStreamEvent[]): void {
    let index = this.#tools.get(call.index);
    if (index === undefined) {
      this.#close(out);
      index = this.#next++;
      this.#tools.set(call.index, index);
      this.#open = { kind: 'tool', chatIndex: call.index };
      out.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: call.id || newToolUseId(), name: call.function?.name ?? '', input: {} } });
    }
    // OpenAI streams one call after the other; arguments for an earlier call (a provider that
    // interleaves them) still go to that call's block, where the SDKs accumulate by index.
    const args = call.function?.arguments;
    if (typeof args === 'string' && args !== '') out.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: args } satisfies ContentBlockDelta });
  }

  #close(out: MessagesStreamEvent[]): void {
    if (this.#open === undefined) return;
    out.push({ type: 'content_block_stop', index: this.#next - 1 });
    this.#open = undefined;
  }
}

/**
 * One event as an SSE frame, named by its type as Anthropic names them.
 *
 * @example
 * sseFrame({ type: 'message_stop' }); // 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
 */
export function sseFrame(event: MessagesStreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}
