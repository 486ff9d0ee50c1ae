import { openaiUsage } from '../openai-compatible/usage.js';
import { num, str, type Usage, type UsageReader } from '../usage.js';

/**
 * Ollama usage: the OpenAI-compatible routes report OpenAI's fields; the native `/api/chat`,
 * `/api/generate` and `/api/embed` answers report `prompt_eval_count` and `eval_count`
 * (https://github.com/ollama/ollama/blob/main/docs/api.md). Native streams are NDJSON, which the gateway does not
 * observe yet, so only their whole (non-streamed) answers are accounted.
 */
export const ollamaUsage: UsageReader = {
  json(body, acc) {
    if (body !== null && typeof body === 'object' && 'prompt_eval_count' in body) readNative(body as Record<string, unknown>, acc);
    else openaiUsage.json(body, acc);
  },
  event: openaiUsage.event,
  eventMarker: openaiUsage.eventMarker,
};

function readNative(b: Record<string, unknown>, acc: Usage): void {
  acc.model = str(b['model']) ?? acc.model;
  acc.inputTokens = num(b['prompt_eval_count']);
  acc.outputTokens = num(b['eval_count']);
}
