import { z } from 'zod';
import { GatewayError } from '../../errors/gateway-error.js';
import { mostSpecific, problemOf, unlessDiscriminator } from '../openai-schema.js';

/**
 * The Anthropic Messages requests the gateway accepts from clients (`POST …/v1/messages` and
 * `…/v1/messages/count_tokens`), as zod schemas: every client body is checked here before a
 * converter or a Claude backend sees it, so a malformed body is a 400 naming the field in
 * Anthropic's dotted spelling (`messages.0.content.1.source.type`) instead of a crash.
 *
 * The schema accepts what the Messages API accepts (as @anthropic-ai/sdk's `MessageCreateParams`
 * types it), server tools and documents included, because a Claude backend takes the body
 * nearly as it is; what the chat hub cannot carry is refused later, by to-chat.ts. Strict about
 * the type of every field the gateway reads; loose about fields it does not know (Anthropic adds
 * some every few months; the converter reports the ones it drops). `null` is accepted where a
 * field is optional, as clients send it.
 * https://docs.anthropic.com/en/api/messages
 */

const cacheControl = z.looseObject({ type: z.literal('ephemeral'), ttl: z.string().nullish() }).nullish();

const textBlock = z.looseObject({ type: z.literal('text'), text: z.string(), cache_control: cacheControl });

const imageSource = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
    z.looseObject({ type: z.literal('url'), url: z.string() }),
    z.looseObject({ type: z.literal('file'), file_id: z.string() }),
  ],
  { error: unlessDiscriminator('must be an object with a "type" of base64, url or file') },
);
const imageBlock = z.looseObject({ type: z.literal('image'), source: imageSource, cache_control: cacheControl });

/** PDFs (base64, url, file), plain text, or custom content; the converter decides what the hub carries. */
const documentBlock = z.looseObject({
  type: z.literal('document'),
  source: z.looseObject({ type: z.string() }),
  title: z.string().nullish(),
  context: z.string().nullish(),
  cache_control: cacheControl,
});

const toolUseBlock = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string(),
  name: z.string(),
  input: z.record(z.string(), z.unknown(), { error: 'must be an object' }),
  cache_control: cacheControl,
});

/** What a tool result may hold; `search_result`, `tool_reference` and others are refused by the converter. */
const toolResultContentBlock = z.looseObject({ type: z.string() });
const toolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string(),
  content: z.union([z.string(), z.array(toolResultContentBlock)], { error: 'must be a string or an array of content blocks' }).nullish(),
  is_error: z.boolean().nullish(),
  cache_control: cacheControl,
});

const thinkingBlock = z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().nullish() });
const redactedThinkingBlock = z.looseObject({ type: z.literal('redacted_thinking'), data: z.string() });

const BLOCK_TYPES = 'text, image, document, tool_use, tool_result, thinking or redacted_thinking';
const contentBlock = z.discriminatedUnion('type', [textBlock, imageBlock, documentBlock, toolUseBlock, toolResultBlock, thinkingBlock, redactedThinkingBlock], {
  error: unlessDiscriminator(`must be a content block object with a "type" of ${BLOCK_TYPES}`),
});

const messageContent = z.union([z.string(), z.array(contentBlock)], { error: 'must be a string or an array of content blocks' });

/**
 * A turn: user and assistant, and `system` turns in the middle of a conversation (the SDK's
 * `SystemMessageParam`; Claude Code sends them with its betas), whose content is text only.
 */
const message = z.discriminatedUnion(
  'role',
  [
    z.looseObject({ role: z.literal('user'), content: messageContent }),
    z.looseObject({ role: z.literal('assistant'), content: messageContent }),
    z.looseObject({ role: z.literal('system'), content: z.union([z.string(), z.array(textBlock)], { error: 'must be a string or an array of text blocks' }) }),
  ],
  { error: unlessDiscriminator('must be a message object with a "role" of user, assistant or system') },
);

/** A client tool (`type` absent, null or "custom"): what the model calls and the client runs. */
const customTool = z.looseObject({
  type: z.literal('custom').nullish(),
  name: z.string().min(1),
  description: z.string().nullish(),
  input_schema: z.looseObject({ type: z.literal('object') }, { error: 'must be a JSON Schema object with "type": "object"' }),
  strict: z.boolean().nullish(),
  cache_control: cacheControl,
});
/** A versioned Anthropic tool (`web_search_20250305`, `bash_20250124`, …): Claude backends only. */
const versionedTool = z.looseObject({ type: z.string().refine((t) => t !== 'custom'), name: z.string() });
const tool = z.union([customTool, versionedTool], { error: 'must be a tool object' });

const disableParallel = z.boolean().nullish();
const toolChoice = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('auto'), disable_parallel_tool_use: disableParallel }),
    z.looseObject({ type: z.literal('any'), disable_parallel_tool_use: disableParallel }),
    z.looseObject({ type: z.literal('tool'), name: z.string(), disable_parallel_tool_use: disableParallel }),
    z.looseObject({ type: z.literal('none') }),
  ],
  { error: unlessDiscriminator('must be an object with a "type" of auto, any, tool or none') },
);

const thinking = z.discriminatedUnion(
  'type',
  [
    // Anthropic: at least 1,024 and less than max_tokens (the latter is the backend's to judge).
    z.looseObject({ type: z.literal('enabled'), budget_tokens: z.int().min(1024), display: z.string().nullish() }),
    z.looseObject({ type: z.literal('disabled') }),
    z.looseObject({ type: z.literal('adaptive'), display: z.string().nullish() }),
    z.looseObject({ type: z.literal('between_tools') }),
  ],
  { error: unlessDiscriminator('must be an object with a "type" of enabled, disabled, adaptive or between_tools') },
);

const jsonOutputFormat = z.looseObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }) });

const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;

/** Everything count_tokens shares with create. */
const shared = {
  model: z.string().min(1),
  messages: z.array(message, { error: 'must be a non-empty array' }).min(1, { error: 'must be a non-empty array' }),
  system: z.union([z.string(), z.array(textBlock)], { error: 'must be a string or an array of text blocks' }).nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  thinking: thinking.nullish(),
  output_config: z.looseObject({ effort: z.enum(EFFORTS).nullish(), format: jsonOutputFormat.nullish() }).nullish(),
  /** The structured-outputs beta's spelling of `output_config.format`. */
  output_format: jsonOutputFormat.nullish(),
  cache_control: cacheControl,
};

/** `POST /v1/messages`. */
export const messagesRequestSchema = z.looseObject({
  ...shared,
  max_tokens: z.int().min(1),
  stream: z.boolean().nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  temperature: z.number().min(0).max(1).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.int().min(0).nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
  service_tier: z.string().nullish(),
});

/** `POST /v1/messages/count_tokens`: the create request without `max_tokens`, `stream` and the sampling fields. */
export const countTokensRequestSchema = z.looseObject(shared);

export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
export type MessageParam = z.infer<typeof message>;
export type ContentBlockParam = z.infer<typeof contentBlock>;
export type TextBlockParam = z.infer<typeof textBlock>;
export type ToolParam = z.infer<typeof tool>;
export type CustomToolParam = z.infer<typeof customTool>;
export type ToolChoiceParam = z.infer<typeof toolChoice>;
export type ThinkingParam = z.infer<typeof thinking>;

/**
 * Checks a parsed Messages request body; throws GatewayError('invalid_request', { param }) for
 * the first field that does not fit, e.g. `messages.0.content: must be a string or an array of
 * content blocks` with param `messages.0.content`.
 *
 * @example
 * const req = checkMessagesRequest(JSON.parse(text)); // typed MessagesRequest, unknown fields kept
 * const { chat, dropped } = messagesToChat(req);
 */
export function checkMessagesRequest(body: unknown): MessagesRequest {
  return check(messagesRequestSchema, body);
}

/** As checkMessagesRequest, for `POST /v1/messages/count_tokens`. */
export function checkCountTokensRequest(body: unknown): CountTokensRequest {
  return check(countTokensRequestSchema, body);
}

function check<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body, { error: problemOf });
  // The body itself, not zod's copy, which would reorder the client's fields.
  if (result.success) return body as T;
  const { issue, path } = mostSpecific(result.error.issues[0]!, []);
  const param = dottedParam(path);
  throw new GatewayError('invalid_request', `${param}: ${issue.message}`, { param });
}

/** A path in Anthropic's spelling: `messages.1.content.0.type` (its errors name fields so). */
export function dottedParam(path: ReadonlyArray<PropertyKey>): string {
  const out = path.map((key) => (typeof key === 'number' || (typeof key === 'string' && /^[A-Za-z0-9_]+$/.test(key)) ? String(key) : JSON.stringify(String(key).slice(0, 64))));
  return (out.length === 0 ? 'body' : out.join('.')).slice(0, 256);
}
