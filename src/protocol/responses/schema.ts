import { z } from 'zod';
import { checkRequestBody, unlessDiscriminator } from '../openai-schema.js';

/**
 * The OpenAI Responses request (`POST /v1/responses`) as a zod schema, with the rules of the chat
 * schema (protocol/openai-schema.ts): strict about the type of every field the gateway reads,
 * loose about fields it does not know, `null` = absent, and a malformed body a 400 naming the
 * field in OpenAI's spelling (`input[2].content[0].image_url`).
 *
 * Item and tool types the chat hub cannot carry (built-in tools, `computer_call`, `item_reference`,
 * …) pass the schema as objects with a string `type`: an `openai` instance forwards the body to
 * OpenAI's own Responses API, where they are valid. The hub refuses them (to-chat.ts).
 * https://platform.openai.com/docs/api-reference/responses/create
 */

// ---------------------------------------------------------------------------------------------
// Content parts

const inputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const inputImage = z
  .looseObject({ type: z.literal('input_image'), image_url: z.string().nullish(), file_id: z.string().nullish(), detail: z.string().nullish() })
  .refine((p) => typeof p.image_url === 'string' || typeof p.file_id === 'string', { path: ['image_url'], message: 'is required (a URL or a data URL) unless file_id is set' });
const inputFile = z.looseObject({
  type: z.literal('input_file'),
  file_id: z.string().nullish(),
  file_data: z.string().nullish(),
  file_url: z.string().nullish(),
  filename: z.string().nullish(),
});
const outputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

const contentPart = z.discriminatedUnion('type', [inputText, inputImage, inputFile, outputText, refusal], {
  error: unlessDiscriminator('must be a content part object with a "type" of input_text, input_image, input_file, output_text or refusal'),
});
const content = z.union([z.string(), z.array(contentPart)], { error: 'must be a string or an array of content parts' });

// ---------------------------------------------------------------------------------------------
// Input items

const message = z.looseObject({
  type: z.literal('message'),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content,
  id: z.string().nullish(),
  status: z.string().nullish(),
});
const functionCall = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
  id: z.string().nullish(),
  status: z.string().nullish(),
});
const functionCallOutput = z.looseObject({
  type: z.literal('function_call_output'),
  call_id: z.string(),
  output: z.union([z.string(), z.array(contentPart)], { error: 'must be a string or an array of content parts' }),
  id: z.string().nullish(),
  status: z.string().nullish(),
});
const reasoning = z.looseObject({ type: z.literal('reasoning'), id: z.string().nullish(), summary: z.array(z.unknown()).nullish() });
const itemReference = z.looseObject({ type: z.literal('item_reference'), id: z.string() });

/** Item types the schema reads; any other `type` is an item for OpenAI's own API (see above). */
const KNOWN_ITEM_TYPES: ReadonlySet<string> = new Set(['message', 'function_call', 'function_call_output', 'reasoning', 'item_reference']);
// Reached only for a `type` that is not a string: any string type passes (as `otherItem`).
const knownItem = z.discriminatedUnion('type', [message, functionCall, functionCallOutput, reasoning, itemReference], {
  error: (issue) => (issue.code === 'invalid_union' && issue.discriminator !== undefined ? 'must be a string: an item type such as "message" or "function_call"' : undefined),
});
// Aborting, so that a known type's own problem (`input[0].role`) is the one reported: zod's union
// returns the only branch that did not abort.
const otherItem = z.looseObject({ type: z.string().refine((t) => !KNOWN_ITEM_TYPES.has(t), { abort: true }) });

/**
 * OpenAI's shorthands without `type`: `{role, content}` is a message (EasyInputMessage), `{id}`
 * an item reference. The defaulted copy is only validated: the client's own object is kept.
 */
function withDefaultType(item: unknown): unknown {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return item;
  const { type } = item as { type?: unknown };
  if (type !== undefined && type !== null) return item;
  return { ...item, type: 'role' in item ? 'message' : 'item_reference' };
}

const item = z.preprocess(withDefaultType, z.union([knownItem, otherItem], { error: 'must be an input item object (a message, function_call, function_call_output, …)' }));

// ---------------------------------------------------------------------------------------------
// Tools, tool choice, text format

const functionTool = z.looseObject({
  // Fails only for a `type` that is not a string: any other string passes (as `otherTool`).
  type: z.literal('function', { error: 'must be a string: "function" or a built-in tool type' }),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }).nullish(),
  strict: z.boolean().nullish(),
});
/** A built-in tool (`web_search`, `file_search`, `mcp`, …) or a custom one: OpenAI's to run. */
const otherTool = z.looseObject({ type: z.string().refine((t) => t !== 'function', { abort: true }) });
const tool = z.union([functionTool, otherTool], { error: 'must be a tool object with a "type"' });

const toolChoice = z.union(
  [
    z.enum(['none', 'auto', 'required']),
    z.looseObject({ type: z.literal('function'), name: z.string() }),
    z.looseObject({ type: z.literal('allowed_tools'), mode: z.enum(['auto', 'required']), tools: z.array(z.looseObject({ type: z.string() })) }),
    z.looseObject({ type: z.string().refine((t) => t !== 'function' && t !== 'allowed_tools', { abort: true }) }),
  ],
  { error: 'must be "none", "auto", "required", or an object with a "type" (function, allowed_tools, or a built-in tool)' },
);

const jsonSchemaFormat = z.looseObject({
  type: z.literal('json_schema'),
  name: z.string(),
  schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }),
  description: z.string().nullish(),
  strict: z.boolean().nullish(),
});
const textFormat = z.discriminatedUnion('type', [z.looseObject({ type: z.literal('text') }), z.looseObject({ type: z.literal('json_object') }), jsonSchemaFormat], {
  error: unlessDiscriminator('must be an object with a "type" of text, json_object or json_schema'),
});

// OpenAI's limits on metadata (16 pairs, keys of 64 and values of 512 characters); the gateway stores it.
const metadata = z
  .record(z.string().max(64), z.string().max(512, { error: 'must be a string of at most 512 characters' }), { error: 'must be an object of strings' })
  .refine((m) => Object.keys(m).length <= 16, { message: 'must have at most 16 keys' });

const integer = z.int();

/** The Responses create request. */
export const responsesRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(item)], { error: 'must be a string or an array of input items' }).nullish(),
  instructions: z.string().nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  text: z.looseObject({ format: textFormat.nullish(), verbosity: z.string().nullish() }).nullish(),
  max_output_tokens: integer.min(1).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  reasoning: z.looseObject({ effort: z.string().nullish(), summary: z.string().nullish(), generate_summary: z.string().nullish() }).nullish(),
  metadata: metadata.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_obfuscation: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
  include: z.array(z.string()).nullish(),
  service_tier: z.string().nullish(),
  background: z.boolean().nullish(),
  conversation: z.union([z.string(), z.looseObject({ id: z.string() })], { error: 'must be a conversation id or an object with an "id"' }).nullish(),
  max_tool_calls: integer.min(1).nullish(),
  top_logprobs: integer.min(0).max(20).nullish(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type InputItem = z.infer<typeof item>;
export type InputContentPart = z.infer<typeof contentPart>;
export type ResponsesTool = z.infer<typeof tool>;
export type ResponsesFunctionTool = z.infer<typeof functionTool>;
export type JsonSchemaFormat = z.infer<typeof jsonSchemaFormat>;

/**
 * Checks a parsed `POST /v1/responses` body; throws GatewayError('invalid_request', `{ param }`)
 * for the first field that does not fit, e.g. `"input[0].content[1].image_url" is required (a
 * URL or a data URL) unless file_id is set` with param `input[0].content[1].image_url`.
 *
 * @example
 * const body = checkResponsesRequest(JSON.parse(text)); // typed ResponsesRequest, unknown fields kept
 */
export function checkResponsesRequest(body: unknown): ResponsesRequest {
  return checkRequestBody(responsesRequestSchema, body);
}
