import { num, sameShapeUsage, str, type Usage, type UsageReader } from '../usage.js';

/**
 * OCI Generative AI usage in transparent mode. A chat answer (`ChatResult`) is
 * `{modelId, chatResponse: {usage: {promptTokens, completionTokens, totalTokens}}}`; embedText
 * and generateText name `modelId` but carry no token counts the gateway reads. Streamed chat
 * events carry `usage` only when the client asked for `streamOptions.isIncludeUsage` (generic
 * models); those are read, the rest are forwarded without accounting.
 */
export const ociUsage: UsageReader = sameShapeUsage(read, '"usage'); // only events that mention usage are parsed

function read(body: unknown, acc: Usage): void {
  if (body === null || typeof body !== 'object') return;
  const b = body as Record<string, unknown>;
  const inner = b['chatResponse'];
  const response = inner !== null && typeof inner === 'object' ? (inner as Record<string, unknown>) : b;
  const usage = response['usage'];
  if (usage === null || typeof usage !== 'object') return;
  const u = usage as Record<string, unknown>;
  acc.model = str(b['modelId']) ?? acc.model;
  acc.inputTokens = num(u['promptTokens']);
  acc.outputTokens = num(u['completionTokens']);
}
