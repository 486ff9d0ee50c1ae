import { GatewayError } from '../../../errors/gateway-error.js';
import { chatCompletion, onlyChoice, type TokenCounts } from '../../../protocol/chunks.js';
import { errorBodyJson, parseProviderJson } from '../../../protocol/json.js';
import { exceptionMessage } from '../../../protocol/aws-eventstream.js';
import type { FinishReason, ToolCall } from '../../../protocol/openai.js';
import type { NativeAnswer } from '../../../protocol/native-chat.js';
import type { TranslatorOptions } from '../../../protocol/translator.js';
import { emptyUsage } from '../../usage.js';
import { bedrockUsage } from '../usage.js';

/** Converse answers, usage and error bodies → OpenAI's (the rules: openai_to_converse.ts). */

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `undefined`: not a success finish (malformed_*); the caller raises its own error. */
export function finishReason(stopReason: unknown): FinishReason | undefined {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    case 'malformed_model_output':
    case 'malformed_tool_use':
      return undefined;
    default:
      return 'stop';
  }
}


/** Reads Converse `usage` the way transparent mode accounts it (cache tokens count as input); undefined without a usage object. */
export function converseUsage(body: Record<string, unknown>): TokenCounts | undefined {
  if (!isObject(body['usage'])) return undefined;
  const acc = emptyUsage();
  bedrockUsage.json(body, acc);
  return { inputTokens: acc.inputTokens, outputTokens: acc.outputTokens };
}

/** A Converse answer as a chat.completion; an unusable one (malformed_*) is a failure whose usage still counts. */
export function converseResponse(body: Buffer, options: TranslatorOptions): NativeAnswer {
  const parsed = parseProviderJson<unknown>(body, 'Bedrock');
  if (!isObject(parsed)) throw new GatewayError('upstream_error', 'Bedrock answered with JSON that is not an object');
  // Read first: the tokens were spent even when the answer is unusable.
  const usage = converseUsage(parsed);
  const finish = finishReason(parsed['stopReason']);
  if (finish === undefined) return { failure: new GatewayError('upstream_error', `Bedrock stopped with ${String(parsed['stopReason'])}: the model's output could not be used`), usage };
  const output = parsed['output'];
  const message = isObject(output) ? output['message'] : undefined;
  const blocks = isObject(message) && Array.isArray(message['content']) ? (message['content'] as unknown[]) : [];
  let text: string | null = null;
  const toolCalls: ToolCall[] = [];
  for (const block of blocks) {
    if (!isObject(block)) continue;
    if (typeof block['text'] === 'string') text = (text ?? '') + block['text'];
    const use = block['toolUse'];
    if (isObject(use) && use['type'] !== 'server_tool_use' && typeof use['toolUseId'] === 'string' && typeof use['name'] === 'string') {
      toolCalls.push({ id: use['toolUseId'], type: 'function', function: { name: use['name'], arguments: JSON.stringify(use['input'] ?? {}) } });
    }
  }
  return { completion: chatCompletion(options, [onlyChoice(text, toolCalls, finish)], usage), usage };
}

/** The message of a Bedrock error body (`{"message"}` or `{"Message"}`); undefined if none. */
export function converseErrorMessage(body: Buffer): string | undefined {
  return exceptionMessage(errorBodyJson(body));
}
