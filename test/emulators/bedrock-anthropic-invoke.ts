import { ANTHROPIC_API_VERSIONS } from './anthropic.js';

/**
 * `anthropic_version` values InvokeModel takes in a Claude body: Bedrock's own
 * `bedrock-2023-05-31`, and the Anthropic API versions, which the official Bedrock SDK
 * (`@anthropic-ai/bedrock-sdk` 1.x) moves from its `anthropic-version` header into the body
 * (it sends `2026-10-21`).
 */
export const BEDROCK_ANTHROPIC_VERSIONS: ReadonlySet<string> = new Set(['bedrock-2023-05-31', ...ANTHROPIC_API_VERSIONS]);
