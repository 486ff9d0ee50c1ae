import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../observability/logger.js';
import type { ResponsesConfig } from './config.js';
import type { HistoryLimits, HistoryResult, ItemPage, ItemPageQuery, ResponseJson, ResponseStore, StoredItem, StoredResponse } from './response-types.js';

export interface StoredResponsesOptions {
  /** `responses.store`: false keeps nothing and finds nothing. */
  enabled: boolean;
  /** `responses.retention`, ms. */
  retentionMs: number;
  /** `responses.max_size`, bytes of input items and Response JSON together. */
  maxBytes: number;
  logger: Logger;
  now?: () => number;
  /** How often expired responses are deleted (default hourly, as audit and usage pruning). */
  sweepIntervalMs?: number;
}

/** What the `POST /v1/responses` route hands over once a response with `store: true` has finished. */
export interface KeepRequest {
  id: string;
  /** `responseOwner(ctx.principal)`. */
  owner: string;
  instance: string;
  model: string;
  previousId: string | null;
  /** This turn's input items, with ids (protocol/responses' `inputItems`). */
  input: readonly StoredItem[];
  response: ResponseJson;
}

/**
 * The gateway's stored responses as the routes use them: `responses.store`, the retention and
 * the size cap applied over the store's {@link ResponseStore}, and the hourly sweep of expired
 * ones. With `responses.store: false` nothing is kept and every lookup finds nothing (404 / the
 * `previous_response_id` not-found 400), as OpenAI answers for a response it did not keep.
 *
 * @example
 * const responses = StoredResponses.fromConfig(store.responses, config.responses, logger);
 * const previous = await responses.history(body.previous_response_id, responseOwner(principal));
 * ... after the answer:
 * await responses.keep({ id, owner, instance: instance.name, model, previousId, input: inputItems(body), response });
 */
export class StoredResponses {
  readonly #store: ResponseStore;
  readonly #options: StoredResponsesOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: ResponseStore, options: StoredResponsesOptions) {
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  static fromConfig(store: ResponseStore, config: ResponsesConfig, logger: Logger): StoredResponses {
    return new StoredResponses(store, { enabled: config.store, retentionMs: config.retention, maxBytes: config.max_size, logger });
  }

  /** False under `responses.store: false`: the POST route may then answer `store: false` in the Response object. */
  get enabled(): boolean {
    return this.#options.enabled;
  }

  /**
   * Stores a finished response for `retention`. False when it was not stored: the store is
   * disabled, or the response is larger than `max_size` (logged with its size, never its
   * content). A failing store throws (the caller decides whether the answer still goes out).
   */
  async keep(request: KeepRequest): Promise<boolean> {
    if (!this.#options.enabled) return false;
    const bytes = Buffer.byteLength(JSON.stringify(request.input)) + Buffer.byteLength(JSON.stringify(request.response));
    if (bytes > this.#options.maxBytes) {
      this.#options.logger.warn({ response_id: request.id, bytes, limit: this.#options.maxBytes }, 'response not stored: larger than responses.max_size');
      return false;
    }
    const createdAt = this.#now();
    const record: StoredResponse = { ...request, createdAt, expiresAt: createdAt + this.#options.retentionMs };
    await this.#store.put(record);
    return true;
  }

  get(id: string, owner: string): Promise<StoredResponse | undefined> {
    return this.#options.enabled ? this.#store.get(id, owner) : Promise.resolve(undefined);
  }

  delete(id: string, owner: string): Promise<boolean> {
    return this.#options.enabled ? this.#store.delete(id, owner) : Promise.resolve(false);
  }

  /** The conversation up to `id` for `previous_response_id` (see {@link ResponseStore.history}). */
  history(id: string, owner: string, limits?: HistoryLimits): Promise<HistoryResult> {
    if (!this.#options.enabled) return Promise.resolve({ ok: false, reason: 'not_found', missingId: id });
    return this.#store.history(id, owner, limits);
  }

  inputItems(id: string, owner: string, query?: ItemPageQuery): Promise<ItemPage | undefined> {
    return this.#options.enabled ? this.#store.inputItems(id, owner, query) : Promise.resolve(undefined);
  }

  /** Stored items by id for `item_reference` input items (see {@link ResponseStore.items}); none when disabled. */
  items(ids: readonly string[], owner: string): Promise<Map<string, StoredItem>> {
    return this.#options.enabled ? this.#store.items(ids, owner) : Promise.resolve(new Map());
  }

  item(id: string, owner: string): Promise<StoredItem | undefined> {
    return this.#options.enabled ? this.#store.item(id, owner) : Promise.resolve(undefined);
  }

  /** Deletes expired responses now; failures are logged (the next sweep retries). Runs even when disabled, so turning the store off still empties it. */
  async sweep(): Promise<void> {
    try {
      const removed = await this.#store.sweep(this.#now());
      if (removed > 0) this.#options.logger.info({ removed }, 'deleted stored responses past responses.retention');
    } catch (err) {
      this.#options.logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'deleting expired stored responses failed');
    }
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.sweep(), this.#options.sweepIntervalMs ?? 3_600_000);
    this.#timer.unref();
    void this.sweep();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The 400 for a `previous_response_id` whose history could not be had (param
 * `previous_response_id`; OpenAI's message for an unknown id). `id` is the id the request named.
 *
 * @example
 * const history = await responses.history(previousId, owner);
 * if (!history.ok) throw previousResponseError(previousId, history);
 */
export function previousResponseError(id: string, failure: Exclude<HistoryResult, { ok: true }>): GatewayError {
  const param = { param: 'previous_response_id' };
  if (failure.reason === 'not_found') {
    if (failure.missingId === id) return new GatewayError('invalid_request', `Previous response with id '${id}' not found.`, param);
    return new GatewayError('invalid_request', `Previous response with id '${id}' cannot be continued: an earlier turn of its conversation, '${failure.missingId}', was not found (expired or deleted).`, param);
  }
  const bound = failure.bound === 'turns' ? `${failure.limit} turns` : `${Math.floor(failure.limit / (1024 * 1024))} MB of stored conversation`;
  return new GatewayError('invalid_request', `Previous response with id '${id}' cannot be continued: its conversation is longer than the gateway continues (${bound}); send the input items yourself instead.`, param);
}
