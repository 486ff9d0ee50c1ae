import type { ModelPrice } from './config.js';

/**
 * The prices the gateway knows without config: each provider's public LIST prices for standard
 * (non-batch, non-cached, short-context) usage, declared in its folder (`prices`) and merged by
 * the composition root. They change, differ by region and contract, and are NOT checked at
 * runtime: an operator must verify them and override or add entries under `pricing.models`.
 */
export interface BuiltInPrices {
  /** Model id or id prefix → price. */
  readonly prices: Readonly<Record<string, ModelPrice>>;
  /**
   * Other ids a (lower-cased) model id is priced under, in order: the providers' id
   * normalisations (Bedrock's inference profiles and vendor prefix, Vertex resource paths).
   */
  priceIds(id: string): readonly string[];
}

/**
 * Prices requests from their reported usage: the configured prices over the built-in ones. Keys
 * match a model id exactly or as a prefix (`gpt-4o-2024-08-06` → `gpt-4o`); the longest matching
 * key wins; the id itself is tried first, then the ids `builtIn.priceIds` gives. Lookups are
 * cached per model id (ids come from provider answers, so the cache is bounded by the models an
 * operator deployed; it is capped all the same).
 *
 * @example
 * const prices = new PriceTable({ 'my-model': { input_per_mtok: 1, output_per_mtok: 2 } }, builtIn);
 * prices.costMicros('gpt-4o-2024-08-06', 1000, 500); // 7500 (= $0.0075) with OpenAI's list price
 */
export class PriceTable {
  readonly #entries: Array<[string, ModelPrice]>;
  readonly #priceIds: (id: string) => readonly string[];
  readonly #cache = new Map<string, ModelPrice | null>();

  constructor(configured: Readonly<Record<string, ModelPrice>>, builtIn: BuiltInPrices) {
    this.#priceIds = builtIn.priceIds;
    const merged = new Map<string, ModelPrice>();
    for (const [k, v] of Object.entries(builtIn.prices)) merged.set(k.toLowerCase(), v);
    for (const [k, v] of Object.entries(configured)) merged.set(k.toLowerCase(), v);
    // Longest key first, so `gpt-4o-mini` wins over `gpt-4o`.
    this.#entries = [...merged].sort((a, b) => b[0].length - a[0].length);
  }

  /** The price of `model`, or undefined when no entry matches. */
  price(model: string): ModelPrice | undefined {
    const cached = this.#cache.get(model);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.#lookup(model);
    if (this.#cache.size >= 10_000) this.#cache.clear();
    this.#cache.set(model, found ?? null);
    return found;
  }

  /** Cost in whole micro-dollars; 0 for an unknown model. */
  costMicros(model: string | undefined, inputTokens: number, outputTokens: number): number {
    if (model === undefined) return 0;
    const p = this.price(model);
    if (p === undefined) return 0;
    return Math.round(inputTokens * p.input_per_mtok + outputTokens * p.output_per_mtok);
  }

  #lookup(model: string): ModelPrice | undefined {
    const id = model.toLowerCase();
    for (const candidate of new Set([id, ...this.#priceIds(id)])) {
      for (const [key, price] of this.#entries) if (candidate.startsWith(key)) return price;
    }
    return undefined;
  }
}
