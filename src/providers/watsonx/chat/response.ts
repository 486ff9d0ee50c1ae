import { GatewayError } from '../../../errors/gateway-error.js';
import { chatCompletion, tokenCounts, type ProviderFinish, type TokenCounts } from '../../../protocol/chunks.js';
import { errorBodyJson } from '../../../protocol/json.js';
import type { ChatCompletion } from '../../../protocol/openai.js';
import type { TranslatorOptions } from '../../../protocol/translator.js';

/** watsonx answers, stream chunks and error bodies → OpenAI's (the rules: openai_to_watsonx.ts). */

export interface WatsonxUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
}

export interface WatsonxToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface WatsonxChoice {
  index?: number;
  message?: { content?: string | null; reasoning_content?: string | null; refusal?: string | null; tool_calls?: Array<WatsonxToolCallDelta & { function?: { name?: string; arguments?: unknown } }> };
  delta?: { role?: string; content?: string | null; reasoning_content?: string | null; refusal?: string | null; tool_calls?: WatsonxToolCallDelta[] };
  finish_reason?: string | null;
  logprobs?: unknown;
}

export interface WatsonxAnswer {
  choices?: WatsonxChoice[];
  usage?: WatsonxUsage | null;
  errors?: Array<{ code?: unknown; message?: unknown }>;
}

const isObject = <T>(v: T): v is T & Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** watsonx finish_reason → what it means here. `""` counts as none (IBM's SDK notes it on some endpoints). */
export function finishOf(reason: unknown): ProviderFinish {
  switch (reason) {
    case undefined:
    case null:
    case '':
      return { kind: 'open' };
    case 'stop':
      return { kind: 'finished', reason: 'stop' };
    case 'length':
      return { kind: 'finished', reason: 'length' };
    case 'tool_calls':
      return { kind: 'finished', reason: 'tool_calls' };
    case 'time_limit':
      return { kind: 'finished', reason: 'length' };
    case 'error':
    case 'cancelled':
      return { kind: 'failed', reason: reason as string };
    default:
      return { kind: 'finished', reason: null };
  }
}

export function countsOf(usage: WatsonxUsage | null | undefined): TokenCounts | undefined {
  return isObject(usage) ? tokenCounts(usage.prompt_tokens, usage.completion_tokens) : undefined;
}

/** The shared types pin `logprobs: null`; watsonx's own (when asked for) are passed on as they came. */
export function logprobsOf(choice: WatsonxChoice): null {
  return (isObject(choice.logprobs) ? choice.logprobs : null) as null;
}

/** The message of a watsonx error body (`{"errors":[{"code","message"}],"trace","status_code"}`); undefined if none. */
export function watsonxErrorMessage(body: Buffer | string): string | undefined {
  return errorText(errorBodyJson(body));
}

export function errorText(parsed: unknown): string | undefined {
  if (!isObject(parsed)) return undefined;
  if (Array.isArray(parsed['errors'])) {
    const texts = parsed['errors'].flatMap((e: unknown) => {
      if (!isObject(e) || typeof e['message'] !== 'string') return [];
      return [typeof e['code'] === 'string' && e['code'] !== '' ? `${e['message']} (${e['code']})` : e['message']];
    });
    if (texts.length > 0) return texts.join('; ');
  }
  const error = parsed['error'];
  if (isObject(error) && typeof error['message'] === 'string') return error['message'];
  return typeof parsed['message'] === 'string' ? parsed['message'] : undefined;
}

/** A non-streaming watsonx answer as a chat.completion. */
export function toChatCompletion(answer: WatsonxAnswer, options: TranslatorOptions): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  if (!isObject(answer) || !Array.isArray(answer.choices)) {
    throw new GatewayError('upstream_error', 'watsonx answered with a body that is not a chat response');
  }
  const choices = answer.choices.map((c, i): ChatCompletion['choices'][number] => {
    if (!isObject(c)) throw new GatewayError('upstream_error', 'watsonx answered with a choice that is not an object');
    const finish = finishOf(c.finish_reason);
    const index = typeof c.index === 'number' ? c.index : i;
    if (finish.kind === 'failed') throw new GatewayError('upstream_error', `watsonx ended choice ${index} with finish_reason "${finish.reason}"`);
    const m = isObject(c.message) ? c.message : {};
    const message: ChatCompletion['choices'][number]['message'] & { reasoning_content?: string } = {
      role: 'assistant',
      content: typeof m.content === 'string' ? m.content : null,
      refusal: typeof m.refusal === 'string' && m.refusal !== '' ? m.refusal : null,
    };
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      // Read defensively: the answer may hold anything where a call belongs.
      message.tool_calls = m.tool_calls.filter(isObject).map((t) => {
        const fn = isObject(t.function) ? t.function : {};
        return {
          id: typeof t.id === 'string' ? t.id : '',
          type: 'function',
          function: { name: typeof fn.name === 'string' ? fn.name : '', arguments: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {}) },
        };
      });
    }
    if (typeof m.reasoning_content === 'string' && m.reasoning_content !== '') message.reasoning_content = m.reasoning_content;
    return { index, message, finish_reason: finish.kind === 'finished' ? finish.reason : null, logprobs: logprobsOf(c) };
  });
  choices.sort((a, b) => a.index - b.index);
  const usage = countsOf(answer.usage);
  return { completion: chatCompletion(options, choices, usage), usage };
}

