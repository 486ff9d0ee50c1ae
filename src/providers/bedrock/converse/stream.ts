import { exceptionMessage, type BedrockEvent } from '../../../protocol/aws-eventstream.js';
import type { StreamMapping, StreamOutput } from '../../../protocol/chat-stream.js';
import type { ChunkToolCall, FinishReason } from '../../../protocol/openai.js';
import { StreamIncomplete } from '../../../protocol/translator.js';
import { converseUsage, finishReason, isObject } from './response.js';

/**
 * ConverseStream events → OpenAI chunks, over the shared skeleton (protocol/chat-stream.ts).
 * One choice; the stream is complete with messageStop and metadata, in either order, and the
 * usage chunk follows the finish chunk whichever of the two came last.
 */

/**
 * Exception members of the ConverseStream union. The service frames them as
 * `:message-type: exception`; an `event` frame carrying one of these names (as the SDK's
 * snapshot harness encodes them) is the same exception.
 */
const STREAM_EXCEPTIONS = new Set(['internalServerException', 'modelStreamErrorException', 'validationException', 'throttlingException', 'serviceUnavailableException']);

/** The events of one stream. Per request: its state (server tools, finish, metadata) is in fields. */
export class ConverseEvents implements StreamMapping<BedrockEvent> {
  /** contentBlockIndex of server-side tool use, whose deltas are not the client's. */
  readonly #serverTools = new Set<number>();
  /** Set by messageStop. */
  #finish: FinishReason | undefined;
  /** Set by a messageStop whose reason is a failure; raised once the usage after it is read. */
  #malformed: StreamIncomplete | undefined;
  #metadata = false;

  event(ev: BedrockEvent, out: StreamOutput): void {
    if (ev.kind === 'error') throw new StreamIncomplete(`${ev.type}: ${ev.message ?? 'no message'}`);
    if (ev.kind === 'exception' || STREAM_EXCEPTIONS.has(ev.type)) throw new StreamIncomplete(`${ev.type}: ${exceptionMessage(ev.payload) ?? 'no message'}`);
    const p = isObject(ev.payload) ? ev.payload : {};
    if (this.#malformed) {
      // Only the usage still matters (the tokens were spent); the next frame raises the failure.
      if (ev.type === 'metadata') this.#readUsage(p, out);
      throw this.#malformed;
    }
    // After messageStop and metadata nothing more belongs to the answer.
    if (this.#finish !== undefined && this.#metadata) return;
    switch (ev.type) {
      case 'messageStart':
        start(out);
        break;
      case 'contentBlockStart': {
        const use = isObject(p['start']) ? p['start']['toolUse'] : undefined;
        if (!isObject(use)) break; // image and toolResult starts carry nothing for the client
        const block = blockIndex(p);
        if (use['type'] === 'server_tool_use') {
          this.#serverTools.add(block);
          break;
        }
        if (typeof use['toolUseId'] !== 'string' || typeof use['name'] !== 'string') throw new StreamIncomplete('Bedrock started a toolUse block without toolUseId and name');
        const index = out.toolCalls.open(0, block);
        start(out);
        out.emit(0, { tool_calls: [{ index, id: use['toolUseId'], type: 'function', function: { name: use['name'], arguments: '' } }] });
        break;
      }
      case 'contentBlockDelta': {
        const delta = isObject(p['delta']) ? p['delta'] : {};
        if (typeof delta['text'] === 'string') {
          start(out);
          if (delta['text'] !== '') out.emit(0, { content: delta['text'] });
        } else if (isObject(delta['toolUse'])) {
          const block = blockIndex(p);
          if (this.#serverTools.has(block)) break;
          const index = out.toolCalls.indexOf(0, block);
          if (index === undefined) throw new StreamIncomplete(`Bedrock sent toolUse input for content block ${block}, which did not start as a toolUse`);
          const input = delta['toolUse']['input'];
          if (typeof input === 'string' && input !== '') out.emit(0, { tool_calls: [{ index, function: { arguments: input } } satisfies ChunkToolCall] });
        }
        // reasoningContent, citation, image and toolResult deltas have no OpenAI form.
        break;
      }
      case 'messageStop': {
        if (this.#finish !== undefined) break;
        const finish = finishReason(p['stopReason']);
        if (finish === undefined) {
          this.#malformed = new StreamIncomplete(`Bedrock stopped with ${String(p['stopReason'])}: the model's output could not be used`);
          break;
        }
        start(out);
        this.#finish = finish;
        out.emit(0, {}, finish);
        this.#sendUsage(out);
        break;
      }
      case 'metadata':
        this.#metadata = true;
        this.#readUsage(p, out);
        this.#sendUsage(out);
        break;
      default:
        // contentBlockStop, and members added to the union later.
        break;
    }
  }

  end(): void {
    if (this.#malformed) throw this.#malformed;
    if (this.#finish === undefined) throw new StreamIncomplete('the Bedrock stream ended before messageStop');
    if (!this.#metadata) throw new StreamIncomplete('the Bedrock stream ended before its metadata event');
  }

  /** The usage chunk follows the finish chunk, whichever of messageStop and metadata came last. */
  #sendUsage(out: StreamOutput): void {
    if (this.#finish !== undefined && this.#metadata) out.sendUsage();
  }

  #readUsage(payload: Record<string, unknown>, out: StreamOutput): void {
    const usage = converseUsage(payload);
    if (usage) out.usage = usage;
  }
}

/** The role chunk, once, before the first content of the answer. */
function start(out: StreamOutput): void {
  if (out.choices.start(0)) out.emit(0, { role: 'assistant', content: '' });
}

function blockIndex(payload: Record<string, unknown>): number {
  const i = payload['contentBlockIndex'];
  return typeof i === 'number' ? i : 0;
}
