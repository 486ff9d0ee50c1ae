import type { ListPrice } from '../types.js';
import { PROFILE_PREFIX } from './inference-profiles.js';

/**
 * Amazon's own models on Bedrock, USD per million tokens, us-east-1 list prices as of 2025-06
 * (aws.amazon.com/bedrock/pricing); NOT checked at runtime. Claude on Bedrock is priced by
 * Anthropic's list (anthropic/prices.ts) through {@link bedrockPriceIds}.
 */
export const BEDROCK_PRICES: Readonly<Record<string, ListPrice>> = {
  'amazon.nova-pro': { input_per_mtok: 0.8, output_per_mtok: 3.2 },
  'amazon.nova-lite': { input_per_mtok: 0.06, output_per_mtok: 0.24 },
  'amazon.nova-micro': { input_per_mtok: 0.035, output_per_mtok: 0.14 },
  'amazon.titan-embed-text-v2': { input_per_mtok: 0.02, output_per_mtok: 0 },
};

/**
 * The ids a Bedrock model id is priced under: without its inference-profile prefix
 * (`us.amazon.nova-pro-v1:0` → `amazon.nova-pro-v1:0`), then also without the `anthropic.`
 * vendor prefix, since Anthropic's prices are keyed without it.
 */
export function bedrockPriceIds(id: string): readonly string[] {
  const bare = id.replace(PROFILE_PREFIX, '');
  return [bare, bare.replace(/^anthropic\./, '')];
}
