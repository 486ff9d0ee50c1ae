import { randomBytes } from 'node:crypto';
import { ANTHROPIC_API_VERSIONS } from './anthropic.js';

/**
 * Claude on Bedrock's InvokeModel, the parts beyond a plain text answer: which body
 * `anthropic_version` values it takes, and a tool call when the request offers tools.
 */

/**
 * `anthropic_version` values InvokeModel takes in a Claude body: Bedrock's own
 * `bedrock-2023-05-31`, and the Anthropic API versions, which the official Bedrock SDK
 * (`@anthropic-ai/bedrock-sdk` 1.x) moves from its `anthropic-version` header into the body
 * (it sends `2026-10-21`).
 */
export const BEDROCK_ANTHROPIC_VERSIONS: ReadonlySet<string> = new Set(['bedrock-2023-05-31', ...ANTHROPIC_API_VERSIONS]);

/** A tool the emulated Claude calls: when tools are offered and the last user turn asks about the weather. */
export function invokeToolToCall(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const last = (body['messages'] as Array<{ role?: string; content?: unknown }>).at(-1);
  if (last?.role !== 'user') return undefined;
  const content = last.content;
  const text = typeof content === 'string' ? content : Array.isArray(content) ? content.map((c: { type?: string; text?: unknown }) => (c.type === 'text' ? String(c.text) : '')).join(' ') : '';
  return /weather/i.test(text) ? String((tools[0] as { name?: unknown }).name) : undefined;
}

/**
 * Claude calling `name` with `{"location":"Paris"}`: the InvokeModel body, and the Messages
 * stream events InvokeModelWithResponseStream wraps one per `chunk` (the input in
 * `input_json_delta` fragments).
 *
 * @example
 * const { message, events } = invokeToolUse('claude-3-5-sonnet-20241022', 'get_weather', 12);
 */
export function invokeToolUse(model: string, name: string, inputTokens: number): { message: object; events: object[] } {
  const id = `msg_bdrk_${randomBytes(12).toString('base64url')}`;
  const toolId = `toolu_bdrk_${randomBytes(12).toString('base64url')}`;
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
      { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: inputTokens, outputTokenCount: outputTokens, invocationLatency: 5, firstByteLatency: 1 } },
    ],
  };
}
