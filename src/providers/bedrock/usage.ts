import { bedrockEvent, stringHeader, type EventStreamMessage } from '../../protocol/aws-eventstream.js';
import { openaiUsage } from '../openai-compatible/usage.js';
import { num, type Usage, type UsageReader } from '../usage.js';

/**
 * Bedrock Runtime usage. The model id is in the request path, never in Bedrock's bodies, so
 * `model` stays undefined for the caller to fill in. Input includes cache reads and writes, which
 * Bedrock (like Anthropic) reports beside the input count, not inside it.
 *
 * - Converse: `usage.inputTokens`/`outputTokens` (+ `cacheReadInputTokens`, `cacheWriteInputTokens`).
 * - ConverseStream: the same `usage` in the `metadata` event.
 * - InvokeModel: the model's own body. Anthropic Messages bodies carry `usage.input_tokens`/
 *   `output_tokens`; other model families report usage only in the
 *   `x-amzn-bedrock-input-token-count`/`-output-token-count` response headers, which this
 *   reader does not see.
 * - InvokeModelWithResponseStream: `chunk` events whose payload is `{"bytes":"<base64>"}` of one
 *   model event. The last one carries `amazon-bedrock-invocationMetrics`, Bedrock's own count
 *   for every model family, which is used when present. Anthropic's `message_start` and
 *   `message_delta` counts are read too, so a stream cut before its end still reports what it
 *   said; they are set, not added, and the metrics chunk comes last, so nothing is counted twice.
 * - The OpenAI-compatible routes (`/openai/v1/chat/completions`, the Responses API on
 *   bedrock-mantle) answer in OpenAI's shapes, JSON or SSE — Bedrock's only SSE — and name the
 *   model in the body: read as OpenAI's.
 *
 * @example
 * const observer = UsageObserver.for(bedrockUsage, 'application/vnd.amazon.eventstream');
 */
export const bedrockUsage: UsageReader = {
  // Only events that mention usage are parsed: its streams are event streams, never SSE; kept for a reader that delegates here.
  eventMarker: '"usage',
  json(body, acc) {
    const usage = field(body, 'usage');
    if (usage === undefined) return;
    if ('prompt_tokens' in usage || 'input_tokens_details' in usage) openaiUsage.json(body, acc);
    else if ('inputTokens' in usage || 'outputTokens' in usage) readConverseUsage(usage, acc);
    else readAnthropicUsage(usage, acc);
  },
  // Only the OpenAI-compatible routes stream SSE; the runtime's own streams are event streams (below).
  event: openaiUsage.event,
  eventstream(msg, acc) {
    // Only two event types can carry usage; the header is read before any payload is parsed.
    switch (stringHeader(msg, ':event-type')) {
      case 'metadata': {
        const usage = field(eventPayload(msg), 'usage');
        if (usage !== undefined) readConverseUsage(usage, acc);
        break;
      }
      case 'chunk':
        readModelChunk(eventPayload(msg), acc);
        break;
      default:
        break;
    }
  },
};

/** The JSON payload of an event message; undefined for exceptions, errors and bad payloads. */
function eventPayload(msg: EventStreamMessage): unknown {
  try {
    const ev = bedrockEvent(msg);
    return ev.kind === 'event' ? ev.payload : undefined;
  } catch {
    return undefined; // skipped like an SSE event whose data is not JSON
  }
}

const INVOCATION_METRICS = 'amazon-bedrock-invocationMetrics';

function readModelChunk(payload: unknown, acc: Usage): void {
  const b64 = asObject(payload)?.['bytes'];
  if (typeof b64 !== 'string') return;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  // Most chunks are text deltas: skip them unparsed.
  if (!text.includes(INVOCATION_METRICS) && !text.includes('"usage"')) return;
  let inner: unknown;
  try {
    inner = JSON.parse(text);
  } catch {
    return;
  }
  const metrics = field(inner, INVOCATION_METRICS);
  if (metrics !== undefined) {
    acc.inputTokens = num(metrics['inputTokenCount']) + num(metrics['cacheReadInputTokenCount']) + num(metrics['cacheWriteInputTokenCount']);
    acc.outputTokens = num(metrics['outputTokenCount']);
    return;
  }
  const type = asObject(inner)?.['type'];
  if (type === 'message_start') {
    const usage = field(field(inner, 'message'), 'usage');
    if (usage !== undefined) readAnthropicUsage(usage, acc);
  } else if (type === 'message_delta') {
    const usage = field(inner, 'usage');
    if (usage !== undefined) readAnthropicUsage(usage, acc);
  }
}

/** Converse `TokenUsage` (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html). */
function readConverseUsage(u: Record<string, unknown>, acc: Usage): void {
  acc.inputTokens = num(u['inputTokens']) + num(u['cacheReadInputTokens']) + num(u['cacheWriteInputTokens']);
  acc.outputTokens = num(u['outputTokens']);
}

/** Anthropic Messages `usage`; `message_delta` repeats only the cumulative output. */
function readAnthropicUsage(u: Record<string, unknown>, acc: Usage): void {
  const input = num(u['input_tokens']) + num(u['cache_creation_input_tokens']) + num(u['cache_read_input_tokens']);
  if (input > 0) acc.inputTokens = input;
  if (u['output_tokens'] !== undefined) acc.outputTokens = num(u['output_tokens']);
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** `obj[key]` when both are objects, else undefined. */
function field(obj: unknown, key: string): Record<string, unknown> | undefined {
  return asObject(asObject(obj)?.[key]);
}
