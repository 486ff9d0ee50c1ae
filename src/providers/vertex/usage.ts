import { anthropicUsage } from '../anthropic/usage.js';
import { num, parseEventJson, type Usage, type UsageReader } from '../usage.js';

/**
 * Vertex AI usage, for transparent mode. Gemini reports `usageMetadata` in a `generateContent`
 * answer, in the last events of `streamGenerateContent?alt=sse` (cumulative: the last one wins),
 * and in the last element of the JSON array `streamGenerateContent` answers without `alt=sse`.
 * Input is `promptTokenCount` plus `toolUsePromptTokenCount`; output is `candidatesTokenCount`
 * plus `thoughtsTokenCount` (thinking is billed as output). Anthropic models on Vertex
 * (`:rawPredict`, `:streamRawPredict`) answer in Anthropic's own shape, read as Anthropic's.
 * The model is left to the path's (what scopes were checked against).
 */
export const vertexUsage: UsageReader = {
  // Only events that mention usage are parsed: Gemini's `"usageMetadata"` and Claude's `"usage"`.
  eventMarker: '"usage',
  json(body, acc) {
    if (Array.isArray(body)) {
      for (const element of body) readGemini(element, acc);
      return;
    }
    if (!readGemini(body, acc)) anthropicUsage.json(body, acc);
  },
  event(ev, acc) {
    const obj = parseEventJson(ev);
    if (!obj) return;
    if (!readGemini(obj, acc)) anthropicUsage.event(ev, acc);
  },
};

/** Reads `usageMetadata` if `body` has it; false when it has none. */
function readGemini(body: unknown, acc: Usage): boolean {
  if (body === null || typeof body !== 'object') return false;
  const u = (body as Record<string, unknown>)['usageMetadata'];
  if (u === null || typeof u !== 'object') return false;
  const m = u as Record<string, unknown>;
  const input = num(m['promptTokenCount']) + num(m['toolUsePromptTokenCount']);
  const output = num(m['candidatesTokenCount']) + num(m['thoughtsTokenCount']);
  // Early stream events carry a usageMetadata without counts (`{"trafficType": "ON_DEMAND"}`).
  if (input > 0) acc.inputTokens = input;
  if (output > 0 || input > 0) acc.outputTokens = output;
  return true;
}
