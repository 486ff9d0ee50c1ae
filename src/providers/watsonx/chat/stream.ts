import type { StreamMapping, StreamOutput } from '../../../protocol/chat-stream.js';
import { parseJsonWithin } from '../../../protocol/json.js';
import type { ChatCompletionChunk, ChunkToolCall } from '../../../protocol/openai.js';
import type { SseEvent } from '../../../protocol/sse.js';
import { StreamIncomplete } from '../../../protocol/translator.js';
import { countsOf, errorText, finishOf, logprobsOf, type WatsonxAnswer, type WatsonxChoice, type WatsonxToolCallDelta } from './response.js';

type OutDelta = ChatCompletionChunk['choices'][number]['delta'] & { reasoning_content?: string; refusal?: string };

const isObject = <T>(v: T): v is T & Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * watsonx `chat_stream` events → OpenAI chunks, over the shared skeleton (protocol/chat-stream.ts).
 * Per request: which choices streamed tool calls is in a field, every other state in the skeleton.
 * The include_usage chunk goes out on watsonx's usage-only last event, else at the end; a stream
 * is complete when every choice it started has finished.
 */
export class WatsonxEvents implements StreamMapping<SseEvent> {
  readonly #toolCallChoices = new Set<number>();

  event(ev: SseEvent, out: StreamOutput): void {
    if (ev.event === 'close' || ev.data === '[DONE]') return;
    if (ev.event === 'error') {
      throw new StreamIncomplete(`watsonx stream error: ${(errorText(tryParse(ev.data)) ?? ev.data.slice(0, 500)) || 'no message'}`);
    }
    const parsed = tryParse(ev.data);
    if (!isObject(parsed)) throw new StreamIncomplete('watsonx sent a stream event that is not a JSON object');
    const chunk = parsed as WatsonxAnswer;
    if (Array.isArray(chunk.errors)) throw new StreamIncomplete(`watsonx stream error: ${errorText(chunk) ?? 'no message'}`);
    const usage = countsOf(chunk.usage);
    if (usage) out.usage = usage;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    for (const c of choices) this.#choice(c, out);
    if (choices.length === 0 && usage) this.#final(out);
  }

  #choice(c: WatsonxChoice, out: StreamOutput): void {
    if (!isObject(c)) return;
    const index = typeof c.index === 'number' ? c.index : 0;
    out.choices.start(index);
    const finish = finishOf(c.finish_reason);
    if (finish.kind === 'failed') throw new StreamIncomplete(`watsonx ended choice ${index} with finish_reason "${finish.reason}"`);
    const d = isObject(c.delta) ? c.delta : {};
    const delta: OutDelta = {};
    if (d.role === 'assistant') delta.role = 'assistant';
    // The opening delta is {role, content: ""}, as OpenAI's; elsewhere an empty string says nothing.
    if (typeof d.content === 'string' && (d.content !== '' || delta.role !== undefined)) delta.content = d.content;
    if (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') delta.reasoning_content = d.reasoning_content;
    if (typeof d.refusal === 'string' && d.refusal !== '') delta.refusal = d.refusal;
    const calls = Array.isArray(d.tool_calls) ? this.#toolCalls(index, d.tool_calls) : [];
    if (calls.length > 0) delta.tool_calls = calls;
    const reason = finish.kind === 'finished' ? finish.reason : null;
    if (finish.kind === 'finished') out.choices.finish(index);
    if (Object.keys(delta).length === 0 && reason === null) return;
    out.emit(index, delta, reason).choices[0]!.logprobs = logprobsOf(c);
  }

  /** watsonx tool-call deltas as OpenAI's: `id`, `type` and `name` only when watsonx names them. */
  #toolCalls(choice: number, deltas: WatsonxToolCallDelta[]): ChunkToolCall[] {
    const calls: ChunkToolCall[] = [];
    for (const [i, t] of deltas.entries()) {
      if (!isObject(t)) continue;
      const call: ChunkToolCall = { index: typeof t.index === 'number' ? t.index : i };
      if (typeof t.id === 'string' && t.id !== '') {
        call.id = t.id;
        call.type = 'function';
      }
      const fn: NonNullable<ChunkToolCall['function']> = {};
      const name = t.function?.name;
      const args = t.function?.arguments;
      if (typeof name === 'string' && name !== '') fn.name = name;
      if (typeof args === 'string' && (args !== '' || call.id !== undefined)) fn.arguments = args;
      if (fn.name !== undefined || fn.arguments !== undefined) call.function = fn;
      if (call.id === undefined && call.function === undefined) continue;
      this.#toolCallChoices.add(choice);
      calls.push(call);
    }
    return calls;
  }

  /** watsonx's last chunk (`choices: []`, usage). */
  #final(out: StreamOutput): void {
    for (const index of this.#toolCallChoices) {
      if (out.choices.isOpen(index)) {
        out.choices.finish(index);
        out.emit(index, {}, 'tool_calls');
      }
    }
    out.sendUsage();
  }

  end(out: StreamOutput): void {
    out.choices.assertComplete('watsonx');
  }
}

function tryParse(text: string): unknown {
  try {
    // Bounded: what is parsed (logprobs) may be serialised again to the client.
    return parseJsonWithin(text);
  } catch {
    return undefined;
  }
}

