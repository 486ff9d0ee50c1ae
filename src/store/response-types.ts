/**
 * The gateway's own store of Responses API responses (`store: true`), behind
 * `previous_response_id` and `GET/DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`.
 * SQLite (store/sqlite/responses.ts) and PostgreSQL (store/postgres/responses.ts) implement it
 * over the same row logic (store/responses.ts). Every read is by id *and* owner: a response
 * someone else stored is indistinguishable from one that does not exist. An expired response
 * is absent even before `sweep` deletes it.
 *
 * @example
 * await store.responses.put({ id: 'resp_1', owner: 'key:abc', createdAt: now, expiresAt: now + 30 * 86_400_000,
 *   instance: 'openai', model: 'gpt-5', previousId: null, input: [{ id: 'msg_1', type: 'message', role: 'user', content: [...] }], response });
 * const turns = await store.responses.history('resp_1', 'key:abc');
 * if (!turns.ok) throw new GatewayError('invalid_request', `previous_response_id: ...`, { param: 'previous_response_id' });
 */

/** A Responses API item (`message`, `function_call`, `function_call_output`, ...) as JSON; stored items always carry an `id`. */
export type StoredItem = { readonly id: string; readonly type?: string } & Readonly<Record<string, unknown>>;

/** A Responses API `Response` object as JSON; its `output` holds the output items. */
export type ResponseJson = Readonly<Record<string, unknown>> & { readonly id: string; readonly output?: readonly unknown[] };

/** One stored turn of a conversation. */
export interface StoredResponse {
  /** The response id (`resp_...`), unique in the store. */
  id: string;
  /** Who may read it: `responseOwner(principal)` (src/request/response-owner.ts). */
  owner: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; from then on the response is absent. */
  expiresAt: number;
  instance: string;
  model: string;
  /** The `previous_response_id` this turn continued, or null. */
  previousId: string | null;
  /** This turn's input items only (earlier turns are reached through `previousId`). */
  input: readonly StoredItem[];
  /** The final Response object (output items, usage, status...). */
  response: ResponseJson;
}

/** Bounds of a history walk; each defaults to the store's maximum (see `HISTORY_LIMITS`). */
export interface HistoryLimits {
  /** Turns at most (the response itself counts as one). */
  maxTurns?: number;
  /** The turns' stored JSON (input items and response together), in UTF-8 bytes. */
  maxBytes?: number;
}

/**
 * A conversation up to a response, or why it cannot be had:
 * - `not_found`: `missingId` (the response asked for, or a turn it continues) does not exist,
 *   expired or belongs to someone else;
 * - `too_long`: the chain exceeds `bound` (`turns` or `bytes`, at `limit`).
 */
export type HistoryResult =
  | { ok: true; items: StoredItem[]; turns: number }
  | { ok: false; reason: 'not_found'; missingId: string }
  | { ok: false; reason: 'too_long'; bound: 'turns' | 'bytes'; limit: number };

/** The `GET /v1/responses/{id}/input_items` query: `after` an item id, `limit` 1–100 (20), `order` (desc). */
export interface ItemPageQuery {
  after?: string;
  limit?: number;
  order?: 'asc' | 'desc';
}

/** OpenAI's `ResponseItemList`. `first_id` / `last_id` are null on an empty page (OpenAI's own answer for an empty list). */
export interface ItemPage {
  object: 'list';
  data: StoredItem[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** The Responses store on `Store` (`store.responses`). */
export interface ResponseStore {
  /** Stores a response; its id must be new. */
  put(record: StoredResponse): Promise<void>;
  /** The response, unless missing, expired or not `owner`'s. */
  get(id: string, owner: string): Promise<StoredResponse | undefined>;
  /** Deletes it; false when there was nothing `owner` could see. */
  delete(id: string, owner: string): Promise<boolean>;
  /**
   * The conversation up to and including `id`, oldest first: each turn's input items, then its
   * response's output items. Follows `previousId` links; one query, bounded by `limits`.
   */
  history(id: string, owner: string, limits?: HistoryLimits): Promise<HistoryResult>;
  /**
   * A page of the items used to generate `id`: the conversation before it (as `history`) and
   * its own input items; undefined when `id` is absent for `owner`. A turn further back that
   * is gone (expired, deleted) ends the listed conversation there. Throws `invalid_request`
   * (param `after`) when `after` names no listed item.
   */
  inputItems(id: string, owner: string, query?: ItemPageQuery): Promise<ItemPage | undefined>;
  /**
   * The stored item `id` (an input or output item of a live response `owner` stored), as
   * stored; undefined when no such response is left. Resolves `item_reference` input items.
   */
  item(id: string, owner: string): Promise<StoredItem | undefined>;
  /**
   * {@link item} for several ids in one query: the items found, by id. An item stored in more
   * than one response (a client sent it back in full) is taken from the newest. At most
   * `ITEM_LOOKUP_MAX` ids (store/responses.ts); more is a programming error and throws.
   */
  items(ids: readonly string[], owner: string): Promise<Map<string, StoredItem>>;
  /** Deletes responses expired at `now`; returns how many. */
  sweep(now: number): Promise<number>;
}
