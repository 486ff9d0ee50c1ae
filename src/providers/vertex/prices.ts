import type { ListPrice } from '../types.js';

/**
 * Google's Gemini models on Vertex AI, USD per million tokens (prompts up to 128k/200k tokens),
 * list prices as of 2025-06 (cloud.google.com/vertex-ai/generative-ai/pricing), the Gemini 3
 * models and 2.5 Flash-Lite as read on 2026-12-07 from copies of ai.google.dev/gemini-api/docs/pricing
 * (the `-preview` ids match by prefix); NOT checked at runtime. Claude on Vertex (`claude-…@date`) is priced by Anthropic's list.
 */
export const VERTEX_PRICES: Readonly<Record<string, ListPrice>> = {
  'gemini-3.1-pro': { input_per_mtok: 2, output_per_mtok: 12 },
  'gemini-3.1-flash-lite': { input_per_mtok: 0.25, output_per_mtok: 1.5 },
  'gemini-3-pro': { input_per_mtok: 2, output_per_mtok: 12 },
  'gemini-3-flash': { input_per_mtok: 0.5, output_per_mtok: 3 },
  'gemini-2.5-flash-lite': { input_per_mtok: 0.1, output_per_mtok: 0.4 },
  'gemini-2.5-pro': { input_per_mtok: 1.25, output_per_mtok: 10 },
  'gemini-2.5-flash': { input_per_mtok: 0.3, output_per_mtok: 2.5 },
  'gemini-2.0-flash': { input_per_mtok: 0.1, output_per_mtok: 0.4 },
  'gemini-1.5-pro': { input_per_mtok: 1.25, output_per_mtok: 5 },
  'gemini-1.5-flash': { input_per_mtok: 0.075, output_per_mtok: 0.3 },
};

/** A model's resource path (`publishers/google/models/gemini-…`, `models/gemini-…`). */
const RESOURCE_PATH = /^(?:publishers\/[^/]+\/models\/|models\/)/;

/** The id a Vertex model id is priced under: the model's own id without its resource path. */
export function vertexPriceIds(id: string): readonly string[] {
  return [id.replace(RESOURCE_PATH, '')];
}
