import type { StreamMapping, StreamOutput } from '../../../protocol/chat-stream.js';
import { parseJsonWithin } from '../../../protocol/json.js';
import type { ChatCompletionChunk, ChunkToolCall } from '../../../protocol/openai.js';
import type { SseEvent } from '../../../protocol/sse.js';
import { StreamIncomplete } from '../../../protocol/translator.js';
import type { ApiFormat } from './request.js';
import { countsOf, errorText, finishOf, genericText, rawToolCalls } from './response.js';

/**
 * OCI's data-only SSE events → OpenAI chunks, over the shared skeleton (protocol/chat-stream.ts).
 * A stream is complete when every choice it started has a finishReason (cohere: one choice); an
 * end before that, an error body or malformed JSON throw StreamIncomplete. Per request: the
 * format is in a field, every other state in the skeleton.
 */
export class OciEvents implements StreamMapping<SseEvent> {
  readonly #format: ApiFormat;

  constructor(format: ApiFormat) {
    this.#format = format;
  }

  event(ev: SseEvent, out: StreamOutput): void {
    if (ev.data === '' || ev.data === '[DONE]') return;
    let parsed: unknown;
    try {
      parsed = parseJsonWithin(ev.data);
    } catch {
      throw new StreamIncomplete('OCI sent a stream event that is not JSON (or nests too deep)');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new StreamIncomplete('OCI sent a stream event that is not a JSON object');
    const event = parsed as Record<string, unknown>;
    if (typeof event['code'] === 'string' && typeof event['message'] === 'string') throw new StreamIncomplete(`OCI stream error: ${errorText(event)}`);
    const usage = countsOf(event['usage']);
    if (usage) out.usage = usage;
    const generic = this.#format === 'GENERIC';
    const finish = finishOf(event['finishReason']);
    const index = generic && typeof event['index'] === 'number' ? event['index'] : 0;
    if (finish.kind === 'failed') throw new StreamIncomplete(`OCI ended choice ${index} with finishReason "${finish.reason}"`);
    // Cohere's last event repeats the whole answer in `text`; only its finishReason is news.
    const text = generic ? genericText(event['message']) : finish.kind === 'open' && typeof event['text'] === 'string' ? event['text'] : null;
    const fragments = generic ? rawToolCalls(event['message']) : [];
    if (text === null && fragments.length === 0 && finish.kind === 'open') return; // a usage-only or empty event
    const first = out.choices.start(index);
    const delta: ChatCompletionChunk['choices'][number]['delta'] = {};
    if (first) delta.role = 'assistant';
    if (text !== null && text !== '') delta.content = text;
    else if (first) delta.content = fragments.length > 0 ? null : '';
    const toolCalls = toolCallDeltas(index, fragments, out);
    if (toolCalls.length > 0) delta.tool_calls = toolCalls;
    if (finish.kind === 'finished') out.choices.finish(index);
    out.emit(index, delta, finish.kind === 'finished' ? finish.reason : null);
  }

  end(out: StreamOutput): void {
    out.choices.assertComplete('OCI');
  }
}

/**
 * Tool call fragments of choice `index` → OpenAI tool_calls deltas: a fragment with a new id (or
 * a name) starts a call, one without continues the last call's arguments.
 */
function toolCallDeltas(index: number, fragments: Array<Record<string, unknown>>, out: StreamOutput): ChunkToolCall[] {
  const deltas: ChunkToolCall[] = [];
  for (const f of fragments) {
    const id = typeof f['id'] === 'string' && f['id'] !== '' ? f['id'] : undefined;
    const name = typeof f['name'] === 'string' && f['name'] !== '' ? f['name'] : undefined;
    const args = typeof f['arguments'] === 'string' ? f['arguments'] : f['arguments'] === undefined || f['arguments'] === null ? '' : JSON.stringify(f['arguments']);
    const calls = out.toolCalls.count(index);
    const continues = calls > 0 && (id === undefined ? name === undefined : id === out.toolCalls.lastKey(index));
    if (continues) {
      if (args !== '') deltas.push({ index: calls - 1, function: { arguments: args } });
      continue;
    }
    const callId = id ?? `call_${index}_${calls}`;
    deltas.push({ index: out.toolCalls.open(index, callId), id: callId, type: 'function', function: { name: name ?? '', arguments: args } });
  }
  return deltas;
}
