import { num, parseEventJson, str, type Usage, type UsageReader } from '../usage.js';

/**
 * Anthropic Messages usage. Input is `input_tokens` plus the cache reads and writes (all billed
 * as input). Streams report input and the model in `message_start` and the cumulative output in
 * `message_delta`.
 */
export const anthropicUsage: UsageReader = {
  // Only events that mention usage are parsed: `message_start` and `message_delta` carry `"usage"`.
  eventMarker: '"usage',
  json(body, acc) {
    if (body === null || typeof body !== 'object') return;
    const b = body as Record<string, unknown>;
    acc.model = str(b['model']) ?? acc.model;
    readUsage(b['usage'], acc);
  },
  event(ev, acc) {
    const obj = parseEventJson(ev);
    if (!obj) return;
    if (obj['type'] === 'message_start' && obj['message'] !== null && typeof obj['message'] === 'object') {
      const message = obj['message'] as Record<string, unknown>;
      acc.model = str(message['model']) ?? acc.model;
      readUsage(message['usage'], acc);
    } else if (obj['type'] === 'message_delta') {
      readUsage(obj['usage'], acc);
    }
  },
};

function readUsage(usage: unknown, acc: Usage): void {
  if (usage === null || typeof usage !== 'object') return;
  const u = usage as Record<string, unknown>;
  const input = num(u['input_tokens']) + num(u['cache_creation_input_tokens']) + num(u['cache_read_input_tokens']);
  if (input > 0) acc.inputTokens = input;
  if (u['output_tokens'] !== undefined) acc.outputTokens = num(u['output_tokens']);
}
