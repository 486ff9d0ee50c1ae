import { ChoiceProgress, choiceChunk, usageChunk, type ChunkDelta, type TokenCounts } from './chunks.js';
import type { ChatCompletionChunk, FinishReason } from './openai.js';
import type { TranslatorOptions } from './translator.js';

/**
 * The streaming chat skeleton every translator runs on: provider events in, OpenAI chunks out.
 * A translator supplies only a `StreamMapping` (what each of its events means); `ChatStream`
 * keeps the bookkeeping they all share: which choices started and finished, the OpenAI index of
 * every tool call, the usage seen, the include_usage chunk (sent once, last), and what happens
 * to a failure. Per request: it holds the stream's state in its fields.
 *
 * @example
 * const stream = new ChatStream(options, new OciEvents(), 'at-once');
 * send(stream.translate(() => sse.push(bytes))); // per upstream read
 * send(stream.translate(() => sse.end()));       // the body ended: buffered events
 * send(stream.end());                            // terminal checks, then the usage chunk
 */

/** Decodes a provider's stream framing (SSE, AWS event stream) into its events. Per request. */
export interface EventDecoder<E> {
  /** The events `chunk` completed; may be lazy, so a bad frame fails after the events before it were translated. */
  push(chunk: Uint8Array): Iterable<E>;
  /** The body ended: events still buffered; throws for a cut frame. */
  end(): Iterable<E>;
}

/** The provider half of a stream translation. Per request; its own state lives in its fields. */
export interface StreamMapping<E> {
  /** One event; chunks go out through `out`. Throws StreamIncomplete for a provider failure. */
  event(ev: E, out: StreamOutput): void;
  /** The upstream ended: the provider's terminal checks (StreamIncomplete) and last chunks. */
  end(out: StreamOutput): void;
}

/**
 * What happens to a failure met after some chunks of the same upstream read were made:
 * `at-once` throws now (those chunks are lost), `after-chunks` returns them and throws on the
 * next call, so what the client sees does not depend on where the bytes were cut. Either way a
 * stream that failed stays failed: every later call throws the same error.
 */
export type FailurePolicy = 'at-once' | 'after-chunks';

/**
 * OpenAI tool-call indexes per choice: each call a provider opens (keyed by its own content block
 * index or call id) gets the next index of its choice, from 0.
 */
export class ToolCallIndexes {
  readonly #keys = new Map<number, unknown[]>();

  /** A new call of `choice`: its OpenAI index. */
  open(choice: number, key: unknown): number {
    const keys = this.#keys.get(choice) ?? [];
    this.#keys.set(choice, keys);
    return keys.push(key) - 1;
  }

  /** The index of the latest call of `choice` opened under `key`; undefined if none. */
  indexOf(choice: number, key: unknown): number | undefined {
    const i = this.#keys.get(choice)?.lastIndexOf(key) ?? -1;
    return i < 0 ? undefined : i;
  }

  /** The key of the last call `choice` opened; undefined before its first. */
  lastKey(choice: number): unknown {
    return this.#keys.get(choice)?.at(-1);
  }

  count(choice: number): number {
    return this.#keys.get(choice)?.length ?? 0;
  }
}

/** The skeleton's state, as a StreamMapping writes through it. */
export class StreamOutput {
  readonly options: TranslatorOptions;
  readonly choices = new ChoiceProgress();
  readonly toolCalls = new ToolCallIndexes();
  /** The latest usage the provider reported. */
  usage: TokenCounts | undefined;
  #usageSent = false;
  #chunks: ChatCompletionChunk[] = [];

  constructor(options: TranslatorOptions) {
    this.options = options;
  }

  /** Appends a chunk of choice `index` (returned, for a field the shared types leave out). */
  emit(index: number, delta: ChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk {
    const chunk = choiceChunk(this.options, index, delta, finish);
    this.#chunks.push(chunk);
    return chunk;
  }

  /** The include_usage chunk, once, when asked for and the usage is known. */
  sendUsage(): void {
    if (!this.options.includeUsage || this.#usageSent || !this.usage) return;
    this.#usageSent = true;
    this.#chunks.push(usageChunk(this.options, this.usage));
  }

  /** The chunks appended since the last call. */
  take(): ChatCompletionChunk[] {
    const out = this.#chunks;
    this.#chunks = [];
    return out;
  }
}

export class ChatStream<E> {
  readonly #mapping: StreamMapping<E>;
  readonly #policy: FailurePolicy;
  readonly #out: StreamOutput;
  #failure: Error | undefined;

  constructor(options: TranslatorOptions, mapping: StreamMapping<E>, policy: FailurePolicy) {
    this.#mapping = mapping;
    this.#policy = policy;
    this.#out = new StreamOutput(options);
  }

  /** The chunks for the events `read` returns (a decoder call, so its failures follow the policy too). */
  translate(read: () => Iterable<E>): ChatCompletionChunk[] {
    if (this.#failure) throw this.#failure;
    try {
      for (const ev of read()) this.#mapping.event(ev, this.#out);
    } catch (err) {
      this.#failure = err instanceof Error ? err : new Error(String(err));
      const made = this.#out.take();
      if (this.#policy === 'at-once' || made.length === 0) throw this.#failure;
      return made;
    }
    return this.#out.take();
  }

  /** The upstream ended (after its last events were translated): terminal checks, then the usage chunk. */
  end(): ChatCompletionChunk[] {
    if (this.#failure) throw this.#failure;
    try {
      this.#mapping.end(this.#out);
      this.#out.sendUsage();
    } catch (err) {
      throw (this.#failure = err instanceof Error ? err : new Error(String(err)));
    }
    return this.#out.take();
  }

  usage(): TokenCounts | undefined {
    return this.#out.usage && { ...this.#out.usage };
  }
}
