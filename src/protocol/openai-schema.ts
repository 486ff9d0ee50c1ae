import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';

/**
 * The OpenAI requests protocol mode accepts, as zod schemas: every client body is checked
 * against them before any translator sees it, so translators only meet the shapes below, and a
 * malformed body is a 400 naming the field (`param`, in OpenAI's spelling: `messages[0].content`)
 * instead of a crash.
 *
 * Strict about the type of every field the gateway reads or translates, as OpenAI's API
 * reference and SDK (`ChatCompletionCreateParams`, `EmbeddingCreateParams`) define them; loose
 * about fields it does not know (OpenAI adds some every few months; translators report the ones
 * they drop). `null` is accepted wherever a field is optional, as the translators treat it as
 * absent and many clients send it.
 * https://platform.openai.com/docs/api-reference/chat/create
 * https://platform.openai.com/docs/api-reference/embeddings/create
 */

/**
 * A union's message for a value that is not one of its objects; when the value is an object whose
 * `type` is unknown, the parse-wide map names the types instead (at `….type`).
 */
export function unlessDiscriminator(message: string): (issue: z.core.$ZodRawIssue) => string | undefined {
  return (issue) => (issue.code === 'invalid_union' && issue.discriminator !== undefined ? undefined : message);
}

// ---------------------------------------------------------------------------------------------
// Content parts

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.looseObject({
  type: z.literal('image_url'),
  // `detail` is 'auto' | 'low' | 'high' today; a string, so a newer value is the provider's to judge.
  image_url: z.looseObject({ url: z.string(), detail: z.string().nullish() }),
});
const refusalPart = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });
const audioPart = z.looseObject({ type: z.literal('input_audio'), input_audio: z.looseObject({ data: z.string(), format: z.string() }) });
const filePart = z.looseObject({
  type: z.literal('file'),
  file: z.looseObject({ file_data: z.string().optional(), file_id: z.string().optional(), filename: z.string().optional() }),
});

/**
 * One part of a message's content: text (every role), images, audio and files (user), refusals
 * (assistant). Any other `type` is refused here, as OpenAI refuses it; which role may carry
 * which part is left to the translators (and to OpenAI, when the body passes through).
 */
const contentPart = z.discriminatedUnion('type', [textPart, imagePart, refusalPart, audioPart, filePart], {
  error: unlessDiscriminator('must be a content part object with a "type" of text, image_url, input_audio, file or refusal'),
});

const content = z.union([z.string(), z.array(contentPart)], { error: 'must be a string, an array of content parts, or null' }).nullish();

// ---------------------------------------------------------------------------------------------
// Tools and tool calls

const functionCall = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});
const customCall = z.looseObject({ id: z.string(), type: z.literal('custom'), custom: z.looseObject({ name: z.string(), input: z.string() }) });
const toolCall = z.discriminatedUnion('type', [functionCall, customCall], { error: unlessDiscriminator('must be a tool call object with a "type" of function or custom') });

const functionTool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string(),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }).nullish(),
    strict: z.boolean().nullish(),
  }),
});
const customTool = z.looseObject({ type: z.literal('custom'), custom: z.looseObject({ name: z.string(), description: z.string().nullish() }) });
const tool = z.discriminatedUnion('type', [functionTool, customTool], { error: unlessDiscriminator('must be a tool object with a "type" of function or custom') });

const toolChoice = z.union(
  [
    z.enum(['none', 'auto', 'required']),
    z.discriminatedUnion('type', [
      z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
      z.looseObject({ type: z.literal('custom'), custom: z.looseObject({ name: z.string() }) }),
      z.looseObject({ type: z.literal('allowed_tools'), allowed_tools: z.looseObject({ mode: z.enum(['auto', 'required']), tools: z.array(z.looseObject({})) }) }),
    ]),
  ],
  { error: 'must be "none", "auto", "required", or an object with a "type" of function, custom or allowed_tools' },
);

// ---------------------------------------------------------------------------------------------
// Messages and the request

/** `function` is OpenAI's deprecated role; it is accepted here and refused by translators that lack it. */
const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;

const message = z.looseObject({
  role: z.enum(ROLES),
  content,
  name: z.string().nullish(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().nullish(),
});

const responseFormat = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('text') }),
    z.looseObject({ type: z.literal('json_object') }),
    z.looseObject({
      type: z.literal('json_schema'),
      json_schema: z.looseObject({
        name: z.string(),
        description: z.string().nullish(),
        schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }).nullish(),
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: unlessDiscriminator('must be an object with a "type" of text, json_object or json_schema') },
);

const integer = z.int();
const stringList = z.union([z.string(), z.array(z.string())], { error: 'must be a string or an array of strings' });

/** The chat completions request (`POST /v1/chat/completions`). */
export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(message, { error: 'must be a non-empty array' }).min(1, { error: 'must be a non-empty array' }),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: integer.nullish(),
  max_completion_tokens: integer.nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  // OpenAI's reference: 1 to 128. Bounded here too, as translators answer a blocked prompt once per choice.
  n: integer.min(1).max(128).nullish(),
  stop: stringList.nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  seed: integer.nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: integer.nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  modalities: z.array(z.string()).nullish(),
  reasoning_effort: z.string().nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: responseFormat.nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
});

/**
 * OpenAI embeddings (https://platform.openai.com/docs/api-reference/embeddings/create). `input`
 * is text, texts, or pre-tokenised input (token ids, or lists of them).
 */
export type EmbeddingsInput = string | string[] | number[] | number[][];

/** True for OpenAI's input shapes: a string, strings, token ids, or lists of token ids; never empty. */
export function isEmbeddingsInput(input: unknown): input is EmbeddingsInput {
  if (typeof input === 'string') return true;
  if (!Array.isArray(input) || input.length === 0) return false;
  if (input.every((i) => typeof i === 'string')) return true;
  if (input.every((i) => Number.isInteger(i))) return true;
  return input.every((i) => Array.isArray(i) && i.length > 0 && i.every((t) => Number.isInteger(t)));
}

/** The embeddings request (`POST /v1/embeddings`). */
export const embeddingsRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.custom<EmbeddingsInput>(isEmbeddingsInput, {
    error: 'must be a string, a non-empty array of strings, or token ids (an array of integers, or of arrays of integers)',
  }),
  encoding_format: z.enum(['float', 'base64'], { error: 'must be "float" or "base64"' }).nullish(),
  dimensions: z.int({ error: 'must be a positive integer' }).positive({ error: 'must be a positive integer' }).nullish(),
  user: z.string().nullish(),
});

export type ContentPart = z.infer<typeof contentPart>;
export type ToolCall = z.infer<typeof functionCall>;
export type CustomToolCall = z.infer<typeof customCall>;
export type Tool = z.infer<typeof functionTool>;
export type CustomTool = z.infer<typeof customTool>;
export type ToolChoice = z.infer<typeof toolChoice>;
export type ChatMessage = z.infer<typeof message>;
export type ResponseFormat = z.infer<typeof responseFormat>;
export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

// ---------------------------------------------------------------------------------------------
// Validation: the first problem as a 400 naming its field.

/**
 * Checks a parsed chat request body; throws GatewayError('invalid_request', `{ param }`) for the
 * first field that does not fit, e.g. `"messages[0].content" must be a string, an array of
 * content parts, or null` with param `messages[0].content`.
 *
 * @example
 * const body = checkChatRequest(JSON.parse(text)); // typed ChatRequest, unknown fields kept
 */
export function checkChatRequest(body: unknown): ChatRequest {
  return checkRequestBody(chatRequestSchema, body);
}

/** As checkChatRequest, for an embeddings request. */
export function checkEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  return checkRequestBody(embeddingsRequestSchema, body);
}

/**
 * Checks `body` against any request schema with the rules above (the client's own object back,
 * or a 400 naming the first bad field); other client protocols (protocol/responses/) share it.
 */
export function checkRequestBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body, { error: problemOf });
  // The body itself, not zod's copy: the schemas transform nothing, and the copy would reorder
  // the client's fields (known ones first), which translators report in that order.
  if (result.success) return body as T;
  const { issue, path } = mostSpecific(result.error.issues[0]!, []);
  const param = paramOf(path);
  return fail(`"${param}" ${issue.message}`, param);
}

function fail(message: string, param: string): never {
  throw new GatewayError('invalid_request', message, { param });
}

type Issue = z.core.$ZodIssue;
type Path = ReadonlyArray<PropertyKey>;

/**
 * The most specific problem behind an issue: a union none of whose branches fit reports the
 * branch that got furthest into the value (`content: [{type: 'image_url', image_url: null}]`
 * fails the array branch at `[0].image_url`, which says more than "not a string or an array").
 */
export function mostSpecific(issue: Issue, base: Path): { issue: Issue; path: Path } {
  const path = [...base, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { issue, path };
  let best: { issue: Issue; path: Path } | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first === undefined) continue;
    const candidate = mostSpecific(first, path);
    if (candidate.path.length > path.length && (best === undefined || candidate.path.length > best.path.length)) best = candidate;
  }
  return best ?? { issue, path };
}

/** A path in OpenAI's `param` spelling: `messages[1].tool_calls[0].type`. */
export function paramOf(path: Path): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key).slice(0, 64))}]`;
  }
  return out.slice(0, 256);
}

function kindOf(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a fraction';
  return `a ${typeof v}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  record: 'an object',
};

/**
 * The problem, worded for the client, after the field's name (`"n" must be at most 128`). The
 * parse-wide error map: the schema's own messages above take precedence over it.
 */
export function problemOf(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return issue.input === undefined ? `is required (${expected})` : `must be ${expected}, not ${kindOf(issue.input)}`;
    }
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'too_small':
      if (issue.origin === 'array') return `must have at least ${String(issue.minimum)} item${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return 'must not be empty';
      return `must be ${issue.inclusive === false ? 'greater than' : 'at least'} ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'array') return `must have at most ${String(issue.maximum)} items`;
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}`;
    case 'invalid_union':
      if (issue.discriminator !== undefined) {
        // zod names the discriminator values it knows in `options`, beside the typed fields.
        const options = (issue as { options?: unknown }).options;
        return Array.isArray(options) ? `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}` : 'is not a known type';
      }
      return 'is not valid';
    default:
      return 'is not valid';
  }
}
