import type { ListPrice } from '../types.js';

/**
 * Anthropic's public list prices, USD per million tokens, for standard usage as of 2025-06
 * (anthropic.com/pricing), keyed by the direct API's ids. Claude on Bedrock
 * (`anthropic.claude-…`, `us.anthropic.claude-…`) and Vertex (`claude-…@date`) is priced by
 * these too: those providers' `priceIds` reduce their ids to these keys. NOT checked at runtime:
 * an operator verifies them and overrides entries under `pricing.models`.
 */
export const ANTHROPIC_PRICES: Readonly<Record<string, ListPrice>> = {
  'claude-opus-4': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-7-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-5-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-5-haiku': { input_per_mtok: 0.8, output_per_mtok: 4 },
  'claude-3-opus': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-3-haiku': { input_per_mtok: 0.25, output_per_mtok: 1.25 },
};
