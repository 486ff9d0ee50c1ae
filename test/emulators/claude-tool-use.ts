import { randomBytes } from 'node:crypto';

/**
 * Claude calling a tool, the same on every host that serves the Messages body (Bedrock
 * InvokeModel, Vertex rawPredict): the emulated model calls the first tool offered with
 * `{"location":"Paris"}` when the last user turn asks about the weather.
 */

/** The tool the emulated Claude calls, if any: tools offered and the last user turn's text mentions the weather. */
export function claudeToolToCall(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const last = (body['messages'] as Array<{ role?: string; content?: unknown }>).at(-1);
  if (last?.role !== 'user') return undefined;
  const content = last.content;
  const text = typeof content === 'string' ? content : Array.isArray(content) ? content.map((c: { type?: string; text?: unknown }) => (c.type === 'text' ? String(c.text) : '')).join(' ') : '';
  return /weather/i.test(text) ? String((tools[0] as { name?: unknown }).name) : undefined;
}

/**
 * Claude calling `name` with `{"location":"Paris"}`: the Message, and the stream events in
 * Anthropic's order (the input in `input_json_delta` fragments).
 *
 * @example
 * const { message, events } = claudeToolUse('claude-sonnet-4-5', 'get_weather', 12, 'msg_vrtx_');
 */
export function claudeToolUse(model: string, name: string, inputTokens: number, idPrefix: string): { message: Record<string, unknown>; events: Array<Record<string, unknown>> } {
  const id = `${idPrefix}${randomBytes(12).toString('base64url')}`;
  const toolId = `toolu_${randomBytes(12).toString('base64url')}`;
  const outputTokens = 9;
  return {
    message: {
      id, type: 'message', role: 'assistant', model,
      content: [{ type: 'tool_use', id: toolId, name, input: { location: 'Paris' } }],
      stop_reason: 'tool_use', stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens },
    },
    events: [
      { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: toolId, name, input: {} } },
      ...['{"loca', 'tion": "Pa', 'ris"}'].map((partial_json) => ({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json } })),
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: outputTokens } },
      { type: 'message_stop' },
    ],
  };
}
