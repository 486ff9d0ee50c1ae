import { GatewayError } from '../../errors/gateway-error.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  ChatRequest,
  ContentPart,
  CustomTool,
  CustomToolCall,
  FinishReason,
  Tool,
  ToolCall,
  ToolChoice,
} from '../../protocol/openai.js';
import { chatUsage, choiceChunk, usageChunk, type ChunkDelta, type TokenCounts } from '../../protocol/chunks.js';
import { parseJsonWithin, parseProviderJson } from '../../protocol/json.js';
import { SseDecoder } from '../../protocol/sse.js';
import {
  refusal,
  StreamIncomplete,
  type ChatTranslator,
  type ChatTranslatorFactory,
  type NativeRequest,
  type TranslatorOptions,
} from '../../protocol/translator.js';

/**
 * OpenAI Chat Completions ↔ Anthropic Messages.
 * Request and response: https://docs.anthropic.com/en/api/messages
 * Stream events:        https://docs.anthropic.com/en/docs/build-with-claude/streaming
 *
 * Three layers, so Claude on Bedrock InvokeModel and on Vertex rawPredict reuse the first two
 * and only describe their own envelope (`AnthropicHost`):
 *  1. `toAnthropicMessages(body)`: OpenAI request → Messages parameters, without `model`,
 *     `stream` or `anthropic_version` (each host puts those somewhere else).
 *  2. `AnthropicEventTranslator`: the stream state machine over already-parsed Anthropic events
 *     (SSE `data:` on api.anthropic.com and Vertex, event-stream `chunk` bytes on Bedrock).
 *  3. `AnthropicMessagesTranslator`: the ChatTranslator; `anthropicChat` is it for
 *     api.anthropic.com (`POST /v1/messages`, SSE framing).
 *
 * Request parameters (null counts as absent everywhere):
 * | OpenAI                                   | Rule                                                              |
 * |------------------------------------------|-------------------------------------------------------------------|
 * | model                                    | replaced by the resolved model (`options.model`)                  |
 * | messages: system, developer              | text joined with "\n\n", in order, into top-level `system`        |
 * | messages: user, assistant                | content blocks; consecutive same-role messages merged (alternation) |
 * | messages: tool                           | user message of `tool_result` blocks (consecutive ones merged)    |
 * | messages[].content "" / empty text parts | omitted (Anthropic rejects empty text blocks); a message left empty is omitted |
 * | messages[].tool_calls                    | `tool_use` blocks; arguments must be a JSON object ("" = {}), else refused |
 * | image_url data: / http(s):               | image `base64` / `url` source; other schemes refused              |
 * | image_url.detail, messages[].name        | dropped (no equivalent)                                           |
 * | other content parts (input_audio, file)  | refused                                                           |
 * | max_completion_tokens ?? max_tokens      | `max_tokens` (required there; 4096 when neither is set)           |
 * | temperature                              | `temperature`; > 1 refused (Anthropic's range is 0..1, OpenAI's 0..2) |
 * | top_p                                    | `top_p`                                                           |
 * | stop                                     | `stop_sequences` (always an array)                                |
 * | user ?? safety_identifier                | `metadata.user_id`                                                |
 * | tools                                    | `{name, description, input_schema, strict}` (schema defaults to an empty object) |
 * | tools / tool_calls of type custom        | refused: Anthropic tools take JSON input                          |
 * | tool_choice auto/required/none/function  | `{type:'auto'}` / `{type:'any'}` / `{type:'none'}` / `{type:'tool', name}` |
 * | parallel_tool_calls: false               | `tool_choice.disable_parallel_tool_use: true` (auto when no tool_choice; not with none) |
 * | stream, stream_options.include_usage     | `stream: true`; include_usage is read from TranslatorOptions      |
 * | response_format text                     | nothing                                                           |
 * | response_format json_schema              | `output_config.format {type:'json_schema', schema}` (structured outputs; models without it answer 400) |
 * | response_format json_object              | refused: Anthropic has no schema-less JSON mode                   |
 * | n > 1                                    | refused: one choice per request                                   |
 * | logprobs: true, top_logprobs > 0         | refused: Anthropic returns no log probabilities                  |
 * | functions, function_call (deprecated)    | refused: ignoring them would silently disable function calling    |
 * | audio, modalities with "audio"           | refused: no audio output                                          |
 * | web_search_options                       | refused: ignoring it would answer without searching               |
 * | presence_penalty, frequency_penalty ≠ 0  | dropped                                                           |
 * | seed, service_tier, metadata, reasoning_effort, prediction, verbosity, prompt_cache_key | dropped |
 * | logit_bias (non-empty), store: true      | dropped                                                           |
 * | any other parameter                      | dropped (reported, never forwarded)                               |
 *
 * Responses: text blocks → `content` (null when there is none); `tool_use` → `tool_calls`;
 * thinking and server-tool blocks are ignored (the gateway never asks for them). Stop reasons:
 * end_turn/stop_sequence → stop, max_tokens/model_context_window_exceeded → length,
 * tool_use → tool_calls, refusal → content_filter; any other (pause_turn) → no finish_reason,
 * never a guessed one. Usage: prompt = input + cache writes + cache reads, completion = output;
 * absent usage stays absent.
 *
 * Streams: a mid-stream `error` event, malformed event JSON, or an end without `message_stop`
 * throw StreamIncomplete (the client gets an error event; the HTTP status is long gone, so a
 * GatewayError code would mean nothing). The include_usage chunk is sent at `message_stop` only.
 */

// ---------------------------------------------------------------------------------------------
// Anthropic wire types (the subset the gateway writes or reads).

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}
export interface AnthropicImageBlock {
  type: 'image';
  source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
}
export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}
export interface AnthropicToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string | AnthropicTextBlock[];
}
export type AnthropicContentBlock = AnthropicTextBlock | AnthropicImageBlock | AnthropicToolUseBlock | AnthropicToolResultBlock;

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  /** A string is Anthropic's shorthand for one text block. */
  content: string | AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  strict?: true;
}

export type AnthropicToolChoice =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: true }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: true }
  | { type: 'none' };

/** The Messages parameters every host shares: no `model`, `stream` or `anthropic_version`. */
export interface AnthropicMessagesParams {
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  metadata?: { user_id: string };
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  output_config?: { format: { type: 'json_schema'; schema: Record<string, unknown> } };
}

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** A non-streaming answer (`type: "message"`). */
export interface AnthropicResponse {
  type: 'message';
  content: Array<{ type: string; text?: string; id?: string; name?: string; input?: unknown }>;
  stop_reason: string | null;
  usage?: AnthropicUsage;
}

/** One streamed event, as parsed from its JSON; `type` is authoritative (the SSE name repeats it). */
export type AnthropicStreamEvent =
  | { type: 'message_start'; message: { usage?: AnthropicUsage } }
  | { type: 'content_block_start'; index: number; content_block: { type: string; text?: string; id?: string; name?: string } }
  | { type: 'content_block_delta'; index: number; delta: { type: string; text?: string; partial_json?: string } }
  | { type: 'content_block_stop'; index: number }
  | { type: 'message_delta'; delta: { stop_reason?: string | null }; usage?: AnthropicUsage }
  | { type: 'message_stop' }
  | { type: 'ping' }
  | { type: 'error'; error: { type?: string; message?: string } };

// ---------------------------------------------------------------------------------------------
// Request: OpenAI → Messages parameters.

/** Anthropic requires `max_tokens`; OpenAI lets the model decide. */
export const DEFAULT_MAX_TOKENS = 4096;

type ParameterRule =
  /** Read by a mapping function below (or by TranslatorOptions). */
  | { kind: 'mapped' }
  /** Refused when `refuse` returns a reason. */
  | { kind: 'refused'; refuse(value: unknown): string | undefined }
  /** Reported in NativeRequest.dropped when `isSet`. */
  | { kind: 'dropped'; isSet(value: unknown): boolean };

const mapped: ParameterRule = { kind: 'mapped' };
const present = (v: unknown): boolean => v !== undefined && v !== null;
const dropped = (isSet: (v: unknown) => boolean = present): ParameterRule => ({ kind: 'dropped', isSet });
const refused = (refuse: (v: unknown) => string | undefined): ParameterRule => ({ kind: 'refused', refuse });
const nonZero = (v: unknown): boolean => present(v) && v !== 0;

/** The top-level parameter rules (the table above); anything not named here is dropped. */
const PARAMETER_RULES: Readonly<Record<string, ParameterRule>> = {
  model: mapped,
  messages: mapped,
  stream: mapped,
  stream_options: mapped,
  max_tokens: mapped,
  max_completion_tokens: mapped,
  temperature: mapped,
  top_p: mapped,
  stop: mapped,
  user: mapped,
  safety_identifier: mapped,
  tools: mapped,
  tool_choice: mapped,
  parallel_tool_calls: mapped,
  response_format: mapped,
  n: refused((v) => (present(v) && v !== 1 ? 'n: Anthropic returns one choice per request; n must be 1' : undefined)),
  logprobs: refused((v) => (v === true ? 'logprobs: Anthropic returns no log probabilities' : undefined)),
  top_logprobs: refused((v) => (nonZero(v) ? 'top_logprobs: Anthropic returns no log probabilities' : undefined)),
  functions: refused((v) => (present(v) ? 'functions is deprecated and not translated: use tools' : undefined)),
  function_call: refused((v) => (present(v) ? 'function_call is deprecated and not translated: use tool_choice' : undefined)),
  audio: refused((v) => (present(v) ? 'audio: Anthropic models produce no audio output' : undefined)),
  modalities: refused((v) =>
    Array.isArray(v) && v.includes('audio') ? 'modalities: Anthropic models produce no audio output' : undefined,
  ),
  web_search_options: refused((v) =>
    present(v) ? 'web_search_options: web search is not available through this translation' : undefined,
  ),
  presence_penalty: dropped(nonZero),
  frequency_penalty: dropped(nonZero),
  logit_bias: dropped((v) => typeof v === 'object' && v !== null && Object.keys(v).length > 0),
  store: dropped((v) => v === true),
  seed: dropped(),
  service_tier: dropped(),
  metadata: dropped(),
  reasoning_effort: dropped(),
  prediction: dropped(),
  verbosity: dropped(),
  prompt_cache_key: dropped(),
};

/** A refusal naming the field its message starts with (protocol/translator.ts). */
const invalid = refusal;

/**
 * Translates an OpenAI chat request into the Messages parameters every Claude host shares.
 * Throws GatewayError('invalid_request') for what cannot be honoured.
 *
 * @example
 * const { params, dropped } = toAnthropicMessages(body);
 * const bedrockBody = { anthropic_version: 'bedrock-2023-05-31', ...params };
 */
export function toAnthropicMessages(body: ChatRequest): { params: AnthropicMessagesParams; dropped: string[] } {
  const droppedParams = checkParameters(body);
  const { system, messages } = mapMessages(body.messages, droppedParams);
  const params: AnthropicMessagesParams = { max_tokens: mapMaxTokens(body), messages };
  if (system !== undefined) params.system = system;
  if (present(body.temperature)) params.temperature = mapTemperature(body.temperature!);
  if (present(body.top_p)) params.top_p = body.top_p!;
  const stop = mapStop(body.stop);
  if (stop) params.stop_sequences = stop;
  const userId = body.user ?? (typeof body['safety_identifier'] === 'string' ? body['safety_identifier'] : undefined);
  if (typeof userId === 'string' && userId !== '') params.metadata = { user_id: userId };
  if (body.tools && body.tools.length > 0) params.tools = body.tools.map(mapTool);
  const toolChoice = mapToolChoice(body.tool_choice, body.parallel_tool_calls);
  if (toolChoice) params.tool_choice = toolChoice;
  const format = mapResponseFormat(body.response_format);
  if (format) params.output_config = { format };
  return { params, dropped: droppedParams };
}

/** Applies PARAMETER_RULES: throws for a refused parameter, returns the dropped ones. */
function checkParameters(body: ChatRequest): string[] {
  const out: string[] = [];
  for (const key of Object.keys(body)) {
    const value = body[key];
    const rule = PARAMETER_RULES[key];
    if (rule === undefined) {
      if (present(value)) out.push(key);
      continue;
    }
    switch (rule.kind) {
      case 'mapped':
        break;
      case 'refused': {
        const reason = rule.refuse(value);
        if (reason !== undefined) throw invalid(reason);
        break;
      }
      case 'dropped':
        if (rule.isSet(value)) out.push(key);
        break;
      default:
        rule satisfies never;
    }
  }
  return out;
}

function mapMaxTokens(body: ChatRequest): number {
  return body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_MAX_TOKENS;
}

function mapTemperature(t: number): number {
  if (t > 1) throw invalid(`temperature: Anthropic accepts 0 to 1, got ${t}`);
  return t;
}

function mapStop(stop: ChatRequest['stop']): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  const list = typeof stop === 'string' ? [stop] : stop;
  return list.length > 0 ? list : undefined;
}

function mapTool(tool: Tool | CustomTool, i: number): AnthropicTool {
  if (tool.type !== 'function') throw new GatewayError('invalid_request', `tools[${i}].type: only "function" tools are supported`, { param: `tools[${i}].type` });
  const out: AnthropicTool = {
    name: tool.function.name,
    input_schema: tool.function.parameters ?? { type: 'object', properties: {} },
  };
  if (typeof tool.function.description === 'string') out.description = tool.function.description;
  if (tool.function.strict === true) out.strict = true;
  return out;
}

function mapToolChoice(choice: ToolChoice | undefined | null, parallel: boolean | undefined | null): AnthropicToolChoice | undefined {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true as const } : {};
  if (choice === undefined || choice === null) return parallel === false ? { type: 'auto', ...noParallel } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto', ...noParallel };
  if (choice === 'required') return { type: 'any', ...noParallel };
  if (typeof choice === 'object' && choice.type === 'function' && typeof choice.function?.name === 'string') {
    return { type: 'tool', name: choice.function.name, ...noParallel };
  }
  throw invalid('tool_choice: expected "none", "auto", "required" or {type:"function", function:{name}}');
}

function mapResponseFormat(format: ChatRequest['response_format'] | null): { type: 'json_schema'; schema: Record<string, unknown> } | undefined {
  if (format === undefined || format === null || format.type === 'text') return undefined;
  if (format.type === 'json_schema') {
    const schema = format.json_schema.schema;
    if (schema === undefined || schema === null) throw invalid('response_format.json_schema.schema is required by Anthropic structured outputs');
    return { type: 'json_schema', schema };
  }
  if (format.type === 'json_object') {
    throw invalid('response_format json_object: Anthropic has no schema-less JSON mode; send a json_schema response_format');
  }
  throw invalid(`response_format.type "${(format as { type: string }).type}" is not supported`);
}

// --- messages

function mapMessages(messages: ChatMessage[], droppedParams: string[]): { system: string | undefined; messages: AnthropicMessage[] } {
  if (!Array.isArray(messages)) throw invalid('messages must be an array');
  const system: string[] = [];
  const out: AnthropicMessage[] = [];
  let droppedName = false;
  messages.forEach((msg, i) => {
    if (msg.name !== undefined && msg.name !== null && !droppedName) {
      droppedName = true;
      droppedParams.push('messages[].name');
    }
    switch (msg.role) {
      case 'system':
      case 'developer':
        system.push(systemText(msg, i));
        return;
      case 'user':
        return appendTurn(out, 'user', userBlocks(msg, i, droppedParams));
      case 'assistant':
        return appendTurn(out, 'assistant', assistantBlocks(msg, i));
      case 'tool':
        return appendTurn(out, 'user', [toolResultBlock(msg, i)]);
      default:
        throw invalid(`messages[${i}].role "${String((msg as { role: unknown }).role)}" is not supported`);
    }
  });
  const joined = system.filter((s) => s !== '').join('\n\n');
  return { system: joined === '' ? undefined : joined, messages: out.map(compactTurn) };
}

/**
 * Anthropic requires user and assistant turns to alternate: a turn with the previous turn's
 * role is merged into it. Messages with no blocks are omitted.
 */
function appendTurn(out: AnthropicMessage[], role: 'user' | 'assistant', blocks: AnthropicContentBlock[]): void {
  if (blocks.length === 0) return;
  const last = out[out.length - 1];
  if (last && last.role === role) (last.content as AnthropicContentBlock[]).push(...blocks);
  else out.push({ role, content: blocks });
}

/** One text block is sent as a plain string, Anthropic's shorthand for it. */
function compactTurn(msg: AnthropicMessage): AnthropicMessage {
  const blocks = msg.content as AnthropicContentBlock[];
  const only = blocks[0];
  return blocks.length === 1 && only!.type === 'text' ? { role: msg.role, content: only!.text } : msg;
}

function systemText(msg: ChatMessage, i: number): string {
  if (typeof msg.content === 'string') return msg.content;
  if (msg.content === null || msg.content === undefined) return '';
  return msg.content
    .map((part, j) => {
      if (part.type !== 'text') throw invalid(`messages[${i}].content[${j}]: ${msg.role} messages take text parts only`);
      return part.text;
    })
    .join('\n\n');
}

function textBlocks(text: string): AnthropicTextBlock[] {
  // Anthropic rejects empty text blocks ("text content blocks must be non-empty").
  return text === '' ? [] : [{ type: 'text', text }];
}

function userBlocks(msg: ChatMessage, i: number, droppedParams: string[]): AnthropicContentBlock[] {
  if (typeof msg.content === 'string') return textBlocks(msg.content);
  if (msg.content === null || msg.content === undefined) return [];
  const blocks: AnthropicContentBlock[] = [];
  msg.content.forEach((part: ContentPart, j) => {
    const where = `messages[${i}].content[${j}]`;
    if (part.type === 'text') blocks.push(...textBlocks(part.text));
    else if (part.type === 'image_url') {
      if (part.image_url.detail !== undefined && part.image_url.detail !== 'auto' && !droppedParams.includes('image_url.detail')) {
        droppedParams.push('image_url.detail');
      }
      blocks.push(imageBlock(part.image_url.url, where));
    } else throw invalid(`${where}.type "${(part as { type: string }).type}" is not supported by Anthropic`);
  });
  return blocks;
}

const DATA_URL = /^data:([^;,]+);base64,/;

/** `data:<type>;base64,<data>` → base64 source; http(s) → url source (Anthropic fetches it). */
function imageBlock(url: string, where: string): AnthropicImageBlock {
  if (typeof url !== 'string') throw invalid(`${where}.image_url.url must be a string`);
  if (url.startsWith('data:')) {
    const m = DATA_URL.exec(url);
    if (!m) throw invalid(`${where}.image_url.url: only base64 data: URLs are supported`);
    return { type: 'image', source: { type: 'base64', media_type: m[1]!, data: url.slice(m[0].length) } };
  }
  if (url.startsWith('https://') || url.startsWith('http://')) return { type: 'image', source: { type: 'url', url } };
  throw invalid(`${where}.image_url.url: expected a data: or http(s): URL`);
}

function assistantBlocks(msg: ChatMessage, i: number): AnthropicContentBlock[] {
  const blocks: AnthropicContentBlock[] = [];
  if (typeof msg.content === 'string') blocks.push(...textBlocks(msg.content));
  else if (Array.isArray(msg.content)) {
    msg.content.forEach((part, j) => {
      // OpenAI lets an assistant message carry `refusal` parts; as history they are plain text.
      const p = part as { type: string; text?: string; refusal?: string };
      if (p.type === 'text' && typeof p.text === 'string') blocks.push(...textBlocks(p.text));
      else if (p.type === 'refusal' && typeof p.refusal === 'string') blocks.push(...textBlocks(p.refusal));
      else throw invalid(`messages[${i}].content[${j}].type "${p.type}" is not supported in assistant messages`);
    });
  }
  msg.tool_calls?.forEach((call, j) => blocks.push(toolUseBlock(call, `messages[${i}].tool_calls[${j}]`)));
  return blocks;
}

function toolUseBlock(call: ToolCall | CustomToolCall, where: string): AnthropicToolUseBlock {
  if (call.type !== 'function') throw new GatewayError('invalid_request', `${where}: only "function" tool calls are supported by Anthropic`, { param: `${where}.type` });
  const args = call.function.arguments;
  let input: unknown;
  try {
    // Some clients send "" for a function without parameters. Bounded: the result is serialised again.
    input = args === '' ? {} : parseJsonWithin(args);
  } catch (err) {
    throw new GatewayError('invalid_request', `${where}.function.arguments is not valid JSON`, { cause: err });
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalid(`${where}.function.arguments must be a JSON object`);
  }
  return { type: 'tool_use', id: call.id, name: call.function.name, input: input as Record<string, unknown> };
}

function toolResultBlock(msg: ChatMessage, i: number): AnthropicToolResultBlock {
  if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') throw invalid(`messages[${i}].tool_call_id is required`);
  let content: string | AnthropicTextBlock[];
  if (typeof msg.content === 'string') content = msg.content;
  else if (msg.content === null || msg.content === undefined) content = '';
  else {
    content = msg.content.flatMap((part, j) => {
      if (part.type !== 'text') throw invalid(`messages[${i}].content[${j}]: tool messages take text parts only`);
      return textBlocks(part.text);
    });
  }
  return { type: 'tool_result', tool_use_id: msg.tool_call_id, content };
}

// ---------------------------------------------------------------------------------------------
// Responses and streams: Messages → OpenAI.

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** The OpenAI finish_reason for a stop_reason; null for one without equivalent (pause_turn). */
export function finishReason(stopReason: unknown): FinishReason | null {
  return typeof stopReason === 'string' && Object.hasOwn(FINISH_REASONS, stopReason) ? FINISH_REASONS[stopReason]! : null;
}

/**
 * Folds one Anthropic usage object into `acc`. Input is input_tokens plus cache writes and
 * reads (all billed as input). Returns undefined when `usage` reports nothing.
 */
function foldUsage(usage: AnthropicUsage | undefined, acc: TokenCounts | undefined): TokenCounts | undefined {
  if (usage === null || typeof usage !== 'object') return acc;
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const input = [usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens].map(n);
  const output = n(usage.output_tokens);
  const sawInput = input.some((v) => v !== undefined);
  if (!sawInput && output === undefined) return acc;
  const next = acc ? { ...acc } : { inputTokens: 0, outputTokens: 0 };
  if (sawInput) next.inputTokens = input.reduce<number>((sum, v) => sum + (v ?? 0), 0);
  if (output !== undefined) next.outputTokens = output;
  return next;
}

/** A non-streaming Messages answer as a chat.completion; `usage` is what it reported. */
export function toChatCompletion(message: AnthropicResponse, options: TranslatorOptions): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  if (message === null || typeof message !== 'object' || !Array.isArray(message.content)) {
    throw new GatewayError('upstream_error', 'Anthropic answered with a body that is not a message');
  }
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content as unknown[]) {
    if (block === null || typeof block !== 'object') continue;
    const b = block as AnthropicResponse['content'][number];
    if (b.type === 'text' && typeof b.text === 'string') texts.push(b.text);
    else if (b.type === 'tool_use') {
      toolCalls.push({ id: stringOr(b.id, ''), type: 'function', function: { name: stringOr(b.name, ''), arguments: JSON.stringify(b.input ?? {}) } });
    }
  }
  const usage = foldUsage(message.usage, undefined);
  const completion: ChatCompletion = {
    id: options.id,
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: texts.length > 0 ? texts.join('') : null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          refusal: null,
        },
        finish_reason: finishReason(message.stop_reason),
        logprobs: null,
      },
    ],
  };
  if (usage) completion.usage = chatUsage(usage);
  return { completion, usage };
}

/** `v` when it is a string; Anthropic's answer may hold anything where a string belongs. */
function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

/**
 * The message of an Anthropic error body (`{"type":"error","error":{"type","message"}}`), or
 * of the `{"message"}` bodies Bedrock and Vertex return for Claude; undefined if none.
 */
export function anthropicErrorMessage(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const p = parsed as { error?: { message?: unknown }; message?: unknown };
  if (typeof p.error?.message === 'string') return p.error.message;
  return typeof p.message === 'string' ? p.message : undefined;
}

/**
 * The stream state machine: parsed Anthropic events in, OpenAI chunks out. Per request; it
 * holds the stream's state in its fields (tool-call numbering, usage, whether the message
 * stopped). Hosts differ only in framing, so a Bedrock or Vertex wrapper feeds it the event
 * objects it decoded.
 *
 * @example
 * const t = new AnthropicEventTranslator(options);
 * for (const ev of decodedEvents) send(t.event(ev));
 * send(t.end()); // throws StreamIncomplete without message_stop
 */
export class AnthropicEventTranslator {
  readonly #options: TranslatorOptions;
  /** Anthropic content-block index → OpenAI tool-call index (counted from 0). */
  readonly #toolCalls = new Map<number, number>();
  #usage: TokenCounts | undefined;
  #stopped = false;

  constructor(options: TranslatorOptions) {
    this.#options = options;
  }

  /** Translates one event. Throws StreamIncomplete for an `error` event. */
  event(ev: AnthropicStreamEvent): ChatCompletionChunk[] {
    if (this.#stopped) return [];
    switch (ev.type) {
      case 'message_start':
        this.#usage = foldUsage(ev.message?.usage, this.#usage);
        return [this.#chunk({ role: 'assistant', content: '' })];
      case 'content_block_start':
        return this.#blockStart(ev.index, ev.content_block);
      case 'content_block_delta':
        return this.#blockDelta(ev.index, ev.delta);
      case 'message_delta': {
        this.#usage = foldUsage(ev.usage, this.#usage);
        const reason = finishReason(ev.delta?.stop_reason);
        return reason === null ? [] : [this.#chunk({}, reason)];
      }
      case 'message_stop':
        this.#stopped = true;
        return this.#options.includeUsage && this.#usage ? [usageChunk(this.#options, this.#usage)] : [];
      case 'error': {
        const kind = typeof ev.error?.type === 'string' ? ev.error.type : 'error';
        const message = typeof ev.error?.message === 'string' ? ev.error.message : 'no message';
        throw new StreamIncomplete(`Anthropic stream error (${kind}): ${message}`);
      }
      case 'content_block_stop':
      case 'ping':
        return [];
      default:
        // Anthropic may add event types (versioning policy): ignore what is not understood.
        return [];
    }
  }

  /** The upstream stream ended. Throws StreamIncomplete unless message_stop was seen. */
  end(): ChatCompletionChunk[] {
    if (!this.#stopped) throw new StreamIncomplete('Anthropic stream ended before message_stop');
    return [];
  }

  usage(): TokenCounts | undefined {
    return this.#usage && { ...this.#usage };
  }

  #blockStart(index: number, block: { type: string; text?: string; id?: string; name?: string } | undefined): ChatCompletionChunk[] {
    if (block?.type === 'text') return typeof block.text === 'string' && block.text !== '' ? [this.#chunk({ content: block.text })] : [];
    if (block?.type !== 'tool_use') return []; // thinking, server tools: never requested
    const n = this.#toolCalls.size;
    this.#toolCalls.set(index, n);
    return [
      this.#chunk({
        tool_calls: [{ index: n, id: stringOr(block.id, ''), type: 'function', function: { name: stringOr(block.name, ''), arguments: '' } }],
      }),
    ];
  }

  #blockDelta(index: number, delta: { type: string; text?: string; partial_json?: string } | undefined): ChatCompletionChunk[] {
    if (delta?.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') {
      return [this.#chunk({ content: delta.text })];
    }
    if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
      const n = this.#toolCalls.get(index);
      if (n === undefined) return [];
      return [this.#chunk({ tool_calls: [{ index: n, function: { arguments: delta.partial_json } }] })];
    }
    return [];
  }

  #chunk(delta: ChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk {
    return choiceChunk(this.#options, 0, delta, finish);
  }
}

/** Parses one event's JSON; a malformed event ends the stream (StreamIncomplete). */
export function parseAnthropicEvent(json: string): AnthropicStreamEvent {
  let ev: unknown;
  try {
    ev = parseJsonWithin(json);
  } catch (err) {
    throw new StreamIncomplete('Anthropic sent a stream event that is not JSON (or nests too deep)', { cause: err });
  }
  if (ev === null || typeof ev !== 'object' || typeof (ev as { type?: unknown }).type !== 'string') {
    throw new StreamIncomplete('Anthropic sent a stream event without a type');
  }
  return ev as AnthropicStreamEvent;
}

// ---------------------------------------------------------------------------------------------
// The translator, over a host's envelope and framing.

/** Decodes a host's stream framing into parsed Anthropic events. Per request. */
export interface AnthropicEventDecoder {
  push(chunk: Uint8Array): AnthropicStreamEvent[];
  /** The body ended: events still buffered; may throw StreamIncomplete for a cut frame. */
  end(): AnthropicStreamEvent[];
}

/** SSE framing (api.anthropic.com, Vertex `streamRawPredict`); `lineLimit` as in SseDecoderOptions. */
export function sseEventDecoder(lineLimit?: number): AnthropicEventDecoder {
  const sse = new SseDecoder({ lineLimit });
  return {
    push: (chunk) => sse.push(chunk).map((ev) => parseAnthropicEvent(ev.data)),
    end: () => sse.end().map((ev) => parseAnthropicEvent(ev.data)),
  };
}

/**
 * Where a host puts the Messages parameters, and how it frames streams.
 *
 * @example
 * // Claude on Bedrock InvokeModel (event-stream `chunk` events carry the same event JSON):
 * const bedrockClaude: AnthropicHost = {
 *   path: (model, stream) => `/model/${encodeURIComponent(model)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`,
 *   headers: { 'content-type': 'application/json' },
 *   body: (params) => ({ anthropic_version: 'bedrock-2023-05-31', ...params }),
 *   decoder: bedrockChunkDecoder,
 * };
 */
export interface AnthropicHost {
  path(model: string, stream: boolean): string;
  headers: Readonly<Record<string, string>>;
  body(params: AnthropicMessagesParams, model: string, stream: boolean): Record<string, unknown>;
  /** `lineLimit`: TranslatorOptions.streamLineLimit, for hosts whose framing is made of lines. */
  decoder(lineLimit?: number): AnthropicEventDecoder;
}

/** api.anthropic.com: `POST /v1/messages`; the gateway adds `x-api-key` itself. */
export const ANTHROPIC_API: AnthropicHost = {
  path: () => '/v1/messages',
  headers: { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
  body: (params, model, stream) => (stream ? { model, ...params, stream: true } : { model, ...params }),
  decoder: sseEventDecoder,
};

/**
 * One OpenAI chat request against a Claude host. Per request: it holds the stream decoder and
 * the event state machine in its fields; never shared.
 */
export class AnthropicMessagesTranslator implements ChatTranslator {
  readonly #options: TranslatorOptions;
  readonly #host: AnthropicHost;
  readonly #events: AnthropicEventTranslator;
  #decoder: AnthropicEventDecoder | undefined;
  #responseUsage: TokenCounts | undefined;

  constructor(options: TranslatorOptions, host: AnthropicHost) {
    this.#options = options;
    this.#host = host;
    this.#events = new AnthropicEventTranslator(options);
  }

  request(body: ChatRequest): NativeRequest {
    const { params, dropped: droppedParams } = toAnthropicMessages(body);
    const { model, stream } = this.#options;
    return {
      path: this.#host.path(model, stream),
      headers: { ...this.#host.headers },
      body: Buffer.from(JSON.stringify(this.#host.body(params, model, stream))),
      dropped: droppedParams,
    };
  }

  response(body: Buffer): ChatCompletion {
    const message = parseProviderJson<AnthropicResponse>(body, 'Anthropic');
    const { completion, usage } = toChatCompletion(message, this.#options);
    this.#responseUsage = usage;
    return completion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    return this.#translate((this.#decoder ??= this.#host.decoder(this.#options.streamLineLimit)).push(chunk));
  }

  end(): ChatCompletionChunk[] {
    // The last event may lack its blank line: the decoder's end() still dispatches it.
    const out = this.#translate((this.#decoder ??= this.#host.decoder(this.#options.streamLineLimit)).end());
    out.push(...this.#events.end());
    return out;
  }

  errorMessage(body: Buffer): string | undefined {
    return anthropicErrorMessage(body);
  }

  usage(): TokenCounts | undefined {
    return this.#events.usage() ?? (this.#responseUsage && { ...this.#responseUsage });
  }

  #translate(events: AnthropicStreamEvent[]): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const ev of events) for (const c of this.#events.event(ev)) out.push(c);
    return out;
  }
}

/** Protocol mode for api.anthropic.com. */
export const anthropicChat: ChatTranslatorFactory = (options) => new AnthropicMessagesTranslator(options, ANTHROPIC_API);
