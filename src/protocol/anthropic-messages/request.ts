import { GatewayError } from '../../errors/gateway-error.js';
import { AlternatingTurns, eachMessage, type ToolMessage } from '../chat-messages.js';
import { parseJsonWithin } from '../json.js';
import type { ChatMessage, ChatRequest, ContentPart, CustomTool, CustomToolCall, Tool, ToolCall, ToolChoice } from '../openai.js';
import { applyParameterRules, dropped, MAPPED, refused, sameRule, type ParameterTable, type RuleTarget } from '../parameter-rules.js';
import { refusal } from '../translator.js';
import type {
  AnthropicContentBlock,
  AnthropicImageBlock,
  AnthropicMessage,
  AnthropicMessagesParams,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
} from './types.js';

/**
 * OpenAI chat request → Anthropic Messages parameters (https://docs.anthropic.com/en/api/messages),
 * shared by every Claude host (api.anthropic.com, Bedrock InvokeModel, Vertex rawPredict).
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
 */

/** Anthropic requires `max_tokens`; OpenAI lets the model decide. */
export const DEFAULT_MAX_TOKENS = 4096;

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** The top-level parameter rules (the table above); anything not named here is dropped. */
const PARAMETERS: ParameterTable<RuleTarget> = {
  rules: {
    ...sameRule(
      MAPPED,
      'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p',
      'stop', 'user', 'safety_identifier', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format'
    ),
    n: refused('n: Anthropic returns one choice per request; n must be 1', (v) => v === 1),
    logprobs: refused('logprobs: Anthropic returns no log probabilities', (v) => v !== true),
    top_logprobs: refused('top_logprobs: Anthropic returns no log probabilities', (v) => v === 0),
    functions: refused('functions is deprecated and not translated: use tools'),
    function_call: refused('function_call is deprecated and not translated: use tool_choice'),
    audio: refused('audio: Anthropic models produce no audio output'),
    modalities: refused('modalities: Anthropic models produce no audio output', (v) => !(Array.isArray(v) && v.includes('audio'))),
    web_search_options: refused('web_search_options: web search is not available through this translation'),
    presence_penalty: dropped((v) => v === 0),
    frequency_penalty: dropped((v) => v === 0),
    logit_bias: dropped((v) => typeof v !== 'object' || v === null || Object.keys(v).length === 0),
    store: dropped((v) => v !== true),
    ...sameRule(dropped(), 'seed', 'service_tier', 'metadata', 'reasoning_effort', 'prediction', 'verbosity', 'prompt_cache_key'),
  },
  unlisted: dropped(),
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
  const droppedParams: string[] = [];
  applyParameterRules(body, PARAMETERS, { native: {}, dropped: droppedParams });
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
  const turns = new AlternatingTurns<AnthropicMessage['role'], AnthropicContentBlock>();
  // Anthropic requires user and assistant turns to alternate: consecutive same-role messages become one turn.
  eachMessage<void>(
    messages,
    {
      system: (msg, _where, i) => system.push(systemText(msg, i)),
      user: (msg, _where, i) => turns.append('user', userBlocks(msg, i, droppedParams)),
      assistant: (msg, _where, i) => turns.append('assistant', assistantBlocks(msg, i)),
      tool: (msg, _where, i) => turns.append('user', [toolResultBlock(msg, i)]),
    },
    {
      unsupportedRole: (role, where) => `${where}.role "${String(role)}" is not supported`,
      droppedName: () => droppedParams.push('messages[].name'),
    },
  );
  const joined = system.filter((s) => s !== '').join('\n\n');
  return { system: joined === '' ? undefined : joined, messages: turns.turns.map(compactTurn) };
}

/** One text block is sent as a plain string, Anthropic's shorthand for it. */
function compactTurn({ role, parts }: { role: AnthropicMessage['role']; parts: AnthropicContentBlock[] }): AnthropicMessage {
  const only = parts[0];
  return parts.length === 1 && only!.type === 'text' ? { role, content: only!.text } : { role, content: parts };
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

function toolResultBlock(msg: ToolMessage, i: number): AnthropicToolResultBlock {
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
