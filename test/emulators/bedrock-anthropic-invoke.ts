import { ANTHROPIC_API_VERSIONS } from './anthropic.js';
import { claudeToolUse } from './claude-tool-use.js';

export { claudeToolToCall as invokeToolToCall } from './claude-tool-use.js';

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

/**
 * Claude calling `name` on InvokeModel: the body, and the Messages stream events that
 * InvokeModelWithResponseStream wraps one per `chunk`, the last carrying Bedrock's invocation metrics.
 *
 * @example
 * const { message, events } = invokeToolUse('claude-3-5-sonnet-20241022', 'get_weather', 12);
 */
export function invokeToolUse(model: string, name: string, inputTokens: number): { message: object; events: object[] } {
  const { message, events } = claudeToolUse(model, name, inputTokens, 'msg_bdrk_');
  const last = events.at(-1)!;
  last['amazon-bedrock-invocationMetrics'] = { inputTokenCount: inputTokens, outputTokenCount: 9, invocationLatency: 5, firstByteLatency: 1 };
  return { message, events };
}
