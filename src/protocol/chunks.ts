import type { ChatCompletion, ChatCompletionChunk, ChatUsage, FinishReason, ToolCall } from './openai.js';
import { StreamIncomplete, type TranslatorOptions } from './translator.js';

/**
 * Pieces every chat translator builds its OpenAI stream from, so the chunk shape, the
 * include_usage rules and the end-of-stream checks are the same for every provider.
 */

/** Input and output tokens as a provider reports them (for accounting and `usage`). */
export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
}

export type ChunkDelta = ChatCompletionChunk['choices'][number]['delta'];

/**
 * What a provider's finish reason means: finished (with OpenAI's reason, null when there is no
 * equivalent, never a guessed one), failed (the answer is unusable: a 502, or StreamIncomplete
 * in a stream), or not finished yet.
 */
export type ProviderFinish = { kind: 'finished'; reason: FinishReason | null } | { kind: 'failed'; reason: string } | { kind: 'open' };

/** Token counts from the two numbers a provider reported; undefined when it reported neither. */
export function tokenCounts(input: unknown, output: unknown): TokenCounts | undefined {
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const i = n(input);
  const o = n(output);
  if (i === undefined && o === undefined) return undefined;
  return { inputTokens: i ?? 0, outputTokens: o ?? 0 };
}

export function chatUsage(t: TokenCounts): ChatUsage {
  return { prompt_tokens: t.inputTokens, completion_tokens: t.outputTokens, total_tokens: t.inputTokens + t.outputTokens };
}

/** A non-streaming answer of `choices`; `usage` when the provider reported it. */
export function chatCompletion(o: TranslatorOptions, choices: ChatCompletion['choices'], usage: TokenCounts | undefined): ChatCompletion {
  const completion: ChatCompletion = { id: o.id, object: 'chat.completion', created: o.created, model: o.model, choices };
  if (usage) completion.usage = chatUsage(usage);
  return completion;
}

/** The choice of a provider that answers one: the assistant's text (null when it wrote none) and tool calls. */
export function onlyChoice(content: string | null, toolCalls: ToolCall[], finish: FinishReason | null): ChatCompletion['choices'][number] {
  return {
    index: 0,
    message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), refusal: null },
    finish_reason: finish,
    logprobs: null,
  };
}

/** A chunk of choice `index`. As OpenAI does, with include_usage every chunk but the last carries `usage: null`. */
export function choiceChunk(o: TranslatorOptions, index: number, delta: ChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk {
  const chunk: ChatCompletionChunk = { id: o.id, object: 'chat.completion.chunk', created: o.created, model: o.model, choices: [{ index, delta, finish_reason: finish, logprobs: null }] };
  if (o.includeUsage) chunk.usage = null;
  return chunk;
}

/** The last chunk of an include_usage stream: no choices, the totals. */
export function usageChunk(o: TranslatorOptions, usage: TokenCounts): ChatCompletionChunk {
  return { id: o.id, object: 'chat.completion.chunk', created: o.created, model: o.model, choices: [], usage: chatUsage(usage) };
}

/**
 * Which choices a stream has started and finished. A provider stream that ends before any
 * choice, or with a choice that never finished, was cut short: `assertComplete` says so.
 *
 * @example
 * if (progress.start(index)) delta.role = 'assistant';
 * if (finished) progress.finish(index);
 * progress.assertComplete('watsonx'); // at the end of the upstream stream
 */
export class ChoiceProgress {
  readonly #finished = new Map<number, boolean>();

  /** Records choice `index`; true the first time (its first chunk carries the role). */
  start(index: number): boolean {
    if (this.#finished.has(index)) return false;
    this.#finished.set(index, false);
    return true;
  }

  finish(index: number): void {
    this.#finished.set(index, true);
  }

  /** Started and not finished. */
  isOpen(index: number): boolean {
    return this.#finished.get(index) === false;
  }

  assertComplete(provider: string): void {
    if (this.#finished.size === 0) throw new StreamIncomplete(`${provider} stream ended before any choice`);
    for (const [index, finished] of this.#finished) {
      if (!finished) throw new StreamIncomplete(`${provider} stream ended before choice ${index} finished`);
    }
  }
}
