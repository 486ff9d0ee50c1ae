import { ChatStream, type EventDecoder, type StreamMapping, type StreamOutput } from '../chat-stream.js';
import { parseJsonWithin } from '../json.js';
import type { ChatCompletionChunk } from '../openai.js';
import { SseDecoder } from '../sse.js';
import { StreamIncomplete, type TranslatorOptions } from '../translator.js';
import { finishReason, foldUsage, stringOr } from './response.js';
import type { AnthropicStreamEvent } from './types.js';

/**
 * Anthropic Messages stream events → OpenAI chunks
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming). Hosts differ only in
 * framing, so a Bedrock or Vertex host feeds the same mapping the events it decoded.
 *
 * A mid-stream `error` event, malformed event JSON, or an end without `message_stop` throw
 * StreamIncomplete (the client gets an error event; the HTTP status is long gone, so a
 * GatewayError code would mean nothing). The include_usage chunk is sent at `message_stop` only.
 */

/** The events of one Messages stream. Per request: whether the message stopped is in a field. */
class AnthropicEvents implements StreamMapping<AnthropicStreamEvent> {
  #stopped = false;

  event(ev: AnthropicStreamEvent, out: StreamOutput): void {
    if (this.#stopped) return;
    switch (ev.type) {
      case 'message_start':
        out.usage = foldUsage(ev.message?.usage, out.usage);
        out.emit(0, { role: 'assistant', content: '' });
        return;
      case 'content_block_start':
        return blockStart(ev.index, ev.content_block, out);
      case 'content_block_delta':
        return blockDelta(ev.index, ev.delta, out);
      case 'message_delta': {
        out.usage = foldUsage(ev.usage, out.usage);
        const reason = finishReason(ev.delta?.stop_reason);
        if (reason !== null) out.emit(0, {}, reason);
        return;
      }
      case 'message_stop':
        this.#stopped = true;
        out.sendUsage();
        return;
      case 'error': {
        const kind = typeof ev.error?.type === 'string' ? ev.error.type : 'error';
        const message = typeof ev.error?.message === 'string' ? ev.error.message : 'no message';
        throw new StreamIncomplete(`Anthropic stream error (${kind}): ${message}`);
      }
      default:
        // content_block_stop, ping, and event types Anthropic may add (versioning policy).
        return;
    }
  }

  end(): void {
    if (!this.#stopped) throw new StreamIncomplete('Anthropic stream ended before message_stop');
  }
}

function blockStart(index: number, block: { type: string; text?: string; id?: string; name?: string } | undefined, out: StreamOutput): void {
  if (block?.type === 'text') {
    if (typeof block.text === 'string' && block.text !== '') out.emit(0, { content: block.text });
    return;
  }
  if (block?.type !== 'tool_use') return; // thinking, server tools: never requested
  const n = out.toolCalls.open(0, index);
  out.emit(0, { tool_calls: [{ index: n, id: stringOr(block.id, ''), type: 'function', function: { name: stringOr(block.name, ''), arguments: '' } }] });
}

function blockDelta(index: number, delta: { type: string; text?: string; partial_json?: string } | undefined, out: StreamOutput): void {
  if (delta?.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') {
    out.emit(0, { content: delta.text });
  } else if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
    const n = out.toolCalls.indexOf(0, index);
    if (n !== undefined) out.emit(0, { tool_calls: [{ index: n, function: { arguments: delta.partial_json } }] });
  }
}

/**
 * The stream state machine over parsed Anthropic events. Per request; it holds the stream's
 * state in its fields (tool-call numbering, usage, whether the message stopped). A failure
 * throws at once.
 *
 * @example
 * const t = new AnthropicEventTranslator(options);
 * for (const ev of decodedEvents) send(t.event(ev));
 * send(t.end()); // throws StreamIncomplete without message_stop
 */
export class AnthropicEventTranslator extends ChatStream<AnthropicStreamEvent> {
  constructor(options: TranslatorOptions) {
    super(options, new AnthropicEvents(), 'at-once');
  }

  /** Translates one event. Throws StreamIncomplete for an `error` event. */
  event(ev: AnthropicStreamEvent): ChatCompletionChunk[] {
    return this.translate(() => [ev]);
  }
}

/** Parses one event's JSON; a malformed event ends the stream (StreamIncomplete). */
export function parseAnthropicEvent(json: string): AnthropicStreamEvent {
  let ev: unknown;
  try {
    ev = parseJsonWithin(json);
  } catch (err) {
    throw new StreamIncomplete('Anthropic sent a stream event that is not JSON (or nests too deep)', { cause: err });
  }
  if (ev === null || typeof ev !== 'object' || typeof (ev as { type?: unknown }).type !== 'string') {
    throw new StreamIncomplete('Anthropic sent a stream event without a type');
  }
  return ev as AnthropicStreamEvent;
}

/** SSE framing (api.anthropic.com, Vertex `streamRawPredict`); `lineLimit` as in SseDecoderOptions. */
export function sseEventDecoder(lineLimit?: number): EventDecoder<AnthropicStreamEvent> {
  const sse = new SseDecoder({ lineLimit });
  return {
    push: (chunk) => sse.push(chunk).map((ev) => parseAnthropicEvent(ev.data)),
    end: () => sse.end().map((ev) => parseAnthropicEvent(ev.data)),
  };
}
