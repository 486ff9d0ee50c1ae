import type { ChatCompletion, ChatUsage, FinishReason } from '../openai.js';
import {
  newItemId,
  type IdMaker,
  type OutputMessageItem,
  type OutputText,
  type ResponseMeta,
  type ResponseObject,
  type ResponseOutputItem,
  type ResponseStatus,
  type ResponseUsage,
} from './types.js';

/**
 * Chat answer → Responses answer: the chat completion the provider's translator produced becomes
 * a response object with `message` and `function_call` output items, and the request's settings
 * echoed with OpenAI's defaults, as `POST /v1/responses` answers.
 * https://platform.openai.com/docs/api-reference/responses/object
 */

/**
 * The response object for a chat completion (choice 0: the converter never asks for more).
 *
 * @example
 * const completion = translator.response(upstreamBody);
 * const response = chatToResponse(completion, { id: newItemId('resp'), createdAt, model: req.model, request: req });
 * // { object: 'response', status: 'completed', output: [{ type: 'message', … }], usage: { input_tokens, … } }
 */
export function chatToResponse(completion: ChatCompletion, meta: ResponseMeta, newId: IdMaker = newItemId): ResponseObject {
  // OpenAI-compatible translators relay the provider's JSON as it came (any object): every field
  // is checked here, so an odd answer is an odd response, never a TypeError.
  const choices: unknown[] = Array.isArray(completion.choices) ? completion.choices : [];
  const choice = asRecord(choices.find((c) => asRecord(c)['index'] === 0) ?? choices[0]);
  const end = endOf(finishOf(choice['finish_reason']));
  const output: ResponseOutputItem[] = [];
  const message = asRecord(choice['message']);
  const text = typeof message['content'] === 'string' ? message['content'] : '';
  const refusal = typeof message['refusal'] === 'string' ? message['refusal'] : '';
  const calls = (Array.isArray(message['tool_calls']) ? message['tool_calls'] : []).map(asRecord).filter((c) => c['type'] === 'function' || c['type'] === undefined);
  // A message when there is something to say, or nothing else (so the answer is never empty).
  if (text !== '' || refusal !== '' || calls.length === 0) {
    const content: OutputMessageItem['content'] = [];
    if (text !== '' || refusal === '') content.push(outputText(text));
    if (refusal !== '') content.push({ type: 'refusal', refusal });
    output.push({ id: newId('msg'), type: 'message', status: 'completed', role: 'assistant', content });
  }
  // Only function tools are sent (to-chat.ts); anything else in an answer is not ours to relay.
  for (const call of calls) {
    const fn = asRecord(call['function']);
    output.push({ id: newId('fc'), type: 'function_call', status: 'completed', arguments: stringOr(fn['arguments'], ''), call_id: stringOr(call['id'], ''), name: stringOr(fn['name'], '') });
  }
  // The answer was cut where it stopped: its last item is the incomplete one.
  const last = output.at(-1);
  if (end.status === 'incomplete' && last !== undefined) last.status = 'incomplete';
  return responseObject(meta, { status: end.status, output, usage: responseUsage(completion.usage), incomplete: end.incomplete });
}

/** What a chat finish reason makes of a response: incomplete when the answer was cut, as OpenAI reports it. */
export function endOf(finish: FinishReason | null): { status: 'completed' | 'incomplete'; incomplete: ResponseObject['incomplete_details'] } {
  if (finish === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

export function outputText(text: string): OutputText {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

/** Chat usage in the Responses spelling; 0 for what the provider did not report. */
export function responseUsage(usage: ChatUsage | null | undefined): ResponseUsage {
  const u = asRecord(usage);
  const input = count(u['prompt_tokens']);
  const output = count(u['completion_tokens']);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: count(asRecord(u['prompt_tokens_details'])['cached_tokens']) },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: count(asRecord(u['completion_tokens_details'])['reasoning_tokens']) },
    total_tokens: typeof u['total_tokens'] === 'number' && Number.isFinite(u['total_tokens']) ? u['total_tokens'] : input + output,
  };
}

/** A chat finish reason as the converters read it: any other value is no reason (null). */
export function finishOf(value: unknown): FinishReason | null {
  return value === 'stop' || value === 'length' || value === 'tool_calls' || value === 'content_filter' ? value : null;
}

/** An object's fields, or none: for values relayed from a provider as they came. */
export function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/** A token count as reported; anything but a finite number counts as 0. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export interface ResponseState {
  status: ResponseStatus;
  output: ResponseOutputItem[];
  usage: ResponseUsage | null;
  incomplete?: ResponseObject['incomplete_details'];
  error?: ResponseObject['error'];
}

/**
 * The response object in `state`, with the request's settings echoed as OpenAI echoes them (its
 * defaults where the client set none). `instructions` are this request's only: OpenAI does not
 * carry earlier ones over with previous_response_id.
 */
export function responseObject(meta: ResponseMeta, state: ResponseState): ResponseObject {
  const r = meta.request;
  return {
    id: meta.id,
    object: 'response',
    created_at: meta.createdAt,
    status: state.status,
    ...(state.status === 'completed' ? { completed_at: meta.completedAt ?? Math.floor(Date.now() / 1000) } : {}),
    background: false,
    error: state.error ?? null,
    incomplete_details: state.incomplete ?? null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    max_tool_calls: r.max_tool_calls ?? null,
    model: meta.model,
    output: state.output,
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    prompt_cache_key: r.prompt_cache_key ?? null,
    reasoning: { effort: r.reasoning?.effort ?? null, summary: r.reasoning?.summary ?? null },
    safety_identifier: r.safety_identifier ?? null,
    service_tier: r.service_tier ?? 'default',
    store: r.store ?? true,
    temperature: r.temperature ?? 1,
    text: { format: r.text?.format ?? { type: 'text' }, verbosity: r.text?.verbosity ?? 'medium' },
    tool_choice: r.tool_choice ?? 'auto',
    tools: r.tools ?? [],
    top_logprobs: r.top_logprobs ?? 0,
    top_p: r.top_p ?? 1,
    truncation: r.truncation ?? 'disabled',
    usage: state.usage,
    user: r.user ?? null,
    metadata: r.metadata ?? {},
  };
}
