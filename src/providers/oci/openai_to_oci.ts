import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ChunkToolCall, FinishReason, ToolCall } from '../../protocol/openai.js';
import { parseJsonWithin, parseProviderJson } from '../../protocol/json.js';
import { ChoiceProgress, chatUsage, choiceChunk, usageChunk, type TokenCounts } from '../../protocol/chunks.js';
import { SseDecoder, type SseEvent } from '../../protocol/sse.js';
import {
  refusal,
  StreamIncomplete,
  type ChatTranslator,
  type ChatTranslatorFactory,
  type NativeRequest,
  type ParameterRules,
  type TranslatorOptions,
} from '../../protocol/translator.js';

/**
 * OpenAI Chat Completions ↔ OCI Generative AI inference chat (`POST /20231130/actions/chat`,
 * https://docs.oracle.com/iaas/api/#/en/generative-ai-inference/20231130/ChatResult/Chat).
 * Body: `ChatDetails {compartmentId, servingMode: {servingType: ON_DEMAND, modelId}, chatRequest}`.
 * Field names are those of Oracle's SDK models (oracle/oci-python-sdk
 * `src/oci/generative_ai_inference/models/`: `generic_chat_request.py` attribute_map — apiFormat,
 * messages, isStream, streamOptions, numGenerations, seed, topP, temperature, frequencyPenalty,
 * presencePenalty, stop, maxTokens, maxCompletionTokens, responseFormat, reasoningEffort —,
 * `cohere_chat_request.py` — message, chatHistory, preambleOverride, stopSequences —,
 * `chat_result.py`, `generic_chat_response.py`, `chat_choice.py`, `cohere_chat_response.py`; tools:
 * `function_definition.py` {type FUNCTION, name, description, parameters}, `tool_choice_*.py`
 * {type NONE/AUTO/REQUIRED/FUNCTION, name}, `assistant_message.py` toolCalls (content null when
 * answering with tool calls only, as its doc asks), `function_call.py` {id, type FUNCTION, name,
 * arguments (a JSON string)}, `tool_message.py` {role TOOL, content, toolCallId}).
 * Streams are data-only SSE (the SDKs' `is_stream` doc: "sent as data-only server-sent events");
 * the event shapes below are those LangChain's ChatOCIGenAI reads (generic:
 * `{index, message: {content: [{type: TEXT, text}]}, finishReason?}`; cohere: `{text}` deltas and a
 * last `{text: <whole answer>, finishReason}` whose text is a repeat and is not sent again).
 * No OCI chat transcript is in testdata: these shapes are not checked against recorded traffic.
 *
 * Two request formats, chosen by the model id: `cohere.*` → `apiFormat: COHERE`, everything else
 * (meta.*, xai.*, openai.*, google.*, …) → `apiFormat: GENERIC`.
 *
 * Request parameters (null counts as absent; the rule names are ociChatParameters):
 * | OpenAI                         | Rule    | GENERIC                                   | COHERE                                   |
 * |--------------------------------|---------|-------------------------------------------|------------------------------------------|
 * | model                          | mapped  | `servingMode.modelId` (ON_DEMAND)         | same                                     |
 * | (instance config)              |         | `compartmentId`                           | same                                     |
 * | messages: system, developer    | mapped  | SYSTEM, text content                      | `preambleOverride` (all joined by a blank line) |
 * | messages: user                 | mapped  | USER: TEXT parts, IMAGE `{imageUrl: {url, detail}}` | last one → `message`; earlier → `chatHistory` USER (text only) |
 * | messages: assistant            | mapped  | ASSISTANT, TEXT content                   | `chatHistory` CHATBOT                    |
 * | messages: assistant tool_calls | mapped  | ASSISTANT `toolCalls: [{type: FUNCTION, id, name, arguments}]`, content null if empty | refused (see tools) |
 * | messages: tool                 | mapped  | TOOL `{toolCallId, content: [TEXT]}`       | refused (see tools)                      |
 * | messages[].name                | dropped | not sent (silently)                       | same                                     |
 * | stream                         | mapped  | `isStream`                                | `isStream`                               |
 * | stream_options.include_usage   | mapped  | `streamOptions.isIncludeUsage`            | nothing (usage when OCI sends it)        |
 * | max_tokens                     | mapped  | `maxTokens`                               | `maxTokens`                              |
 * | max_completion_tokens          | mapped  | `maxCompletionTokens`                     | `maxTokens`                              |
 * | temperature, top_p, seed       | mapped  | `temperature`, `topP`, `seed`             | same                                     |
 * | presence/frequency_penalty     | mapped  | `presencePenalty`, `frequencyPenalty`     | same                                     |
 * | n                              | mapped  | `numGenerations`                          | refused when > 1                         |
 * | stop                           | mapped  | `stop` (array)                            | `stopSequences`                          |
 * | response_format                | mapped  | TEXT / JSON_OBJECT / JSON_SCHEMA `{jsonSchema: {name, description, schema, isStrict}}` | text → nothing; json_object / json_schema → JSON_OBJECT `{schema}` |
 * | reasoning_effort               | mapped  | `reasoningEffort` MINIMAL/LOW/MEDIUM/HIGH; other values dropped | dropped              |
 * | modalities ["text"]            | mapped  | nothing; any other modality refused       | same                                     |
 * | tools                          | mapped  | `tools: [{type: FUNCTION, name, description, parameters}]` (`strict` not sent); non-function tools refused | refused |
 * | tool_choice                    | mapped  | `toolChoice` {type: AUTO / NONE / REQUIRED} or {type: FUNCTION, name} | refused |
 * | parallel_tool_calls            | mapped  | `isParallelToolCalls`                     | dropped                                  |
 * | user, metadata, store, service_tier, safety_identifier, prompt_cache_key, prediction, verbosity | dropped | | |
 * | functions, function_call, logprobs, top_logprobs, logit_bias, audio, web_search_options | refused | | |
 * | any other parameter            | refused |                                           |                                          |
 *
 * Answers: `ChatResult {modelId, chatResponse}`; `model` is the model the client asked for,
 * `id`/`created` the gateway's. Finish reasons: generic `stop`/`length`/`tool_calls`/
 * `content_filter` as they are (case-insensitive); cohere COMPLETE and STOP_SEQUENCE → stop,
 * MAX_TOKENS → length, ERROR_TOXIC → content_filter, ERROR/ERROR_LIMIT/USER_CANCEL → the answer
 * is refused (502, or StreamIncomplete in a stream); any other → null. Usage
 * `{promptTokens, completionTokens, totalTokens}` → OpenAI's.
 *
 * Tool calls (GENERIC): `message.toolCalls` FunctionCalls → `tool_calls` (an id is made up,
 * `call_<n>`, when OCI sends none). In a stream each event's `message.toolCalls` are fragments: one
 * with an `id` (or a `name`) not seen before in that choice starts a new call — OpenAI index 0, 1,
 * … — with id, type and name; one without continues the choice's last call with more
 * `arguments`. No recorded OCI stream shows how fragments are split: this rule is an assumption.
 * COHERE keeps refusing tools: its format is not OpenAI's (CohereTool `parameterDefinitions`
 * instead of a JSON Schema, tool results as `toolResults` {call: {name, parameters}, outputs} with
 * no call ids), so a faithful round trip needs schema flattening and call matching not done here.
 *
 * A stream is complete when every choice it started has a finishReason (cohere: one choice); an
 * end before that, an error body or malformed JSON throw StreamIncomplete.
 */

export interface OciChatConfig {
  /** The compartment every call runs in (and is billed to). */
  compartmentId: string;
}

type ApiFormat = 'GENERIC' | 'COHERE';

type GenericContent = { type: 'TEXT'; text: string } | { type: 'IMAGE'; imageUrl: { url: string; detail?: string } };
interface GenericToolCall {
  type: 'FUNCTION';
  id: string;
  name: string;
  arguments: string;
}
interface GenericMessage {
  role: 'SYSTEM' | 'USER' | 'ASSISTANT' | 'TOOL';
  content: GenericContent[] | null;
  toolCalls?: GenericToolCall[];
  toolCallId?: string;
}
interface CohereHistoryMessage {
  role: 'USER' | 'CHATBOT';
  message: string;
}

interface OciUsage {
  promptTokens?: unknown;
  completionTokens?: unknown;
}

interface GenericChoice {
  index?: unknown;
  message?: { content?: Array<{ type?: unknown; text?: unknown }> | null; toolCalls?: unknown } | null;
  finishReason?: unknown;
}

interface OciChatResponse {
  apiFormat?: unknown;
  choices?: GenericChoice[];
  text?: unknown;
  finishReason?: unknown;
  usage?: OciUsage | null;
}

/** What this translator does with each OpenAI chat parameter (the table above). */
export const ociChatParameters = {
  model: 'mapped',
  messages: 'mapped',
  stream: 'mapped',
  stream_options: 'mapped',
  max_tokens: 'mapped',
  max_completion_tokens: 'mapped',
  temperature: 'mapped',
  top_p: 'mapped',
  seed: 'mapped',
  presence_penalty: 'mapped',
  frequency_penalty: 'mapped',
  n: 'mapped',
  stop: 'mapped',
  response_format: 'mapped',
  reasoning_effort: 'mapped',
  modalities: 'mapped',
  user: 'dropped',
  metadata: 'dropped',
  store: 'dropped',
  service_tier: 'dropped',
  safety_identifier: 'dropped',
  prompt_cache_key: 'dropped',
  prediction: 'dropped',
  verbosity: 'dropped',
  parallel_tool_calls: 'mapped',
  tools: 'mapped',
  tool_choice: 'mapped',
  functions: 'refused',
  function_call: 'refused',
  logprobs: 'refused',
  top_logprobs: 'refused',
  logit_bias: 'refused',
  audio: 'refused',
  web_search_options: 'refused',
} as const satisfies ParameterRules;

const PARAMETERS: ParameterRules = ociChatParameters;

const REFUSAL_REASONS: Readonly<Record<string, string>> = {
  functions: 'functions is deprecated and not translated: use tools',
  function_call: 'function_call is deprecated and not translated: use tool_choice',
  logprobs: 'logprobs are not translated to OCI Generative AI',
  top_logprobs: 'top_logprobs: logprobs are not translated to OCI Generative AI',
  logit_bias: 'logit_bias is not translated to OCI Generative AI',
  audio: 'audio: OCI Generative AI chat produces no audio output',
  web_search_options: 'web_search_options: web search is not translated to OCI Generative AI',
};

const REASONING_EFFORTS = new Set(['minimal', 'low', 'medium', 'high']);

/** A refusal naming the field its message starts with (protocol/translator.ts). */
const invalid = refusal;
const present = (v: unknown): boolean => v !== undefined && v !== null;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `cohere.*` models speak the COHERE format; every other model the GENERIC one. */
export function apiFormatOf(model: string): ApiFormat {
  return model.startsWith('cohere.') ? 'COHERE' : 'GENERIC';
}

/**
 * The OCI `ChatDetails` body for an OpenAI request and the parameters dropped on the way.
 * Throws GatewayError('invalid_request').
 *
 * @example
 * const { body } = toOciChat(req, 'meta.llama-3.3-70b-instruct', 'ocid1.compartment.oc1..a', false, false);
 * // { compartmentId, servingMode: { servingType: 'ON_DEMAND', modelId }, chatRequest: { apiFormat: 'GENERIC', messages, ... } }
 */
export function toOciChat(req: ChatRequest, model: string, compartmentId: string, stream: boolean, includeUsage: boolean): { body: Record<string, unknown>; dropped: string[] } {
  const format = apiFormatOf(model);
  const dropped: string[] = [];
  if (!Array.isArray(req.messages) || req.messages.length === 0) throw invalid('messages must be a non-empty array');
  const chat: Record<string, unknown> = { apiFormat: format };
  if (format === 'GENERIC') chat['messages'] = genericMessages(req.messages);
  else Object.assign(chat, cohereMessages(req.messages));
  if (stream) {
    chat['isStream'] = true;
    if (includeUsage && format === 'GENERIC') chat['streamOptions'] = { isIncludeUsage: true };
  }
  for (const key of Object.keys(req)) {
    const value = req[key];
    if (!present(value)) continue;
    const rule = Object.hasOwn(PARAMETERS, key) ? PARAMETERS[key]! : 'refused';
    switch (rule) {
      case 'passthrough':
        chat[key] = value;
        break;
      case 'dropped':
        dropped.push(key);
        break;
      case 'refused':
        throw invalid(REFUSAL_REASONS[key] ?? `${key.slice(0, 64)}: this parameter is not supported by the OCI Generative AI translation`);
      case 'mapped':
        mapParameter(key, value, format, chat, dropped);
        break;
      default:
        rule satisfies never;
    }
  }
  return { body: { compartmentId, servingMode: { servingType: 'ON_DEMAND', modelId: model }, chatRequest: chat }, dropped };
}

function number(key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${key} must be a number`);
  return value;
}

/** The `mapped` parameters other than messages (read above). */
function mapParameter(key: string, value: unknown, format: ApiFormat, chat: Record<string, unknown>, dropped: string[]): void {
  const generic = format === 'GENERIC';
  switch (key) {
    case 'model':
    case 'messages':
    case 'stream':
    case 'stream_options':
      return; // set by the caller
    case 'max_tokens':
      chat['maxTokens'] = number(key, value);
      return;
    case 'max_completion_tokens':
      chat[generic ? 'maxCompletionTokens' : 'maxTokens'] = number(key, value);
      return;
    case 'temperature':
      chat['temperature'] = number(key, value);
      return;
    case 'top_p':
      chat['topP'] = number(key, value);
      return;
    case 'seed':
      chat['seed'] = number(key, value);
      return;
    case 'presence_penalty':
      chat['presencePenalty'] = number(key, value);
      return;
    case 'frequency_penalty':
      chat['frequencyPenalty'] = number(key, value);
      return;
    case 'n': {
      const n = number(key, value);
      if (generic) chat['numGenerations'] = n;
      else if (n !== 1) throw invalid('n: Cohere models on OCI answer with one choice only');
      return;
    }
    case 'stop': {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw invalid('stop must be a string or an array of strings');
      chat[generic ? 'stop' : 'stopSequences'] = list;
      return;
    }
    case 'response_format': {
      if (!isObject(value)) throw invalid('response_format must be an object');
      switch (value['type']) {
        case 'text':
          if (generic) chat['responseFormat'] = { type: 'TEXT' };
          return;
        case 'json_object':
          chat['responseFormat'] = { type: 'JSON_OBJECT' };
          return;
        case 'json_schema': {
          const spec = value['json_schema'];
          if (!isObject(spec) || typeof spec['name'] !== 'string') throw invalid('response_format.json_schema needs a name');
          if (!generic) {
            chat['responseFormat'] = isObject(spec['schema']) ? { type: 'JSON_OBJECT', schema: spec['schema'] } : { type: 'JSON_OBJECT' };
            return;
          }
          const jsonSchema: Record<string, unknown> = { name: spec['name'] };
          if (typeof spec['description'] === 'string') jsonSchema['description'] = spec['description'];
          if (isObject(spec['schema'])) jsonSchema['schema'] = spec['schema'];
          if (typeof spec['strict'] === 'boolean') jsonSchema['isStrict'] = spec['strict'];
          chat['responseFormat'] = { type: 'JSON_SCHEMA', jsonSchema };
          return;
        }
        default:
          throw invalid(`response_format.type "${String(value['type']).slice(0, 32)}" is not supported (text, json_object, json_schema)`);
      }
    }
    case 'reasoning_effort':
      if (generic && typeof value === 'string' && REASONING_EFFORTS.has(value)) chat['reasoningEffort'] = value.toUpperCase();
      else dropped.push(key);
      return;
    case 'modalities':
      if (!Array.isArray(value) || value.some((m) => m !== 'text')) throw invalid('modalities: OCI Generative AI chat answers with text only');
      return;
    case 'tools':
      if (!generic) throw invalid(COHERE_TOOLS);
      chat['tools'] = genericTools(value);
      return;
    case 'tool_choice':
      if (!generic) throw invalid(COHERE_TOOLS);
      chat['toolChoice'] = genericToolChoice(value);
      return;
    case 'parallel_tool_calls':
      if (typeof value !== 'boolean') throw invalid('parallel_tool_calls must be a boolean');
      if (generic) chat['isParallelToolCalls'] = value;
      else dropped.push(key);
      return;
    default:
      throw invalid(`${key}: this parameter is not supported by the OCI Generative AI translation`);
  }
}

const COHERE_TOOLS = 'tools are not translated for Cohere models on OCI (their COHERE format has no JSON Schema tools nor call ids): use a GENERIC model or transparent mode (/transparent/{instance}/20231130/actions/chat)';

function refuseTools(msg: ChatMessage, i: number): void {
  if (msg.role === 'tool' || (Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0)) throw invalid(`messages[${i}]: ${COHERE_TOOLS}`);
}

/** OpenAI `tools` → GENERIC FunctionDefinitions. */
function genericTools(value: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(value)) throw invalid('tools must be an array');
  return value.map((tool: unknown, i) => {
    if (!isObject(tool) || tool['type'] !== 'function') throw invalid(`tools[${i}]: only function tools are translated to OCI Generative AI`);
    const fn = tool['function'];
    if (!isObject(fn) || typeof fn['name'] !== 'string' || fn['name'] === '') throw invalid(`tools[${i}].function.name is required`);
    const out: Record<string, unknown> = { type: 'FUNCTION', name: fn['name'] };
    if (typeof fn['description'] === 'string') out['description'] = fn['description'];
    if (present(fn['parameters'])) {
      if (!isObject(fn['parameters'])) throw invalid(`tools[${i}].function.parameters must be an object`);
      out['parameters'] = fn['parameters'];
    }
    return out;
  });
}

/** OpenAI `tool_choice` → GENERIC ToolChoice. */
function genericToolChoice(value: unknown): Record<string, unknown> {
  if (value === 'auto' || value === 'none' || value === 'required') return { type: value.toUpperCase() };
  if (isObject(value) && value['type'] === 'function' && isObject(value['function']) && typeof value['function']['name'] === 'string') {
    return { type: 'FUNCTION', name: value['function']['name'] };
  }
  throw invalid('tool_choice must be "auto", "none", "required" or {type: "function", function: {name}}');
}

/** An assistant message's OpenAI tool_calls → GENERIC FunctionCalls. */
function genericToolCalls(calls: unknown, i: number): GenericToolCall[] {
  if (!Array.isArray(calls)) throw invalid(`messages[${i}].tool_calls must be an array`);
  return calls.map((call: unknown, j) => {
    const where = `messages[${i}].tool_calls[${j}]`;
    if (!isObject(call) || typeof call['id'] !== 'string' || (call['type'] !== undefined && call['type'] !== 'function')) throw invalid(`${where} must be a function call with an id`);
    const fn = call['function'];
    if (!isObject(fn) || typeof fn['name'] !== 'string') throw invalid(`${where}.function.name is required`);
    const args = fn['arguments'] ?? '';
    if (typeof args !== 'string') throw invalid(`${where}.function.arguments must be a string`);
    return { type: 'FUNCTION', id: call['id'], name: fn['name'], arguments: args };
  });
}

/** A text-only message's content: a string, or text parts concatenated. */
function joinedText(content: ChatMessage['content'] | undefined, i: number, role: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(`messages[${i}].content must be a string or an array of parts`);
  return content
    .map((part: unknown, j) => {
      if (!isObject(part) || part['type'] !== 'text' || typeof part['text'] !== 'string') throw invalid(`messages[${i}].content[${j}]: ${role} messages take text parts only here`);
      return part['text'];
    })
    .join('');
}

function genericMessages(messages: ChatMessage[]): GenericMessage[] {
  return messages.map((msg, i): GenericMessage => {
    if (!isObject(msg)) throw invalid(`messages[${i}] must be an object`);
    switch (msg.role) {
      case 'system':
      case 'developer':
        return { role: 'SYSTEM', content: [{ type: 'TEXT', text: joinedText(msg.content, i, msg.role) }] };
      case 'assistant': {
        const text = joinedText(msg.content, i, 'assistant');
        if (!present(msg.tool_calls) || (Array.isArray(msg.tool_calls) && msg.tool_calls.length === 0)) return { role: 'ASSISTANT', content: [{ type: 'TEXT', text }] };
        return { role: 'ASSISTANT', content: text === '' ? null : [{ type: 'TEXT', text }], toolCalls: genericToolCalls(msg.tool_calls, i) };
      }
      case 'tool':
        if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') throw invalid(`messages[${i}].tool_call_id is required`);
        return { role: 'TOOL', toolCallId: msg.tool_call_id, content: [{ type: 'TEXT', text: joinedText(msg.content, i, 'tool') }] };
      case 'user':
        return { role: 'USER', content: genericUserContent(msg.content, i) };
      default:
        throw invalid(`messages[${i}].role "${String(msg.role).slice(0, 32)}" is not supported (system, developer, user, assistant, tool)`);
    }
  });
}

function genericUserContent(content: ChatMessage['content'] | undefined, i: number): GenericContent[] {
  if (typeof content === 'string') return [{ type: 'TEXT', text: content }];
  if (!Array.isArray(content)) throw invalid(`messages[${i}].content must be a string or an array of parts`);
  return content.map((part: unknown, j): GenericContent => {
    const where = `messages[${i}].content[${j}]`;
    if (!isObject(part)) throw invalid(`${where} must be an object`);
    switch (part['type']) {
      case 'text':
        if (typeof part['text'] !== 'string') throw invalid(`${where}.text must be a string`);
        return { type: 'TEXT', text: part['text'] };
      case 'image_url': {
        const image = part['image_url'];
        if (!isObject(image) || typeof image['url'] !== 'string') throw invalid(`${where}.image_url.url is required`);
        const detail = image['detail'];
        return { type: 'IMAGE', imageUrl: typeof detail === 'string' ? { url: image['url'], detail: detail.toUpperCase() } : { url: image['url'] } };
      }
      default:
        throw invalid(`${where}: part type "${String(part['type']).slice(0, 32)}" is not supported by OCI Generative AI (text, image_url)`);
    }
  });
}

/** COHERE format: system text → preambleOverride, the last user message → message, the rest → chatHistory. */
function cohereMessages(messages: ChatMessage[]): Record<string, unknown> {
  const preamble: string[] = [];
  const history: CohereHistoryMessage[] = [];
  for (const [i, msg] of messages.entries()) {
    if (!isObject(msg)) throw invalid(`messages[${i}] must be an object`);
    refuseTools(msg, i);
    switch (msg.role) {
      case 'system':
      case 'developer':
        preamble.push(joinedText(msg.content, i, msg.role));
        break;
      case 'user':
        history.push({ role: 'USER', message: joinedText(msg.content, i, 'user (Cohere)') });
        break;
      case 'assistant':
        history.push({ role: 'CHATBOT', message: joinedText(msg.content, i, 'assistant') });
        break;
      default:
        throw invalid(`messages[${i}].role "${String(msg.role).slice(0, 32)}" is not supported (system, developer, user, assistant)`);
    }
  }
  const last = history.pop();
  if (last === undefined || last.role !== 'USER') throw invalid('messages: with a Cohere model the last non-system message must be a user message');
  const out: Record<string, unknown> = { message: last.message };
  if (history.length > 0) out['chatHistory'] = history;
  if (preamble.length > 0) out['preambleOverride'] = preamble.join('\n\n');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Answers and streams.

type Finish = { kind: 'finished'; reason: FinishReason | null } | { kind: 'failed'; reason: string } | { kind: 'open' };

/** An OCI finishReason (generic, lower case; cohere, upper case) → what it means here. */
export function finishOf(reason: unknown): Finish {
  if (reason === undefined || reason === null || reason === '') return { kind: 'open' };
  // Not String(reason): an object answer may have a `toString` member that is not a function.
  if (typeof reason !== 'string') return { kind: 'finished', reason: null };
  switch (reason.toUpperCase()) {
    case 'STOP':
    case 'COMPLETE':
    case 'STOP_SEQUENCE':
    case 'END_TURN':
      return { kind: 'finished', reason: 'stop' };
    case 'LENGTH':
    case 'MAX_TOKENS':
      return { kind: 'finished', reason: 'length' };
    case 'TOOL_CALLS':
    case 'TOOL_CALL':
      return { kind: 'finished', reason: 'tool_calls' };
    case 'CONTENT_FILTER':
    case 'ERROR_TOXIC':
      return { kind: 'finished', reason: 'content_filter' };
    case 'ERROR':
    case 'ERROR_LIMIT':
    case 'USER_CANCEL':
      return { kind: 'failed', reason: String(reason) };
    default:
      return { kind: 'finished', reason: null };
  }
}

function countsOf(usage: unknown): TokenCounts | undefined {
  if (!isObject(usage)) return undefined;
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const input = n(usage['promptTokens']);
  const output = n(usage['completionTokens']);
  if (input === undefined && output === undefined) return undefined;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
}

/** The text of a generic message: its TEXT parts joined; null when it has none. */
function genericText(message: unknown): string | null {
  if (!isObject(message) || !Array.isArray(message['content'])) return null;
  const texts = (message['content'] as unknown[]).flatMap((c) => (isObject(c) && typeof c.text === 'string' && (c.type === undefined || c.type === 'TEXT') ? [c.text] : []));
  return texts.length > 0 ? texts.join('') : null;
}

/** A generic message's `toolCalls` as they came (objects only); [] when it has none. */
function rawToolCalls(message: unknown): Array<Record<string, unknown>> {
  if (!isObject(message) || !Array.isArray(message['toolCalls'])) return [];
  return (message['toolCalls'] as unknown[]).filter(isObject);
}

/** A generic message's FunctionCalls as OpenAI tool_calls; undefined when it has none. */
function genericToolCallsOf(message: unknown): ToolCall[] | undefined {
  const calls = rawToolCalls(message);
  if (calls.length === 0) return undefined;
  return calls.map((c, j) => ({
    id: typeof c['id'] === 'string' && c['id'] !== '' ? c['id'] : `call_${j}`,
    type: 'function',
    function: { name: typeof c['name'] === 'string' ? c['name'] : '', arguments: typeof c['arguments'] === 'string' ? c['arguments'] : JSON.stringify(c['arguments'] ?? {}) },
  }));
}

/** The message of an OCI error body (`{"code","message"}`); undefined if none. */
export function ociErrorMessage(body: Buffer | string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return undefined;
  }
  return errorText(parsed);
}

function errorText(parsed: unknown): string | undefined {
  if (!isObject(parsed) || typeof parsed['message'] !== 'string') return undefined;
  return typeof parsed['code'] === 'string' && parsed['code'] !== '' ? `${parsed['message']} (${parsed['code']})` : parsed['message'];
}

/** A non-streaming `ChatResult` as a chat.completion. */
export function toChatCompletion(result: unknown, options: TranslatorOptions): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  const response = isObject(result) ? (result['chatResponse'] as OciChatResponse | undefined) : undefined;
  if (!isObject(response)) throw new GatewayError('upstream_error', 'OCI answered with a body that is not a chat result');
  let choices: ChatCompletion['choices'];
  if (Array.isArray(response.choices)) {
    choices = response.choices.map((c, i) => {
      if (!isObject(c)) throw new GatewayError('upstream_error', 'OCI answered with a choice that is not an object');
      const index = typeof c.index === 'number' ? c.index : i;
      const finish = finishOf(c.finishReason);
      if (finish.kind === 'failed') throw new GatewayError('upstream_error', `OCI ended choice ${index} with finishReason "${finish.reason}"`);
      const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: genericText(c.message), refusal: null };
      const toolCalls = genericToolCallsOf(c.message);
      if (toolCalls) message.tool_calls = toolCalls;
      return { index, message, finish_reason: finish.kind === 'finished' ? finish.reason : null, logprobs: null };
    });
    choices.sort((a, b) => a.index - b.index);
  } else if (typeof response.text === 'string') {
    const finish = finishOf(response.finishReason);
    if (finish.kind === 'failed') throw new GatewayError('upstream_error', `OCI ended the answer with finishReason "${finish.reason}"`);
    choices = [{ index: 0, message: { role: 'assistant', content: response.text, refusal: null }, finish_reason: finish.kind === 'finished' ? finish.reason : null, logprobs: null }];
  } else {
    throw new GatewayError('upstream_error', 'OCI answered with a chat response that has neither choices nor text');
  }
  const usage = countsOf(response.usage);
  const completion: ChatCompletion = { id: options.id, object: 'chat.completion', created: options.created, model: options.model, choices };
  if (usage) completion.usage = chatUsage(usage);
  return { completion, usage };
}

/**
 * One OpenAI chat request against OCI Generative AI. Per request, never shared: it holds the
 * SSE decoder and the stream's state in its fields (the format, which choices started and
 * finished, the usage seen, whether the include_usage chunk went out).
 */
export class OciChatTranslator implements ChatTranslator {
  readonly #options: TranslatorOptions;
  readonly #config: OciChatConfig;
  readonly #format: ApiFormat;
  #sse: SseDecoder | undefined;
  /** Choice index → finished; every started choice has an entry. */
  readonly #choices = new ChoiceProgress();
  /** Choice index → the ids of the tool calls it started, in OpenAI index order. */
  readonly #toolCalls = new Map<number, string[]>();
  #usage: TokenCounts | undefined;

  constructor(options: TranslatorOptions, config: OciChatConfig) {
    this.#options = options;
    this.#config = config;
    this.#format = apiFormatOf(options.model);
  }

  request(body: ChatRequest): NativeRequest {
    const o = this.#options;
    const { body: native, dropped } = toOciChat(body, o.model, this.#config.compartmentId, o.stream, o.includeUsage);
    return {
      path: '/20231130/actions/chat',
      headers: { 'content-type': 'application/json', accept: o.stream ? 'text/event-stream' : 'application/json' },
      body: Buffer.from(JSON.stringify(native)),
      dropped,
    };
  }

  response(body: Buffer): ChatCompletion {
    const { completion, usage } = toChatCompletion(parseProviderJson<unknown>(body, 'OCI'), this.#options);
    this.#usage = usage;
    return completion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    return this.#translate((this.#sse ??= new SseDecoder({ lineLimit: this.#options.streamLineLimit })).push(chunk));
  }

  end(): ChatCompletionChunk[] {
    const out = this.#translate((this.#sse ??= new SseDecoder({ lineLimit: this.#options.streamLineLimit })).end());
    this.#choices.assertComplete('OCI');
    if (this.#options.includeUsage && this.#usage) out.push(usageChunk(this.#options, this.#usage));
    return out;
  }

  errorMessage(body: Buffer): string | undefined {
    return ociErrorMessage(body);
  }

  usage(): TokenCounts | undefined {
    return this.#usage && { ...this.#usage };
  }

  #translate(events: SseEvent[]): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const ev of events) this.#event(ev, out);
    return out;
  }

  #event(ev: SseEvent, out: ChatCompletionChunk[]): void {
    if (ev.data === '' || ev.data === '[DONE]') return;
    let parsed: unknown;
    try {
      parsed = parseJsonWithin(ev.data);
    } catch {
      throw new StreamIncomplete('OCI sent a stream event that is not JSON (or nests too deep)');
    }
    if (!isObject(parsed)) throw new StreamIncomplete('OCI sent a stream event that is not a JSON object');
    if (typeof parsed['code'] === 'string' && typeof parsed['message'] === 'string') throw new StreamIncomplete(`OCI stream error: ${errorText(parsed)}`);
    const usage = countsOf(parsed['usage']);
    if (usage) this.#usage = usage;
    const finish = finishOf(parsed['finishReason']);
    const index = this.#format === 'GENERIC' && typeof parsed['index'] === 'number' ? parsed['index'] : 0;
    if (finish.kind === 'failed') throw new StreamIncomplete(`OCI ended choice ${index} with finishReason "${finish.reason}"`);
    // Cohere's last event repeats the whole answer in `text`; only its finishReason is news.
    const text = this.#format === 'GENERIC' ? genericText(parsed['message']) : finish.kind === 'open' && typeof parsed['text'] === 'string' ? parsed['text'] : null;
    const fragments = this.#format === 'GENERIC' ? rawToolCalls(parsed['message']) : [];
    if (text === null && fragments.length === 0 && finish.kind === 'open') return; // a usage-only or empty event
    const first = this.#choices.start(index);
    const delta: ChatCompletionChunk['choices'][number]['delta'] = {};
    if (first) delta.role = 'assistant';
    if (text !== null && text !== '') delta.content = text;
    else if (first) delta.content = fragments.length > 0 ? null : '';
    const toolCalls = this.#toolCallDeltas(index, fragments);
    if (toolCalls.length > 0) delta.tool_calls = toolCalls;
    if (finish.kind === 'finished') this.#choices.finish(index);
    out.push(choiceChunk(this.#options, index, delta, finish.kind === 'finished' ? finish.reason : null));
  }

  /**
   * Tool call fragments of choice `index` → OpenAI tool_calls deltas: a fragment with a new id (or
   * a name) starts a call, one without continues the last call's arguments.
   */
  #toolCallDeltas(index: number, fragments: Array<Record<string, unknown>>): ChunkToolCall[] {
    const out: ChunkToolCall[] = [];
    const ids = this.#toolCalls.get(index) ?? [];
    this.#toolCalls.set(index, ids);
    for (const f of fragments) {
      const id = typeof f['id'] === 'string' && f['id'] !== '' ? f['id'] : undefined;
      const name = typeof f['name'] === 'string' && f['name'] !== '' ? f['name'] : undefined;
      const args = typeof f['arguments'] === 'string' ? f['arguments'] : f['arguments'] === undefined || f['arguments'] === null ? '' : JSON.stringify(f['arguments']);
      const continues = ids.length > 0 && (id === undefined ? name === undefined : id === ids[ids.length - 1]);
      if (continues) {
        if (args !== '') out.push({ index: ids.length - 1, function: { arguments: args } });
        continue;
      }
      ids.push(id ?? `call_${index}_${ids.length}`);
      out.push({ index: ids.length - 1, id: ids[ids.length - 1]!, type: 'function', function: { name: name ?? '', arguments: args } });
    }
    return out;
  }
}

/**
 * Protocol mode for an OCI instance: binds its compartment.
 *
 * @example
 * const chat = ociChat({ compartmentId: 'ocid1.compartment.oc1..a' });
 * const t = chat({ model: 'meta.llama-3.3-70b-instruct', id, created, stream: true, includeUsage: true });
 */
export const ociChat = (config: OciChatConfig): ChatTranslatorFactory => (options) => new OciChatTranslator(options, config);
