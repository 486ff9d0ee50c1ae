import { GatewayError } from '../../errors/gateway-error.js';

/**
 * `GET /v1/models` in the Anthropic shape (https://docs.anthropic.com/en/api/models-list): one
 * page of models, with `has_more`, `first_id` and `last_id` for cursor paging by `before_id` /
 * `after_id`, and `limit` 1 to 1000 (default 20).
 */

export interface AnthropicModelInfo {
  type: 'model';
  id: string;
  display_name: string;
  /** RFC 3339; the Unix epoch when the provider gave no date. */
  created_at: string;
}

export interface AnthropicModelPage {
  data: AnthropicModelInfo[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/** Query parameters as they came (strings from the URL, or numbers). */
export interface ModelPageParams {
  limit?: string | number | null | undefined;
  before_id?: string | null | undefined;
  after_id?: string | null | undefined;
}

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;

/**
 * One page of `models` (in the order given: the caller lists newest first, as Anthropic does).
 * A cursor that names no model gives an empty page; a bad `limit`, or both cursors, a 400.
 *
 * @example
 * anthropicModelList([{ id: 'gemini-2.5-pro', created: 1750000000 }], { limit: '10' });
 * // { data: [{ type: 'model', id: 'gemini-2.5-pro', display_name: 'gemini-2.5-pro', created_at: '2025-06-15T15:06:40Z' }],
 * //   has_more: false, first_id: 'gemini-2.5-pro', last_id: 'gemini-2.5-pro' }
 */
export function anthropicModelList(models: ReadonlyArray<{ id: string; created?: number; displayName?: string }>, page: ModelPageParams): AnthropicModelPage {
  const limit = limitOf(page.limit);
  const before = page.before_id ?? undefined;
  const after = page.after_id ?? undefined;
  if (before !== undefined && after !== undefined) throw new GatewayError('invalid_request', 'before_id: give before_id or after_id, not both', { param: 'before_id' });
  let start = 0;
  let end = models.length;
  if (after !== undefined) {
    const at = models.findIndex((m) => m.id === after);
    start = at < 0 ? models.length : at + 1;
    end = Math.min(models.length, start + limit);
  } else if (before !== undefined) {
    const at = models.findIndex((m) => m.id === before);
    end = at < 0 ? 0 : at;
    start = Math.max(0, end - limit);
  } else {
    end = Math.min(models.length, limit);
  }
  const data = models.slice(start, end).map(
    (m): AnthropicModelInfo => ({ type: 'model', id: m.id, display_name: m.displayName ?? m.id, created_at: rfc3339(m.created) }),
  );
  // Anthropic's has_more looks the way the page was turned: older models past an after_id or first
  // page, newer ones before a before_id.
  const hasMore = before !== undefined ? start > 0 : end < models.length;
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

function limitOf(raw: string | number | null | undefined): number {
  if (raw === undefined || raw === null || raw === '') return DEFAULT_LIMIT;
  const n = typeof raw === 'number' ? raw : /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new GatewayError('invalid_request', `limit: must be an integer from 1 to ${MAX_LIMIT}`, { param: 'limit' });
  return n;
}

/** Unix seconds as Anthropic writes times: `2025-02-19T00:00:00Z`, without fractions. */
function rfc3339(seconds: number | undefined): string {
  const ms = seconds !== undefined && Number.isFinite(seconds) && seconds >= 0 && seconds < 253402300800 ? Math.floor(seconds) * 1000 : 0;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
