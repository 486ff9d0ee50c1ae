import type { ModelPrice } from './config.js';

/**
 * Built-in prices, USD per million tokens (input / output): the providers' public LIST prices
 * for standard (non-batch, non-cached, short-context) usage as of 2025-06, taken from
 * openai.com/api/pricing, anthropic.com/pricing, aws.amazon.com/bedrock/pricing and
 * cloud.google.com/vertex-ai/generative-ai/pricing. They change, differ by region and
 * contract, and are NOT checked at runtime: an operator must verify them and override or add
 * entries under `pricing.models` in the config. Keys match a model id exactly or as a prefix
 * (`gpt-4o-2024-08-06` → `gpt-4o`); the longest matching key wins.
 */
export const BUILT_IN_PRICES: Readonly<Record<string, ModelPrice>> = {
  // OpenAI
  'gpt-4o': { input_per_mtok: 2.5, output_per_mtok: 10 },
  'gpt-4o-mini': { input_per_mtok: 0.15, output_per_mtok: 0.6 },
  'gpt-4.1': { input_per_mtok: 2, output_per_mtok: 8 },
  'gpt-4.1-mini': { input_per_mtok: 0.4, output_per_mtok: 1.6 },
  'gpt-4.1-nano': { input_per_mtok: 0.1, output_per_mtok: 0.4 },
  'o3': { input_per_mtok: 2, output_per_mtok: 8 },
  'o3-mini': { input_per_mtok: 1.1, output_per_mtok: 4.4 },
  'o4-mini': { input_per_mtok: 1.1, output_per_mtok: 4.4 },
  'text-embedding-3-small': { input_per_mtok: 0.02, output_per_mtok: 0 },
  'text-embedding-3-large': { input_per_mtok: 0.13, output_per_mtok: 0 },
  // Anthropic (direct API, Bedrock `anthropic.claude-...` and Vertex `claude-...@date` ids)
  'claude-opus-4': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-7-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-5-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-5-haiku': { input_per_mtok: 0.8, output_per_mtok: 4 },
  'claude-3-opus': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-3-haiku': { input_per_mtok: 0.25, output_per_mtok: 1.25 },
  // Amazon models on Bedrock (us-east-1)
  'amazon.nova-pro': { input_per_mtok: 0.8, output_per_mtok: 3.2 },
  'amazon.nova-lite': { input_per_mtok: 0.06, output_per_mtok: 0.24 },
  'amazon.nova-micro': { input_per_mtok: 0.035, output_per_mtok: 0.14 },
  'amazon.titan-embed-text-v2': { input_per_mtok: 0.02, output_per_mtok: 0 },
  // Google Gemini on Vertex AI (prompts up to 128k/200k tokens)
  'gemini-2.5-pro': { input_per_mtok: 1.25, output_per_mtok: 10 },
  'gemini-2.5-flash': { input_per_mtok: 0.3, output_per_mtok: 2.5 },
  'gemini-2.0-flash': { input_per_mtok: 0.1, output_per_mtok: 0.4 },
  'gemini-1.5-pro': { input_per_mtok: 1.25, output_per_mtok: 5 },
  'gemini-1.5-flash': { input_per_mtok: 0.075, output_per_mtok: 0.3 },
};

/** Bedrock cross-region inference profiles (`us.anthropic...`) and Vertex resource paths. */
const ID_PREFIXES = /^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.|publishers\/[^/]+\/models\/|models\/)/;

/**
 * Prices requests from their reported usage. Lookups are cached per model id (ids come from
 * provider answers, so the cache is bounded by the models an operator deployed; it is capped
 * all the same).
 *
 * @example
 * const prices = new PriceTable({ 'my-model': { input_per_mtok: 1, output_per_mtok: 2 } });
 * prices.costMicros('gpt-4o-2024-08-06', 1000, 500); // 7500 (= $0.0075)
 */
export class PriceTable {
  readonly #entries: Array<[string, ModelPrice]>;
  readonly #cache = new Map<string, ModelPrice | null>();

  constructor(configured: Readonly<Record<string, ModelPrice>> = {}) {
    const merged = new Map<string, ModelPrice>();
    for (const [k, v] of Object.entries(BUILT_IN_PRICES)) merged.set(k.toLowerCase(), v);
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
    const bare = id.replace(ID_PREFIXES, '');
    // Bedrock ids name the vendor first (`anthropic.claude-...`); Anthropic prices are keyed without it.
    const unvendored = bare.replace(/^anthropic\./, '');
    for (const candidate of new Set([id, bare, unvendored])) {
      for (const [key, price] of this.#entries) if (candidate.startsWith(key)) return price;
    }
    return undefined;
  }
}
