import { isRecord } from '../openai-compatible/models.js';
import type { ListedModel, ModelLister } from '../types.js';

/**
 * Anthropic's `GET /v1/models` (docs.anthropic.com/en/api/models-list): pages of at most
 * `limit` (1–1000) models, newest first, `{"data": [{"type": "model", "id", "display_name",
 * "created_at"}], "has_more", "first_id", "last_id"}`; the next page is `after_id=<last_id>`.
 */
export const ANTHROPIC_MODEL_LIST: ModelLister = {
  request: (cursor) => ({
    path: `/v1/models?limit=1000${cursor === undefined ? '' : `&after_id=${encodeURIComponent(cursor)}`}`,
    // Required on every request; the first version, which every model-list answer is shaped by.
    headers: { 'anthropic-version': '2023-06-01' },
  }),
  page(body) {
    const data = isRecord(body) ? body['data'] : undefined;
    if (!isRecord(body) || !Array.isArray(data)) throw new Error('the model list has no "data" array');
    const lastId = body['last_id'];
    return { models: data.flatMap(listedModel), next: body['has_more'] === true && typeof lastId === 'string' ? lastId : undefined };
  },
};

function listedModel(entry: unknown): ListedModel[] {
  if (!isRecord(entry) || typeof entry['id'] !== 'string') return [];
  const created = typeof entry['created_at'] === 'string' ? Date.parse(entry['created_at']) : NaN;
  return [{ id: entry['id'], created: Number.isFinite(created) ? Math.floor(created / 1000) : 0 }];
}
