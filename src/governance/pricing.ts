import type { UsageSummaryRow } from '../store/governance-types.js';
import type { ModelPrice } from './config.js';

const FREE: ModelPrice = { input_per_mtok: 0, output_per_mtok: 0 };

/** A character that makes a key a part of a longer name or version (`gpt-5` in `gpt-5.4`, `o3` in `o3x`). */
const CONTINUES = /[a-z0-9.]/;

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

/** What a request cost, and whether its model had a price (else `fallback` priced it). */
export interface Cost {
  micros: number;
  priced: boolean;
}

/**
 * Prices requests from their reported usage: the configured prices over the built-in ones. Keys
 * match a model id exactly or as a prefix that ends where the id goes on with a separator other
 * than `.` (`gpt-4o-2024-08-06` → `gpt-4o`, but `gpt-5.4` is not `gpt-5`: a new version is not
 * priced as an old one); the longest matching key wins; the id itself is tried first, then the ids `builtIn.priceIds` gives. Lookups are
 * cached per model id (ids come from provider answers, so the cache is bounded by the models an
 * operator deployed; it is capped all the same).
 *
 * @example
 * const prices = new PriceTable({ 'my-model': { input_per_mtok: 1, output_per_mtok: 2 } }, builtIn);
 * prices.cost('gpt-4o-2024-08-06', 1000, 500); // { micros: 7500, priced: true } with OpenAI's list price
 */
export class PriceTable {
  readonly #entries: Array<[string, ModelPrice]>;
  readonly #priceIds: (id: string) => readonly string[];
  readonly #cache = new Map<string, ModelPrice | null>();

  readonly #fallback: ModelPrice;

  /** `fallback` prices a model no entry matches (`pricing.unpriced`; default $0, reported by the caller). */
  constructor(configured: Readonly<Record<string, ModelPrice>>, builtIn: BuiltInPrices, fallback: ModelPrice = FREE) {
    this.#priceIds = builtIn.priceIds;
    this.#fallback = fallback;
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

  /** Cost in whole micro-dollars, at the fallback price for a model without one. */
  cost(model: string, inputTokens: number, outputTokens: number): Cost {
    const found = this.price(model);
    const p = found ?? this.#fallback;
    return { micros: Math.round(inputTokens * p.input_per_mtok + outputTokens * p.output_per_mtok), priced: found !== undefined };
  }

  #lookup(model: string): ModelPrice | undefined {
    const id = model.toLowerCase();
    for (const candidate of new Set([id, ...this.#priceIds(id)])) {
      for (const [key, price] of this.#entries) if (candidate.startsWith(key) && !CONTINUES.test(candidate.charAt(key.length))) return price;
    }
    return undefined;
  }
}

/** A usage summary row; `unpriced` marks a model (grouped by model) charged at `pricing.unpriced`. */
export type PricedUsageRow = UsageSummaryRow & { unpriced?: true };

/** Marks the rows of a by-model summary whose model `prices` has no price for (the admin API's and the CLI's usage). */
export function markUnpriced(rows: readonly UsageSummaryRow[], prices: PriceTable): PricedUsageRow[] {
  return rows.map((r) => (r.group !== null && prices.price(r.group) === undefined ? { ...r, unpriced: true } : r));
}
