import { num, sameShapeUsage, str, type Usage, type UsageReader } from '../usage.js';

/**
 * watsonx usage in transparent mode. Chat answers and the last `chat_stream` chunk carry an
 * OpenAI-like `usage` ({prompt_tokens, completion_tokens}); text generation reports
 * `results[].input_token_count` / `generated_token_count`; embeddings a top-level
 * `input_token_count`. The model is `model_id`.
 *
 * `generation_stream` events carry counts but no `usage` member, and the observer only parses
 * events that mention `"usage"` (its `eventMarker`), so streamed text generation is forwarded but
 * not accounted.
 */
export const watsonxUsage: UsageReader = sameShapeUsage(read, '"usage');

function read(body: unknown, acc: Usage): void {
  if (body === null || typeof body !== 'object') return;
  const b = body as Record<string, unknown>;
  const model = str(b['model_id']) ?? str(b['model']);
  const usage = b['usage'];
  if (usage !== null && typeof usage === 'object') {
    const u = usage as Record<string, unknown>;
    acc.model = model ?? acc.model;
    acc.inputTokens = num(u['prompt_tokens']);
    acc.outputTokens = num(u['completion_tokens']);
    return;
  }
  if (Array.isArray(b['results'])) {
    let input = num(b['input_token_count']);
    let output = 0;
    for (const r of b['results'] as unknown[]) {
      if (r === null || typeof r !== 'object') continue;
      const result = r as Record<string, unknown>;
      input += num(result['input_token_count']);
      output += num(result['generated_token_count']);
    }
    if (input === 0 && output === 0) return;
    acc.model = model ?? acc.model;
    acc.inputTokens = input;
    acc.outputTokens = output;
  }
}
