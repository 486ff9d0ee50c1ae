import type { ListedModel, ModelLister } from '../types.js';

/**
 * OpenAI's `GET /v1/models` (platform.openai.com/docs/api-reference/models/list): one page,
 * `{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}`. xAI, Ollama
 * and the demo answer the same shape.
 */
export const OPENAI_MODEL_LIST: ModelLister = {
  request: () => ({ path: '/v1/models' }),
  page(body) {
    const data = isRecord(body) ? body['data'] : undefined;
    if (!Array.isArray(data)) throw new Error('the model list has no "data" array');
    return { models: data.flatMap(listedModel), next: undefined };
  },
};

function listedModel(entry: unknown): ListedModel[] {
  if (!isRecord(entry) || typeof entry['id'] !== 'string') return [];
  return [{ id: entry['id'], created: typeof entry['created'] === 'number' ? entry['created'] : 0 }];
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
