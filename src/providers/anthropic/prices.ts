import type { ListPrice } from '../types.js';

/**
 * Anthropic's public list prices, USD per million tokens, for standard usage (base input and
 * output tokens, no cache or batch), keyed by the direct API's ids: as of 2025-06
 * (anthropic.com/pricing), the 4.5/4.6 and 5.x models as read on 2026-12-07 from
 * platform.claude.com/docs/about-claude/pricing and the models' overview pages. Claude Haiku
 * 5.5 is left out: it is priced in bands by prompt length, which one entry cannot say. Claude on Bedrock
 * (`anthropic.claude-…`, `us.anthropic.claude-…`) and Vertex (`claude-…@date`) is priced by
 * these too: those providers' `priceIds` reduce their ids to these keys. NOT checked at runtime:
 * an operator verifies them and overrides entries under `pricing.models`.
 */
export const ANTHROPIC_PRICES: Readonly<Record<string, ListPrice>> = {
  'claude-opus-5-5': { input_per_mtok: 4, output_per_mtok: 20 },
  'claude-opus-5': { input_per_mtok: 5, output_per_mtok: 25 },
  'claude-sonnet-5-5': { input_per_mtok: 2, output_per_mtok: 10 },
  'claude-sonnet-5': { input_per_mtok: 2, output_per_mtok: 10 },
  'claude-opus-4-6': { input_per_mtok: 5, output_per_mtok: 25 },
  'claude-opus-4-5': { input_per_mtok: 5, output_per_mtok: 25 },
  'claude-opus-4-1': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-opus-4': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-sonnet-4-6': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-sonnet-4-5': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-7-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-5-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-haiku-4-5': { input_per_mtok: 1, output_per_mtok: 5 },
  'claude-3-5-haiku': { input_per_mtok: 0.8, output_per_mtok: 4 },
  'claude-3-opus': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-3-haiku': { input_per_mtok: 0.25, output_per_mtok: 1.25 },
};
