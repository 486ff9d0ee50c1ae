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
  const choice = completion.choices.find((c) => c.index === 0) ?? completion.choices[0];
  const end = endOf(choice?.finish_reason ?? null);
  const output: ResponseOutputItem[] = [];
  const message = choice?.message;
  const calls = message?.tool_calls ?? [];
  const text = message?.content ?? '';
  const refusal = message?.refusal;
  // A message when there is something to say, or nothing else (so the answer is never empty).
  if (text !== '' || (typeof refusal === 'string' && refusal !== '') || calls.length === 0) {
    const content: OutputMessageItem['content'] = [];
    if (text !== '' || !(typeof refusal === 'string' && refusal !== '')) content.push(outputText(text));
    if (typeof refusal === 'string' && refusal !== '') content.push({ type: 'refusal', refusal });
    output.push({ id: newId('msg'), type: 'message', status: 'completed', role: 'assistant', content });
  }
  for (const call of calls) {
    // Only function tools are sent (to-chat.ts); anything else in an answer is not ours to relay.
    if ((call as { type: string }).type !== 'function') continue;
    output.push({ id: newId('fc'), type: 'function_call', status: 'completed', arguments: call.function.arguments, call_id: call.id, name: call.function.name });
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
  const input = usage?.prompt_tokens ?? 0;
  const output = usage?.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage?.total_tokens ?? input + output,
  };
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
