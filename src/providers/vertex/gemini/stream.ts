import type { EventDecoder, StreamMapping, StreamOutput } from '../../../protocol/chat-stream.js';
import { parseJsonWithin } from '../../../protocol/json.js';
import type { ChatCompletionChunk } from '../../../protocol/openai.js';
import { SseDecoder } from '../../../protocol/sse.js';
import { StreamIncomplete } from '../../../protocol/translator.js';
import { isObject } from './request.js';
import { blockedText, finishReason, googleErrorText, indexOf, partsOf, textOf, toolCallOf, usageCounts, type Candidate, type GenerateContentResponse } from './response.js';

/**
 * Gemini `streamGenerateContent?alt=sse` events → OpenAI chunks, over the shared skeleton
 * (protocol/chat-stream.ts). The stream is complete when every candidate it named has had a
 * finishReason (or the prompt was blocked) and the body then ended cleanly: finish chunks (and
 * the usage chunk) are sent at that end, so an error Google appends after a finishReason still
 * fails the stream.
 */

/** An SSE event, or the text Google left outside SSE framing at the end (its bare error object). */
export type GeminiFrame = { data: string } | { unframed: string };

/** SSE framing that keeps unframed text: Google's mid-stream error object comes after the last event, outside SSE. */
export function geminiDecoder(lineLimit: number | undefined): EventDecoder<GeminiFrame> {
  const sse = new SseDecoder({ keepUnframedText: true, lineLimit });
  return {
    push: (chunk) => sse.push(chunk),
    end: () => {
      const frames: GeminiFrame[] = sse.end();
      if (sse.unframedText !== '') frames.push({ unframed: sse.unframedText });
      return frames;
    },
  };
}

/** Per-choice state of a stream. */
interface ChoiceState {
  /** The role was sent (it rides on the first delta). */
  started: boolean;
  finish: string | undefined;
  finishMessage: unknown;
}

/** The events of one stream. Per request: the per-choice state and a blocked prompt are in fields. */
export class GeminiEvents implements StreamMapping<GeminiFrame> {
  /** The `n` asked for: a blocked prompt finishes that many choices. */
  readonly #candidates: number;
  readonly #choices = new Map<number, ChoiceState>();
  #blocked: string | undefined;

  constructor(candidates: number) {
    this.#candidates = candidates;
  }

  event(frame: GeminiFrame, out: StreamOutput): void {
    if ('unframed' in frame) {
      let parsed: unknown;
      try {
        parsed = parseJsonWithin(frame.unframed);
      } catch {
        parsed = undefined;
      }
      throw new StreamIncomplete(googleErrorText(parsed) ?? 'the provider stream ended with text that is not an event');
    }
    let event: unknown;
    try {
      event = parseJsonWithin(frame.data);
    } catch {
      throw new StreamIncomplete('the provider sent an event that is not JSON (or nests too deep)');
    }
    if (!isObject(event)) throw new StreamIncomplete('the provider sent an event that is not a JSON object');
    const error = googleErrorText(event);
    if (error !== undefined) throw new StreamIncomplete(error);
    this.#event(event as GenerateContentResponse, out);
  }

  #event(event: GenerateContentResponse, out: StreamOutput): void {
    out.usage = usageCounts(event.usageMetadata) ?? out.usage;
    this.#blocked ??= blockedText(event.promptFeedback);
    if (!Array.isArray(event.candidates)) return;
    for (const c of event.candidates as unknown[]) {
      if (!isObject(c)) continue;
      const candidate = c as Candidate;
      const index = indexOf(candidate);
      let state = this.#choices.get(index);
      if (!state) this.#choices.set(index, (state = { started: false, finish: undefined, finishMessage: undefined }));
      for (const part of partsOf(candidate)) {
        const text = textOf(part);
        if (text !== undefined && text !== '') this.#delta(index, state, { content: text }, out);
        const call = toolCallOf(part);
        if (call) this.#delta(index, state, { tool_calls: [{ index: out.toolCalls.open(index, call.id), id: call.id, type: 'function', function: call.function }] }, out);
      }
      if (typeof candidate.finishReason === 'string') {
        state.finish = candidate.finishReason;
        state.finishMessage = candidate.finishMessage;
      }
    }
  }

  #delta(index: number, state: ChoiceState, delta: ChatCompletionChunk['choices'][number]['delta'], out: StreamOutput): void {
    if (state.started) out.emit(index, delta);
    else {
      state.started = true;
      out.emit(index, { role: 'assistant', ...delta });
    }
  }

  end(out: StreamOutput): void {
    if (this.#choices.size === 0) {
      if (this.#blocked === undefined) throw new StreamIncomplete('the provider stream ended without a finishReason');
      for (let index = 0; index < this.#candidates; index++) out.emit(index, { role: 'assistant' }, 'content_filter');
      return;
    }
    const indexes = [...this.#choices.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      if (this.#choices.get(index)!.finish === undefined) throw new StreamIncomplete('the provider stream ended without a finishReason');
    }
    for (const index of indexes) {
      const state = this.#choices.get(index)!;
      out.emit(index, state.started ? {} : { role: 'assistant' }, finishReason(state.finish!, out.toolCalls.count(index) > 0, state.finishMessage));
    }
  }
}
