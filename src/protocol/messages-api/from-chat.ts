import { randomBytes } from 'node:crypto';
import { parseJsonWithin } from '../json.js';
import type { ChatCompletion, FinishReason } from '../openai.js';
import type { MessageResponse, MessageUsage, ResponseContentBlock, StopReason } from './types.js';

/**
 * Chat answer → Anthropic Messages answer (https://docs.anthropic.com/en/api/messages), for
 * providers reached through the chat hub.
 *
 * | Chat                                   | Messages                                                   |
 * |----------------------------------------|------------------------------------------------------------|
 * | message.reasoning_content (some providers) | a first `thinking` block (empty signature)             |
 * | message.content / message.refusal      | a `text` block (none when empty)                           |
 * | message.tool_calls                     | `tool_use` blocks, in order; the chat call id is kept      |
 * | tool call arguments                    | `input`: the parsed JSON object; arguments that are not a JSON object (a truncated call) give `{}` |
 * | finish_reason stop / length / tool_calls / content_filter | `end_turn` / `max_tokens` / `tool_use` / `refusal`; `stop` with tool calls is `tool_use` |
 * | usage.prompt_tokens                    | `input_tokens` minus the cached tokens                      |
 * | usage.prompt_tokens_details.cached_tokens | `cache_read_input_tokens` (0 when not reported)         |
 * | usage.completion_tokens                | `output_tokens`                                             |
 * | (none)                                 | `cache_creation_input_tokens` 0; `stop_sequence` null (chat does not say which stop matched) |
 */

/**
 * The Messages answer of a chat completion (its first choice: the converter never asks for more).
 *
 * @example
 * const message = chatToMessage(translator.response(upstreamBody), { id: newMessageId(), model: req.model });
 * // { id: 'msg_…', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', … }
 */
export function chatToMessage(completion: ChatCompletion, meta: { id: string; model: string }): MessageResponse {
  const choice = completion.choices[0];
  const message = (choice?.message ?? {}) as Partial<ChatCompletion['choices'][number]['message']> & { reasoning_content?: unknown };
  const content: ResponseContentBlock[] = [];
  if (typeof message.reasoning_content === 'string' && message.reasoning_content !== '') content.push({ type: 'thinking', thinking: message.reasoning_content, signature: '' });
  const text = typeof message.content === 'string' && message.content !== '' ? message.content : typeof message.refusal === 'string' ? message.refusal : '';
  if (text !== '') content.push({ type: 'text', text });
  for (const call of message.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    content.push({ type: 'tool_use', id: call.id || newToolUseId(), name: call.function.name, input: toolInput(call.function.arguments) });
  }
  const hasTools = content.some((b) => b.type === 'tool_use');
  return {
    id: meta.id,
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content,
    stop_reason: stopReasonOf(choice?.finish_reason ?? null, hasTools),
    stop_sequence: null,
    stop_details: null,
    container: null,
    usage: usageOf(completion.usage),
  };
}

/** A chat finish reason as Anthropic's stop reason; a finished answer with tool calls is always `tool_use`. */
export function stopReasonOf(finish: FinishReason | string | null, hasTools: boolean): StopReason {
  if (hasTools && (finish === 'tool_calls' || finish === 'stop' || finish === null)) return 'tool_use';
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Chat usage (possibly absent, possibly with OpenAI's `prompt_tokens_details`) as Messages usage. */
export function usageOf(usage: unknown): MessageUsage {
  const u = isObject(usage) ? usage : {};
  const details = isObject(u['prompt_tokens_details']) ? u['prompt_tokens_details'] : {};
  const prompt = count(u['prompt_tokens']);
  const cached = Math.min(count(details['cached_tokens']), prompt);
  return { input_tokens: prompt - cached, cache_creation_input_tokens: 0, cache_read_input_tokens: cached, output_tokens: count(u['completion_tokens']) };
}

/** Tool call arguments as a `tool_use` input: a JSON object, else `{}` (Anthropic's input is always an object). */
export function toolInput(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const parsed = parseJsonWithin(args);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** `msg_` and 24 base62 characters, as Anthropic's ids look. */
export function newMessageId(): string {
  return `msg_${base62(24)}`;
}

/** `toolu_` and 24 base62 characters, for a tool call the provider gave no id. */
export function newToolUseId(): string {
  return `toolu_${base62(24)}`;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function base62(length: number): string {
  // Ids only need to be unique, not uniform: the slight bias of `% 62` costs nothing here.
  let out = '';
  for (const byte of randomBytes(length)) out += ALPHABET[byte % 62];
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}
