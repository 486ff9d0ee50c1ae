import { GatewayError } from '../errors/gateway-error.js';
import type { HistoryLimits, HistoryResult, ItemPage, ItemPageQuery, ResponseJson, ResponseStore, StoredItem, StoredResponse } from './response-types.js';
import type { Row } from './rows.js';

/**
 * The Responses store's logic over a driver's rows: JSON in and out, the history walk's
 * verdict, input item pages. SQLite and PostgreSQL supply only {@link ResponseRows}.
 */

/** The largest history walk: turns, and UTF-8 bytes of stored JSON. */
export const HISTORY_LIMITS = { maxTurns: 1000, maxBytes: 64 * 1024 * 1024 } as const;

/** Most items an input item page holds (OpenAI's `limit` range is 1–100, default 20). */
export const ITEM_PAGE_MAX = 100;
export const ITEM_PAGE_DEFAULT = 20;

/** Most item ids one `items` lookup takes (a request's `item_reference`s are bounded by it). */
export const ITEM_LOOKUP_MAX = 1000;

/** A `responses` row as written. */
export interface ResponseRowValues {
  id: string;
  owner: string;
  createdAt: number;
  expiresAt: number;
  instance: string;
  model: string;
  previousId: string | null;
  /** JSON text of the input items. */
  input: string;
  /** JSON text of the Response object. */
  response: string;
  /** Ids of its input and output items, each once: the `response_items` rows `items` finds them by. */
  itemIds: readonly string[];
}

/**
 * What a driver provides. Every read takes `owner` and `now`: rows of another owner, or
 * expired at `now`, are never returned.
 */
export interface ResponseRows {
  insert(row: ResponseRowValues): Promise<void>;
  /** Columns `id, owner, created_at, expires_at, instance, model, previous_id, input_items, response`. */
  get(id: string, owner: string, now: number): Promise<Row | undefined>;
  delete(id: string, owner: string, now: number): Promise<boolean>;
  /**
   * The chain from `id` following `previous_id`, `id` first (`depth` 1), with the running total
   * of UTF-8 bytes (`bytes`) of each row's input and response. A row is followed only while the
   * one before it has `depth <= maxTurns` and `bytes <= maxBytes`, so the walk reads at most one
   * row past either bound: enough to tell that a bound was hit.
   */
  chain(id: string, owner: string, now: number, maxTurns: number, maxBytes: number): Promise<Row[]>;
  /**
   * For each of `itemIds`, the newest live response of `owner` that holds it (its `response_items`
   * row), each response once: columns `id, input_items, response`, newest first.
   */
  items(itemIds: readonly string[], owner: string, now: number): Promise<Row[]>;
  sweep(now: number): Promise<number>;
}

/**
 * {@link ResponseStore} over a driver's {@link ResponseRows}.
 *
 * @example
 * readonly responses = new RowResponseStore(new SqliteResponseRows(db));
 */
export class RowResponseStore implements ResponseStore {
  readonly #rows: ResponseRows;
  readonly #now: () => number;

  constructor(rows: ResponseRows, now: () => number = Date.now) {
    this.#rows = rows;
    this.#now = now;
  }

  put(record: StoredResponse): Promise<void> {
    return this.#rows.insert({
      id: record.id,
      owner: record.owner,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      instance: record.instance,
      model: record.model,
      previousId: record.previousId,
      input: JSON.stringify(record.input),
      response: JSON.stringify(record.response),
      itemIds: [...new Set([...record.input, ...outputItems(record.response)].map((item) => item.id).filter((id) => typeof id === 'string'))],
    });
  }

  async get(id: string, owner: string): Promise<StoredResponse | undefined> {
    const row = await this.#rows.get(id, owner, this.#now());
    return row && storedResponseFromRow(row);
  }

  delete(id: string, owner: string): Promise<boolean> {
    return this.#rows.delete(id, owner, this.#now());
  }

  async history(id: string, owner: string, limits: HistoryLimits = {}): Promise<HistoryResult> {
    const maxTurns = Math.min(limits.maxTurns ?? HISTORY_LIMITS.maxTurns, HISTORY_LIMITS.maxTurns);
    const maxBytes = Math.min(limits.maxBytes ?? HISTORY_LIMITS.maxBytes, HISTORY_LIMITS.maxBytes);
    const rows = await this.#rows.chain(id, owner, this.#now(), maxTurns, maxBytes);
    const last = rows[rows.length - 1];
    if (last === undefined) return { ok: false, reason: 'not_found', missingId: id };
    if (Number(last['bytes']) > maxBytes) return { ok: false, reason: 'too_long', bound: 'bytes', limit: maxBytes };
    if (rows.length > maxTurns) return { ok: false, reason: 'too_long', bound: 'turns', limit: maxTurns };
    const missing = last['previous_id'] as string | null;
    if (missing !== null) return { ok: false, reason: 'not_found', missingId: missing };
    return { ok: true, items: conversation(rows, rows.length), turns: rows.length };
  }

  async inputItems(id: string, owner: string, query: ItemPageQuery = {}): Promise<ItemPage | undefined> {
    const { maxTurns, maxBytes } = HISTORY_LIMITS;
    const rows = await this.#rows.chain(id, owner, this.#now(), maxTurns, maxBytes);
    const self = rows[0];
    if (self === undefined) return undefined;
    // Earlier turns within the bounds (a turn past them, or a gone one, ends the listing there).
    let earlier = 1;
    while (earlier < rows.length && earlier < maxTurns && Number(rows[earlier]!['bytes']) <= maxBytes) earlier++;
    const items = [...conversation(rows.slice(1, earlier), earlier - 1), ...parseItems(self['input_items'])];
    return pageOf(items, query);
  }

  async item(id: string, owner: string): Promise<StoredItem | undefined> {
    return (await this.items([id], owner)).get(id);
  }

  async items(ids: readonly string[], owner: string): Promise<Map<string, StoredItem>> {
    const wanted = new Set(ids);
    if (wanted.size > ITEM_LOOKUP_MAX) throw new RangeError(`at most ${ITEM_LOOKUP_MAX} item ids per lookup, got ${wanted.size}`);
    const found = new Map<string, StoredItem>();
    if (wanted.size === 0) return found;
    // Newest response first: the first copy of an item found is the newest.
    for (const row of await this.#rows.items([...wanted], owner, this.#now())) {
      for (const item of [...parseItems(row['input_items']), ...outputItems(JSON.parse(row['response'] as string) as ResponseJson)]) {
        if (wanted.has(item.id) && !found.has(item.id)) found.set(item.id, item);
      }
    }
    return found;
  }

  sweep(now: number): Promise<number> {
    return this.#rows.sweep(now);
  }
}

/** The turns of `rows` (newest first, as `chain` returns them) oldest first: input items, then output items. */
function conversation(rows: readonly Row[], turns: number): StoredItem[] {
  const items: StoredItem[] = [];
  for (let i = turns - 1; i >= 0; i--) {
    const row = rows[i]!;
    items.push(...parseItems(row['input_items']));
    items.push(...outputItems(JSON.parse(row['response'] as string) as ResponseJson));
  }
  return items;
}

function parseItems(text: unknown): StoredItem[] {
  return JSON.parse(text as string) as StoredItem[];
}

/** A Response's output items (objects only; anything else in `output` is not an item). */
function outputItems(response: ResponseJson): StoredItem[] {
  const output = Array.isArray(response.output) ? response.output : [];
  return output.filter((item): item is StoredItem => typeof item === 'object' && item !== null && !Array.isArray(item));
}

/** One page of `items` (oldest first) in `query.order` after `query.after`. */
export function pageOf(items: readonly StoredItem[], query: ItemPageQuery): ItemPage {
  const ordered = query.order === 'asc' ? items : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at === -1) throw new GatewayError('invalid_request', `after: no input item with id "${query.after.slice(0, 100)}" in this response`, { param: 'after' });
    start = at + 1;
  }
  const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? ITEM_PAGE_DEFAULT)), ITEM_PAGE_MAX);
  const data = ordered.slice(start, start + limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: start + limit < ordered.length,
  };
}

/** A `responses` row as the record it was written from. */
function storedResponseFromRow(r: Row): StoredResponse {
  return {
    id: r['id'] as string,
    owner: r['owner'] as string,
    createdAt: Number(r['created_at']),
    expiresAt: Number(r['expires_at']),
    instance: r['instance'] as string,
    model: r['model'] as string,
    previousId: (r['previous_id'] as string | null) ?? null,
    input: parseItems(r['input_items']),
    response: JSON.parse(r['response'] as string) as ResponseJson,
  };
}
