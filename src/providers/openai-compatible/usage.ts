import { num, parseEventJson, str, type UsageReader } from '../usage.js';

/**
 * OpenAI usage: chat completions and embeddings report `prompt_tokens`/`completion_tokens`;
 * the Responses API reports `input_tokens`/`output_tokens`, in streams inside the
 * `response.completed` event's `response`.
 */
export const openaiUsage: UsageReader = {
  // Only events that mention usage are parsed: chunks and `response.completed` carry `"usage"`.
  eventMarker: '"usage',
  json(body, acc) {
    read(body, acc);
  },
  event(ev, acc) {
    if (ev.data === '[DONE]') return;
    const obj = parseEventJson(ev);
    if (!obj) return;
    read(obj['response'] !== undefined && typeof obj['response'] === 'object' ? obj['response'] : obj, acc);
  },
};

function read(body: unknown, acc: { model: string | undefined; inputTokens: number; outputTokens: number }): void {
  if (body === null || typeof body !== 'object') return;
  const b = body as Record<string, unknown>;
  const usage = b['usage'];
  if (usage === null || typeof usage !== 'object') return;
  const u = usage as Record<string, unknown>;
  acc.model = str(b['model']) ?? acc.model;
  acc.inputTokens = num(u['prompt_tokens'] ?? u['input_tokens']);
  acc.outputTokens = num(u['completion_tokens'] ?? u['output_tokens']);
}
