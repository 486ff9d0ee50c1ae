import { requestId } from './base.js';

/**
 * The OpenAI Responses API (`POST /v1/responses`) as the emulators answer it: the OpenAI
 * emulator, Azure's v1 route and Bedrock's OpenAI-compatible endpoints share it. Shapes follow
 * the official types (openai-node `src/resources/responses/responses.ts`): the `Response`
 * object, its `usage` with `input_tokens_details` / `output_tokens_details`, and the stream's
 * event sequence with a `sequence_number` on every event:
 *
 * `response.created`, `response.in_progress`, then per output item `response.output_item.added`,
 * for a message `response.content_part.added`, `response.output_text.delta`…,
 * `response.output_text.done`, `response.content_part.done`; for a function call
 * `response.function_call_arguments.delta`…, `response.function_call_arguments.done`; then
 * `response.output_item.done`; finally `response.completed`.
 *
 * The model answers `reply` fragments, or calls the first function tool with
 * `{"location": "Paris"}` when tools are offered and the last user input asks about the weather
 * (the same rule as the chat routes' `toolToCall`).
 */

/** What a Responses request must look like for the emulators to answer it; the error body otherwise. */
export function responsesRequestError(body: Record<string, unknown>): { message: string; param: string | null; code: string | null } | undefined {
  if (typeof body['model'] !== 'string') return { message: 'Missing required parameter: \'model\'.', param: 'model', code: 'missing_required_parameter' };
  const input = body['input'];
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) {
    return { message: "Invalid type for 'input': expected one of a string or an array of input items.", param: 'input', code: 'invalid_type' };
  }
  const tools = body['tools'];
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return { message: "Invalid type for 'tools': expected an array.", param: 'tools', code: 'invalid_type' };
    for (const [i, t] of (tools as Array<Record<string, unknown>>).entries()) {
      if (t === null || typeof t !== 'object' || typeof t['type'] !== 'string') return { message: `Missing required parameter: 'tools[${i}].type'.`, param: `tools[${i}].type`, code: 'missing_required_parameter' };
      if (t['type'] === 'function' && typeof t['name'] !== 'string') return { message: `Missing required parameter: 'tools[${i}].name'.`, param: `tools[${i}].name`, code: 'missing_required_parameter' };
    }
  }
  if (body['stream'] !== undefined && typeof body['stream'] !== 'boolean') return { message: "Invalid type for 'stream': expected a boolean.", param: 'stream', code: 'invalid_type' };
  return undefined;
}

/** The function tool the model calls: tools offered and the last user input asks about the weather. */
export function responsesToolToCall(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools)) return undefined;
  const fn = (tools as Array<{ type?: unknown; name?: unknown }>).find((t) => t.type === 'function');
  if (!fn) return undefined;
  return /weather/i.test(lastUserText(body['input'])) ? String(fn.name) : undefined;
}

function lastUserText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) return '';
  const items = input as Array<Record<string, unknown>>;
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item['type'] === 'function_call_output') return ''; // the tool already answered
    if (item['role'] !== 'user') continue;
    const content = item['content'];
    if (typeof content === 'string') return content;
    return Array.isArray(content) ? content.map((c: { text?: unknown }) => (typeof c.text === 'string' ? c.text : '')).join(' ') : '';
  }
  return '';
}

export interface ResponsesAnswer {
  /** The `Response` object a non-streaming request gets. */
  json: Record<string, unknown>;
  /** The SSE frames of a streaming request (`event:` and `data:` lines). */
  frames: string[];
}

/**
 * The answer to `body` from a model named `model` saying `reply` (or calling a tool, see the
 * module comment), with the usage given.
 *
 * @example
 * const answer = responsesAnswer(body, 'gpt-4o', ['Hello', '.'], { input: 7, cached: 0, reasoning: 0 });
 * return body['stream'] === true ? this.sse(ex, answer.frames) : this.json(ex, 200, answer.json);
 */
export function responsesAnswer(
  body: Record<string, unknown>,
  model: string,
  reply: readonly string[],
  tokens: { input: number; cached: number; reasoning: number },
): ResponsesAnswer {
  const tool = responsesToolToCall(body);
  const outputTokens = tool ? 9 : reply.length;
  const usage = {
    input_tokens: tokens.input,
    input_tokens_details: { cached_tokens: tokens.cached },
    output_tokens: outputTokens + tokens.reasoning,
    output_tokens_details: { reasoning_tokens: tokens.reasoning },
    total_tokens: tokens.input + outputTokens + tokens.reasoning,
  };
  const base = {
    id: requestId('resp_'),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    error: null,
    incomplete_details: null,
    instructions: body['instructions'] ?? null,
    max_output_tokens: body['max_output_tokens'] ?? null,
    model,
    parallel_tool_calls: body['parallel_tool_calls'] ?? true,
    previous_response_id: body['previous_response_id'] ?? null,
    reasoning: { effort: (body['reasoning'] as { effort?: unknown } | undefined)?.effort ?? null, summary: null },
    store: body['store'] ?? true,
    temperature: body['temperature'] ?? 1,
    text: body['text'] ?? { format: { type: 'text' } },
    tool_choice: body['tool_choice'] ?? 'auto',
    tools: body['tools'] ?? [],
    top_p: body['top_p'] ?? 1,
    truncation: 'disabled',
    user: null,
    metadata: body['metadata'] ?? {},
  };
  const frames: string[] = [];
  let seq = 0;
  const emit = (type: string, data: object) => frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
  const inProgress = { ...base, status: 'in_progress', output: [], usage: null };
  emit('response.created', { response: inProgress });
  emit('response.in_progress', { response: inProgress });

  let item: Record<string, unknown>;
  if (tool) {
    const args = '{"location": "Paris"}';
    const id = requestId('fc_');
    const call = { id, type: 'function_call', status: 'in_progress', arguments: '', call_id: requestId('call_'), name: tool };
    emit('response.output_item.added', { output_index: 0, item: call });
    for (const delta of ['{"loca', 'tion": "Pa', 'ris"}']) emit('response.function_call_arguments.delta', { item_id: id, output_index: 0, delta });
    emit('response.function_call_arguments.done', { item_id: id, output_index: 0, name: tool, arguments: args });
    item = { ...call, status: 'completed', arguments: args };
  } else {
    const id = requestId('msg_');
    const text = reply.join('');
    emit('response.output_item.added', { output_index: 0, item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
    emit('response.content_part.added', { item_id: id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
    for (const delta of reply) emit('response.output_text.delta', { item_id: id, output_index: 0, content_index: 0, delta, logprobs: [] });
    emit('response.output_text.done', { item_id: id, output_index: 0, content_index: 0, text, logprobs: [] });
    const part = { type: 'output_text', text, annotations: [], logprobs: [] };
    emit('response.content_part.done', { item_id: id, output_index: 0, content_index: 0, part });
    item = { id, type: 'message', status: 'completed', role: 'assistant', content: [part] };
  }
  emit('response.output_item.done', { output_index: 0, item });
  const json = { ...base, status: 'completed', output: [item], usage };
  emit('response.completed', { response: json });
  return { json, frames };
}
