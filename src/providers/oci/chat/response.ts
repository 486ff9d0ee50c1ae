import { GatewayError } from '../../../errors/gateway-error.js';
import { chatCompletion, tokenCounts, type ProviderFinish, type TokenCounts } from '../../../protocol/chunks.js';
import { errorBodyJson } from '../../../protocol/json.js';
import type { ChatCompletion, FinishReason, ToolCall } from '../../../protocol/openai.js';
import type { TranslatorOptions } from '../../../protocol/translator.js';

/** OCI `ChatResult` answers, stream events and error bodies → OpenAI's (the rules: openai_to_oci.ts). */

interface OciUsage {
  promptTokens?: unknown;
  completionTokens?: unknown;
}

interface GenericChoice {
  index?: unknown;
  message?: { content?: Array<{ type?: unknown; text?: unknown }> | null; toolCalls?: unknown } | null;
  finishReason?: unknown;
}

interface OciChatResponse {
  apiFormat?: unknown;
  choices?: GenericChoice[];
  text?: unknown;
  finishReason?: unknown;
  usage?: OciUsage | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** OCI finish reasons, upper-cased (generic ones come in lower case, cohere ones in upper case). */
const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  STOP: 'stop',
  COMPLETE: 'stop',
  STOP_SEQUENCE: 'stop',
  END_TURN: 'stop',
  LENGTH: 'length',
  MAX_TOKENS: 'length',
  TOOL_CALLS: 'tool_calls',
  TOOL_CALL: 'tool_calls',
  CONTENT_FILTER: 'content_filter',
  ERROR_TOXIC: 'content_filter',
};
/** Reasons that make the answer unusable. */
const FAILED = new Set(['ERROR', 'ERROR_LIMIT', 'USER_CANCEL']);

/** An OCI finishReason → what it means here; one without equivalent finishes with none. */
export function finishOf(reason: unknown): ProviderFinish {
  if (reason === undefined || reason === null || reason === '') return { kind: 'open' };
  // Not String(reason): an object answer may have a `toString` member that is not a function.
  if (typeof reason !== 'string') return { kind: 'finished', reason: null };
  const upper = reason.toUpperCase();
  if (FAILED.has(upper)) return { kind: 'failed', reason };
  return { kind: 'finished', reason: Object.hasOwn(FINISH_REASONS, upper) ? FINISH_REASONS[upper]! : null };
}

export function countsOf(usage: unknown): TokenCounts | undefined {
  return isObject(usage) ? tokenCounts(usage['promptTokens'], usage['completionTokens']) : undefined;
}

/** The text of a generic message: its TEXT parts joined; null when it has none. */
export function genericText(message: unknown): string | null {
  if (!isObject(message) || !Array.isArray(message['content'])) return null;
  const texts = (message['content'] as unknown[]).flatMap((c) => (isObject(c) && typeof c.text === 'string' && (c.type === undefined || c.type === 'TEXT') ? [c.text] : []));
  return texts.length > 0 ? texts.join('') : null;
}

/** A generic message's `toolCalls` as they came (objects only); [] when it has none. */
export function rawToolCalls(message: unknown): Array<Record<string, unknown>> {
  if (!isObject(message) || !Array.isArray(message['toolCalls'])) return [];
  return (message['toolCalls'] as unknown[]).filter(isObject);
}

/** A generic message's FunctionCalls as OpenAI tool_calls; undefined when it has none. */
function genericToolCallsOf(message: unknown): ToolCall[] | undefined {
  const calls = rawToolCalls(message);
  if (calls.length === 0) return undefined;
  return calls.map((c, j) => ({
    id: typeof c['id'] === 'string' && c['id'] !== '' ? c['id'] : `call_${j}`,
    type: 'function',
    function: { name: typeof c['name'] === 'string' ? c['name'] : '', arguments: typeof c['arguments'] === 'string' ? c['arguments'] : JSON.stringify(c['arguments'] ?? {}) },
  }));
}

/** The message of an OCI error body (`{"code","message"}`); undefined if none. */
export function ociErrorMessage(body: Buffer | string): string | undefined {
  return errorText(errorBodyJson(body));
}

export function errorText(parsed: unknown): string | undefined {
  if (!isObject(parsed) || typeof parsed['message'] !== 'string') return undefined;
  return typeof parsed['code'] === 'string' && parsed['code'] !== '' ? `${parsed['message']} (${parsed['code']})` : parsed['message'];
}

/** A non-streaming `ChatResult` as a chat.completion. */
export function toChatCompletion(result: unknown, options: TranslatorOptions): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  const response = isObject(result) ? (result['chatResponse'] as OciChatResponse | undefined) : undefined;
  if (!isObject(response)) throw new GatewayError('upstream_error', 'OCI answered with a body that is not a chat result');
  let choices: ChatCompletion['choices'];
  if (Array.isArray(response.choices)) {
    choices = response.choices.map((c, i) => {
      if (!isObject(c)) throw new GatewayError('upstream_error', 'OCI answered with a choice that is not an object');
      const index = typeof c.index === 'number' ? c.index : i;
      const finish = finishOf(c.finishReason);
      if (finish.kind === 'failed') throw new GatewayError('upstream_error', `OCI ended choice ${index} with finishReason "${finish.reason}"`);
      const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: genericText(c.message), refusal: null };
      const toolCalls = genericToolCallsOf(c.message);
      if (toolCalls) message.tool_calls = toolCalls;
      return { index, message, finish_reason: finish.kind === 'finished' ? finish.reason : null, logprobs: null };
    });
    choices.sort((a, b) => a.index - b.index);
  } else if (typeof response.text === 'string') {
    const finish = finishOf(response.finishReason);
    if (finish.kind === 'failed') throw new GatewayError('upstream_error', `OCI ended the answer with finishReason "${finish.reason}"`);
    choices = [{ index: 0, message: { role: 'assistant', content: response.text, refusal: null }, finish_reason: finish.kind === 'finished' ? finish.reason : null, logprobs: null }];
  } else {
    throw new GatewayError('upstream_error', 'OCI answered with a chat response that has neither choices nor text');
  }
  const usage = countsOf(response.usage);
  return { completion: chatCompletion(options, choices, usage), usage };
}

