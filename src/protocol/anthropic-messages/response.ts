import { GatewayError } from '../../errors/gateway-error.js';
import { chatCompletion, onlyChoice, type TokenCounts } from '../chunks.js';
import type { ChatCompletion, FinishReason, ToolCall } from '../openai.js';
import type { TranslatorOptions } from '../translator.js';
import type { AnthropicResponse, AnthropicUsage } from './types.js';

/**
 * Anthropic Messages answers → OpenAI chat completions (https://docs.anthropic.com/en/api/messages).
 *
 * Responses: text blocks → `content` (null when there is none); `tool_use` → `tool_calls`;
 * thinking and server-tool blocks are ignored (the gateway never asks for them). Stop reasons:
 * end_turn/stop_sequence → stop, max_tokens/model_context_window_exceeded → length,
 * tool_use → tool_calls, refusal → content_filter; any other (pause_turn) → no finish_reason,
 * never a guessed one. Usage: prompt = input + cache writes + cache reads, completion = output;
 * absent usage stays absent.
 */

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** The OpenAI finish_reason for a stop_reason; null for one without equivalent (pause_turn). */
export function finishReason(stopReason: unknown): FinishReason | null {
  return typeof stopReason === 'string' && Object.hasOwn(FINISH_REASONS, stopReason) ? FINISH_REASONS[stopReason]! : null;
}

/**
 * Folds one Anthropic usage object into `acc`. Input is input_tokens plus cache writes and
 * reads (all billed as input). Returns undefined when `usage` reports nothing.
 */
export function foldUsage(usage: AnthropicUsage | undefined, acc: TokenCounts | undefined): TokenCounts | undefined {
  if (usage === null || typeof usage !== 'object') return acc;
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const input = [usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens].map(n);
  const output = n(usage.output_tokens);
  const sawInput = input.some((v) => v !== undefined);
  if (!sawInput && output === undefined) return acc;
  const next = acc ? { ...acc } : { inputTokens: 0, outputTokens: 0 };
  if (sawInput) next.inputTokens = input.reduce<number>((sum, v) => sum + (v ?? 0), 0);
  if (output !== undefined) next.outputTokens = output;
  return next;
}

/** A non-streaming Messages answer as a chat.completion; `usage` is what it reported. */
export function toChatCompletion(message: AnthropicResponse, options: TranslatorOptions): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  if (message === null || typeof message !== 'object' || !Array.isArray(message.content)) {
    throw new GatewayError('upstream_error', 'Anthropic answered with a body that is not a message');
  }
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content as unknown[]) {
    if (block === null || typeof block !== 'object') continue;
    const b = block as AnthropicResponse['content'][number];
    if (b.type === 'text' && typeof b.text === 'string') texts.push(b.text);
    else if (b.type === 'tool_use') {
      toolCalls.push({ id: stringOr(b.id, ''), type: 'function', function: { name: stringOr(b.name, ''), arguments: JSON.stringify(b.input ?? {}) } });
    }
  }
  const usage = foldUsage(message.usage, undefined);
  const completion = chatCompletion(options, [onlyChoice(texts.length > 0 ? texts.join('') : null, toolCalls, finishReason(message.stop_reason))], usage);
  return { completion, usage };
}

/** `v` when it is a string; Anthropic's answer may hold anything where a string belongs. */
export function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

/**
 * The message of an Anthropic error body (`{"type":"error","error":{"type","message"}}`), or
 * of the `{"message"}` bodies Bedrock and Vertex return for Claude; undefined if none.
 */
export function anthropicErrorMessage(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const p = parsed as { error?: { message?: unknown }; message?: unknown };
  if (typeof p.error?.message === 'string') return p.error.message;
  return typeof p.message === 'string' ? p.message : undefined;
}
