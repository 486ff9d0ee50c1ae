import type { ListPrice } from '../types.js';

/**
 * OpenAI's public list prices, USD per million tokens, for standard (non-batch, non-cached)
 * usage as of 2025-06 (openai.com/api/pricing); the GPT-5 family as read on 2026-12-07 from
 * developers.openai.com/api/docs/pricing and the models' pages (gpt-5.4's mini and nano output
 * prices from third-party copies of that page). They change and are NOT checked at runtime: an
 * operator verifies them and overrides or adds entries under `pricing.models`.
 */
export const OPENAI_PRICES: Readonly<Record<string, ListPrice>> = {
  'gpt-5': { input_per_mtok: 1.25, output_per_mtok: 10 },
  'gpt-5-mini': { input_per_mtok: 0.25, output_per_mtok: 2 },
  'gpt-5-nano': { input_per_mtok: 0.05, output_per_mtok: 0.4 },
  'gpt-5.1': { input_per_mtok: 1.25, output_per_mtok: 10 },
  'gpt-5.4': { input_per_mtok: 2.5, output_per_mtok: 15 },
  'gpt-5.4-mini': { input_per_mtok: 0.75, output_per_mtok: 4.5 },
  'gpt-5.4-nano': { input_per_mtok: 0.2, output_per_mtok: 1.25 },
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
};
