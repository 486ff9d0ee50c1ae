import { GatewayError } from '../../errors/gateway-error.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  ChatRequest,
  ChunkToolCall,
  FinishReason,
  ToolCall,
} from '../../protocol/openai.js';
import { ChoiceProgress, chatUsage, choiceChunk, usageChunk, type TokenCounts } from '../../protocol/chunks.js';
import { parseJsonWithin, parseProviderJson } from '../../protocol/json.js';
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
 * OpenAI Chat Completions ↔ IBM watsonx.ai text chat.
 * Request:  `POST /ml/v1/text/chat?version=…` (JSON) and `POST /ml/v1/text/chat_stream?version=…`
 *           (SSE: `id: n`, `event: message`, `data: {chunk}`), https://cloud.ibm.com/apidocs/watsonx-ai#text-chat
 * Fields:   IBM's SDKs (`TextChatParams` in @ibm-cloud/watsonx-ai, `TextChatRequest` in
 *           watsonx-ai-java-sdk) spell the body; answers and chunks are OpenAI-like plus
 *           `model_id`, `created_at`, `model_version`, `system.warnings`, `reasoning_content`.
 *
 * Request parameters (null counts as absent everywhere; the rule names are watsonxChatParameters):
 * | OpenAI                                 | Rule        | watsonx                                                   |
 * |----------------------------------------|-------------|-----------------------------------------------------------|
 * | model                                  | mapped      | `model_id` (the resolved model)                           |
 * | (instance config)                      |             | `project_id` or `space_id`; `version` query parameter     |
 * | messages: system, developer            | mapped      | `system` (watsonx has no developer role in every version); text parts joined |
 * | messages: user                         | mapped      | `user`; parts text, image_url {url, detail}, input_audio {data, format} |
 * | messages: assistant                    | mapped      | `assistant`: text parts joined; tool_calls; refusal       |
 * | messages: tool                         | mapped      | `tool` {content, tool_call_id} (tool_call_id required)    |
 * | messages[].name                        | mapped      | kept on system, user, assistant; watsonx tool messages have none |
 * | other roles (function), other parts (file) | mapped  | refused                                                   |
 * | stream                                 | mapped      | the path: `chat` or `chat_stream` (no body field)         |
 * | stream_options.include_usage           | mapped      | watsonx always ends a stream with usage; sent on only when asked |
 * | max_tokens, max_completion_tokens      | passthrough | same names (watsonx ignores max_tokens when both are set) |
 * | temperature, top_p, n, seed            | passthrough |                                                           |
 * | presence_penalty, frequency_penalty    | passthrough |                                                           |
 * | logprobs, top_logprobs, logit_bias     | passthrough | choices' `logprobs` are passed back as watsonx sends them |
 * | stop                                   | mapped      | always an array                                           |
 * | response_format text / json_object / json_schema | mapped | same shape; any other type refused                 |
 * | tools                                  | mapped      | `{type:'function', function:{name, description, parameters}}`; `strict` dropped |
 * | tool_choice none / auto / required     | mapped      | `tool_choice_option`                                      |
 * | tool_choice {type:'function', …}       | mapped      | `tool_choice` (watsonx takes one or the other, never both) |
 * | reasoning_effort low / medium / high   | mapped      | `reasoning_effort`; other values (minimal, none, xhigh) dropped |
 * | modalities ["text"]                    | mapped      | nothing; any other modality refused                       |
 * | parallel_tool_calls, user, safety_identifier, metadata, store, service_tier, prompt_cache_key, prediction, verbosity | dropped | |
 * | functions, function_call, audio, web_search_options | refused | ignoring them would change what the client gets |
 * | any other parameter                    | refused     | (ParameterRules: a parameter not listed is refused)       |
 *
 * Answers: `model` is the model the client asked for, `id`/`created` the gateway's. Choices keep
 * their index; `tool_calls` lose watsonx's extra `index`. Finish reasons: stop, length and
 * tool_calls as they are; time_limit → length (the answer was cut off by a limit); error and
 * cancelled → the answer is refused (a 502, or StreamIncomplete in a stream); an unknown reason
 * → null, never a guessed one. Usage: prompt/completion/total tokens as reported.
 *
 * `reasoning_content` (gpt-oss and other reasoning models) is passed on, on the message and on
 * deltas, under the same name: it is the de-facto field of OpenAI-compatible servers (vLLM,
 * DeepSeek), OpenAI SDKs keep unknown fields, and dropping it would lose what the client paid
 * for. Granite's inline `<think>…</think>` stays in `content` as the model wrote it.
 *
 * Streams: watsonx interleaves choices by index; each delta becomes one OpenAI chunk (empty
 * deltas, such as `reasoning_content: ""`, are skipped); tool-call deltas keep their index, with
 * `id`/`type`/`name` only on the first one. The last watsonx chunk has `choices: []` and usage:
 * it becomes the include_usage chunk, and (as IBM's own SDK does) a choice that streamed tool
 * calls without a finish_reason, which some models do with `tool_choice_option: required`, gets
 * `tool_calls` there. A stream is complete when every choice it started has finished; an end
 * before that, an `event: error`, an error body or malformed JSON throw StreamIncomplete.
 */

// ---------------------------------------------------------------------------------------------
// watsonx wire types (the subset the gateway writes or reads).

/** Who a watsonx request bills: exactly one of a project and a deployment space. */
export type WatsonxScope = { readonly project_id: string } | { readonly space_id: string };

export interface WatsonxChatConfig {
  scope: WatsonxScope;
  /** The `version` query parameter every watsonx call carries (an API version date). */
  version: string;
}

type WatsonxUserContent =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: 'input_audio'; input_audio: { data: string; format: string } };

type WatsonxMessage =
  | { role: 'system'; content: string; name?: string }
  | { role: 'user'; content: string | WatsonxUserContent[]; name?: string }
  | { role: 'assistant'; content?: string; name?: string; refusal?: string; tool_calls?: ToolCall[] }
  | { role: 'tool'; content: string; tool_call_id: string };

interface WatsonxTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

interface WatsonxUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
}

interface WatsonxToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

interface WatsonxChoice {
  index?: number;
  message?: { content?: string | null; reasoning_content?: string | null; refusal?: string | null; tool_calls?: Array<WatsonxToolCallDelta & { function?: { name?: string; arguments?: unknown } }> };
  delta?: { role?: string; content?: string | null; reasoning_content?: string | null; refusal?: string | null; tool_calls?: WatsonxToolCallDelta[] };
  finish_reason?: string | null;
  logprobs?: unknown;
}

interface WatsonxAnswer {
  choices?: WatsonxChoice[];
  usage?: WatsonxUsage | null;
  errors?: Array<{ code?: unknown; message?: unknown }>;
}

// ---------------------------------------------------------------------------------------------
// Request.

/** What this translator does with each OpenAI chat parameter (the table above). */
export const watsonxChatParameters = {
  model: 'mapped',
  messages: 'mapped',
  stream: 'mapped',
  stream_options: 'mapped',
  max_tokens: 'passthrough',
  max_completion_tokens: 'passthrough',
  temperature: 'passthrough',
  top_p: 'passthrough',
  n: 'passthrough',
  seed: 'passthrough',
  presence_penalty: 'passthrough',
  frequency_penalty: 'passthrough',
  logprobs: 'passthrough',
  top_logprobs: 'passthrough',
  logit_bias: 'passthrough',
  stop: 'mapped',
  response_format: 'mapped',
  tools: 'mapped',
  tool_choice: 'mapped',
  reasoning_effort: 'mapped',
  modalities: 'mapped',
  parallel_tool_calls: 'dropped',
  user: 'dropped',
  safety_identifier: 'dropped',
  metadata: 'dropped',
  store: 'dropped',
  service_tier: 'dropped',
  prompt_cache_key: 'dropped',
  prediction: 'dropped',
  verbosity: 'dropped',
  functions: 'refused',
  function_call: 'refused',
  audio: 'refused',
  web_search_options: 'refused',
} as const satisfies ParameterRules;

const PARAMETERS: ParameterRules = watsonxChatParameters;

const REFUSAL_REASONS: Readonly<Record<string, string>> = {
  functions: 'functions is deprecated and not translated: use tools',
  function_call: 'function_call is deprecated and not translated: use tool_choice',
  audio: 'audio: watsonx chat produces no audio output',
  web_search_options: 'web_search_options: web search is not available through watsonx',
};

const REASONING_EFFORTS = new Set(['low', 'medium', 'high']);

/** A refusal naming the field its message starts with (protocol/translator.ts). */
const invalid = refusal;

const present = (v: unknown): boolean => v !== undefined && v !== null;
const isObject = <T>(v: T): v is T & Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The watsonx `text/chat` body for an OpenAI request (without the stream choice, which is the
 * path), and the parameters dropped on the way. Throws GatewayError('invalid_request').
 *
 * @example
 * const { body, dropped } = toWatsonxChat(req, 'ibm/granite-3-8b-instruct', { project_id: 'p-1' });
 * // body: { model_id: 'ibm/granite-3-8b-instruct', project_id: 'p-1', messages: [...], ... }
 */
export function toWatsonxChat(req: ChatRequest, model: string, scope: WatsonxScope): { body: Record<string, unknown>; dropped: string[] } {
  const dropped: string[] = [];
  const body: Record<string, unknown> = { model_id: model, ...scope, messages: mapMessages(req.messages) };
  for (const key of Object.keys(req)) {
    const value = req[key];
    if (!present(value)) continue;
    const rule = Object.hasOwn(PARAMETERS, key) ? PARAMETERS[key]! : 'refused';
    switch (rule) {
      case 'passthrough':
        body[key] = value;
        break;
      case 'dropped':
        dropped.push(key);
        break;
      case 'refused':
        throw invalid(REFUSAL_REASONS[key] ?? `${key.slice(0, 64)}: this parameter is not supported by the watsonx translation`);
      case 'mapped':
        mapParameter(key, value, body, dropped);
        break;
      default:
        rule satisfies never;
    }
  }
  return { body, dropped };
}

/** The `mapped` parameters other than messages (read above). */
function mapParameter(key: string, value: unknown, body: Record<string, unknown>, dropped: string[]): void {
  switch (key) {
    case 'model':
    case 'messages':
    case 'stream':
    case 'stream_options':
      return; // model_id, messages and the path are set by the caller; include_usage comes with TranslatorOptions
    case 'stop': {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw invalid('stop must be a string or an array of strings');
      if (list.length > 0) body['stop'] = list;
      return;
    }
    case 'response_format': {
      const type = isObject(value) ? value['type'] : undefined;
      if (type !== 'text' && type !== 'json_object' && type !== 'json_schema') {
        throw invalid('response_format.type must be text, json_object or json_schema');
      }
      if (type === 'json_schema' && !isObject((value as Record<string, unknown>)['json_schema'])) throw invalid('response_format.json_schema is required');
      body['response_format'] = value;
      return;
    }
    case 'tools': {
      if (!Array.isArray(value)) throw invalid('tools must be an array');
      if (value.length === 0) return;
      body['tools'] = value.map((tool, i) => mapTool(tool, i, dropped));
      return;
    }
    case 'tool_choice':
      mapToolChoice(value, body);
      return;
    case 'reasoning_effort':
      if (typeof value === 'string' && REASONING_EFFORTS.has(value)) body['reasoning_effort'] = value;
      else dropped.push('reasoning_effort');
      return;
    case 'modalities':
      if (!Array.isArray(value) || value.some((m) => m !== 'text')) throw invalid('modalities: watsonx chat produces text only');
      return;
    default:
      throw new Error(`watsonx translator: parameter "${key}" is marked mapped but has no mapping`);
  }
}

function mapTool(tool: unknown, i: number, dropped: string[]): WatsonxTool {
  if (!isObject(tool) || tool['type'] !== 'function' || !isObject(tool['function'])) {
    throw invalid(`tools[${i}]: only {"type":"function","function":{...}} tools are supported`);
  }
  const fn = tool['function'];
  if (typeof fn['name'] !== 'string' || fn['name'] === '') throw invalid(`tools[${i}].function.name is required`);
  const out: WatsonxTool = { type: 'function', function: { name: fn['name'] } };
  if (typeof fn['description'] === 'string') out.function.description = fn['description'];
  if (isObject(fn['parameters'])) out.function.parameters = fn['parameters'];
  if (fn['strict'] === true && !dropped.includes('tools.function.strict')) dropped.push('tools.function.strict');
  return out;
}

function mapToolChoice(choice: unknown, body: Record<string, unknown>): void {
  if (choice === 'none' || choice === 'auto' || choice === 'required') {
    body['tool_choice_option'] = choice;
    return;
  }
  if (isObject(choice) && choice['type'] === 'function' && isObject(choice['function']) && typeof choice['function']['name'] === 'string') {
    body['tool_choice'] = { type: 'function', function: { name: choice['function']['name'] } };
    return;
  }
  throw invalid('tool_choice must be none, auto, required or {"type":"function","function":{"name":...}}');
}

function mapMessages(messages: ChatMessage[]): WatsonxMessage[] {
  return messages.map((msg, i) => {
    if (!isObject(msg)) throw invalid(`messages[${i}] must be an object`);
    const name = typeof msg.name === 'string' && msg.name !== '' ? { name: msg.name } : {};
    switch (msg.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content: joinedText(msg.content, i, 'system'), ...name };
      case 'user':
        return { role: 'user', content: userContent(msg.content, i), ...name };
      case 'assistant':
        return assistantMessage(msg, i, name);
      case 'tool': {
        if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') throw invalid(`messages[${i}].tool_call_id is required`);
        return { role: 'tool', content: joinedText(msg.content, i, 'tool'), tool_call_id: msg.tool_call_id };
      }
      default:
        throw invalid(`messages[${i}].role "${String((msg as { role?: unknown }).role).slice(0, 32)}" is not supported (system, developer, user, assistant, tool)`);
    }
  });
}

/** A text-only message's content: a string, or text parts concatenated. */
function joinedText(content: ChatMessage['content'] | undefined, i: number, role: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(`messages[${i}].content must be a string or an array of parts`);
  return content
    .map((part, j) => {
      if (!isObject(part) || part['type'] !== 'text' || typeof part['text'] !== 'string') throw invalid(`messages[${i}].content[${j}]: ${role} messages take text parts only`);
      return part['text'];
    })
    .join('');
}

function userContent(content: ChatMessage['content'] | undefined, i: number): string | WatsonxUserContent[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(`messages[${i}].content must be a string or an array of parts`);
  return content.map((part: unknown, j): WatsonxUserContent => {
    const where = `messages[${i}].content[${j}]`;
    if (!isObject(part)) throw invalid(`${where} must be an object`);
    switch (part['type']) {
      case 'text':
        if (typeof part['text'] !== 'string') throw invalid(`${where}.text must be a string`);
        return { type: 'text', text: part['text'] };
      case 'image_url': {
        const image = part['image_url'];
        if (!isObject(image) || typeof image['url'] !== 'string') throw invalid(`${where}.image_url.url is required`);
        return { type: 'image_url', image_url: typeof image['detail'] === 'string' ? { url: image['url'], detail: image['detail'] } : { url: image['url'] } };
      }
      case 'input_audio': {
        const audio = part['input_audio'];
        if (!isObject(audio) || typeof audio['data'] !== 'string' || typeof audio['format'] !== 'string') throw invalid(`${where}.input_audio needs data and format`);
        return { type: 'input_audio', input_audio: { data: audio['data'], format: audio['format'] } };
      }
      default:
        throw invalid(`${where}: part type "${String(part['type']).slice(0, 32)}" is not supported by watsonx (text, image_url, input_audio)`);
    }
  });
}

function assistantMessage(msg: ChatMessage, i: number, name: { name?: string }): WatsonxMessage {
  const out: Extract<WatsonxMessage, { role: 'assistant' }> = { role: 'assistant', ...name };
  const texts: string[] = [];
  if (typeof msg.content === 'string') texts.push(msg.content);
  else if (Array.isArray(msg.content)) {
    for (const [j, part] of (msg.content as unknown[]).entries()) {
      if (isObject(part) && part['type'] === 'text' && typeof part['text'] === 'string') texts.push(part['text']);
      else if (isObject(part) && part['type'] === 'refusal' && typeof part['refusal'] === 'string') out.refusal = part['refusal'];
      else throw invalid(`messages[${i}].content[${j}]: assistant messages take text and refusal parts only`);
    }
  } else if (msg.content !== null && msg.content !== undefined) throw invalid(`messages[${i}].content must be a string, an array of parts or null`);
  if (Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0) {
    out.tool_calls = msg.tool_calls.map((call, j) => {
      if (!isObject(call) || typeof call.id !== 'string' || !isObject(call.function) || typeof call.function.name !== 'string') {
        throw invalid(`messages[${i}].tool_calls[${j}] needs id and function.name`);
      }
      const args = call.function.arguments;
      return { id: call.id, type: 'function', function: { name: call.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) } };
    });
  }
  // watsonx requires content unless tool_calls are given.
  if (texts.length > 0 || out.tool_calls === undefined) out.content = texts.join('');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Answers and streams.

type Finish = { kind: 'finished'; reason: FinishReason | null } | { kind: 'failed'; reason: string } | { kind: 'open' };

/** watsonx finish_reason → what it means here. `""` counts as none (IBM's SDK notes it on some endpoints). */
export function finishOf(reason: unknown): Finish {
  switch (reason) {
    case undefined:
    case null:
    case '':
      return { kind: 'open' };
    case 'stop':
      return { kind: 'finished', reason: 'stop' };
    case 'length':
      return { kind: 'finished', reason: 'length' };
    case 'tool_calls':
      return { kind: 'finished', reason: 'tool_calls' };
    case 'time_limit':
      return { kind: 'finished', reason: 'length' };
    case 'error':
    case 'cancelled':
      return { kind: 'failed', reason: reason as string };
    default:
      return { kind: 'finished', reason: null };
  }
}

function countsOf(usage: WatsonxUsage | null | undefined): TokenCounts | undefined {
  if (!isObject(usage)) return undefined;
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const input = n(usage.prompt_tokens);
  const output = n(usage.completion_tokens);
  if (input === undefined && output === undefined) return undefined;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
}

/** The shared types pin `logprobs: null`; watsonx's own (when asked for) are passed on as they came. */
function logprobsOf(choice: WatsonxChoice): null {
  return (isObject(choice.logprobs) ? choice.logprobs : null) as null;
}

/** The message of a watsonx error body (`{"errors":[{"code","message"}],"trace","status_code"}`); undefined if none. */
export function watsonxErrorMessage(body: Buffer | string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return undefined;
  }
  return errorText(parsed);
}

function errorText(parsed: unknown): string | undefined {
  if (!isObject(parsed)) return undefined;
  if (Array.isArray(parsed['errors'])) {
    const texts = parsed['errors'].flatMap((e: unknown) => {
      if (!isObject(e) || typeof e['message'] !== 'string') return [];
      return [typeof e['code'] === 'string' && e['code'] !== '' ? `${e['message']} (${e['code']})` : e['message']];
    });
    if (texts.length > 0) return texts.join('; ');
  }
  const error = parsed['error'];
  if (isObject(error) && typeof error['message'] === 'string') return error['message'];
  return typeof parsed['message'] === 'string' ? parsed['message'] : undefined;
}

/** A non-streaming watsonx answer as a chat.completion. */
export function toChatCompletion(answer: WatsonxAnswer, options: TranslatorOptions): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  if (!isObject(answer) || !Array.isArray(answer.choices)) {
    throw new GatewayError('upstream_error', 'watsonx answered with a body that is not a chat response');
  }
  const choices = answer.choices.map((c, i): ChatCompletion['choices'][number] => {
    if (!isObject(c)) throw new GatewayError('upstream_error', 'watsonx answered with a choice that is not an object');
    const finish = finishOf(c.finish_reason);
    const index = typeof c.index === 'number' ? c.index : i;
    if (finish.kind === 'failed') throw new GatewayError('upstream_error', `watsonx ended choice ${index} with finish_reason "${finish.reason}"`);
    const m = isObject(c.message) ? c.message : {};
    const message: ChatCompletion['choices'][number]['message'] & { reasoning_content?: string } = {
      role: 'assistant',
      content: typeof m.content === 'string' ? m.content : null,
      refusal: typeof m.refusal === 'string' && m.refusal !== '' ? m.refusal : null,
    };
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      // Read defensively: the answer may hold anything where a call belongs.
      message.tool_calls = m.tool_calls.filter(isObject).map((t) => {
        const fn = isObject(t.function) ? t.function : {};
        return {
          id: typeof t.id === 'string' ? t.id : '',
          type: 'function',
          function: { name: typeof fn.name === 'string' ? fn.name : '', arguments: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {}) },
        };
      });
    }
    if (typeof m.reasoning_content === 'string' && m.reasoning_content !== '') message.reasoning_content = m.reasoning_content;
    return { index, message, finish_reason: finish.kind === 'finished' ? finish.reason : null, logprobs: logprobsOf(c) };
  });
  choices.sort((a, b) => a.index - b.index);
  const usage = countsOf(answer.usage);
  const completion: ChatCompletion = { id: options.id, object: 'chat.completion', created: options.created, model: options.model, choices };
  if (usage) completion.usage = chatUsage(usage);
  return { completion, usage };
}

type OutDelta = ChatCompletionChunk['choices'][number]['delta'] & { reasoning_content?: string; refusal?: string };

/**
 * One OpenAI chat request against watsonx. Per request, never shared: it holds the SSE decoder
 * and the stream's state in its fields (which choices started, finished or streamed tool calls;
 * the usage seen; whether the include_usage chunk went out).
 */
export class WatsonxChatTranslator implements ChatTranslator {
  readonly #options: TranslatorOptions;
  readonly #config: WatsonxChatConfig;
  readonly #paths: { chat: string; stream: string };
  #sse: SseDecoder | undefined;
  /** Choice index → finished; every started choice has an entry. */
  readonly #choices = new ChoiceProgress();
  readonly #toolCallChoices = new Set<number>();
  #usage: TokenCounts | undefined;
  #usageSent = false;

  constructor(options: TranslatorOptions, config: WatsonxChatConfig, paths: { chat: string; stream: string }) {
    this.#options = options;
    this.#config = config;
    this.#paths = paths;
  }

  request(body: ChatRequest): NativeRequest {
    const { body: native, dropped } = toWatsonxChat(body, this.#options.model, this.#config.scope);
    const stream = this.#options.stream;
    return {
      path: stream ? this.#paths.stream : this.#paths.chat,
      headers: { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' },
      body: Buffer.from(JSON.stringify(native)),
      dropped,
    };
  }

  response(body: Buffer): ChatCompletion {
    const answer = parseProviderJson<WatsonxAnswer>(body, 'watsonx');
    const { completion, usage } = toChatCompletion(answer, this.#options);
    this.#usage = usage;
    return completion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    return this.#translate((this.#sse ??= new SseDecoder({ lineLimit: this.#options.streamLineLimit })).push(chunk));
  }

  end(): ChatCompletionChunk[] {
    // The last event may lack its blank line: the decoder's end() still dispatches it.
    const out = this.#translate((this.#sse ??= new SseDecoder({ lineLimit: this.#options.streamLineLimit })).end());
    this.#choices.assertComplete('watsonx');
    this.#sendUsage(out);
    return out;
  }

  errorMessage(body: Buffer): string | undefined {
    return watsonxErrorMessage(body);
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
    if (ev.event === 'close' || ev.data === '[DONE]') return;
    if (ev.event === 'error') {
      throw new StreamIncomplete(`watsonx stream error: ${(errorText(tryParse(ev.data)) ?? ev.data.slice(0, 500)) || 'no message'}`);
    }
    const parsed = tryParse(ev.data);
    if (!isObject(parsed)) throw new StreamIncomplete('watsonx sent a stream event that is not a JSON object');
    const chunk = parsed as WatsonxAnswer;
    if (Array.isArray(chunk.errors)) throw new StreamIncomplete(`watsonx stream error: ${errorText(chunk) ?? 'no message'}`);
    const usage = countsOf(chunk.usage);
    if (usage) this.#usage = usage;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    for (const c of choices) this.#choice(c, out);
    if (choices.length === 0 && usage) this.#final(out);
  }

  #choice(c: WatsonxChoice, out: ChatCompletionChunk[]): void {
    if (!isObject(c)) return;
    const index = typeof c.index === 'number' ? c.index : 0;
    this.#choices.start(index);
    const finish = finishOf(c.finish_reason);
    if (finish.kind === 'failed') throw new StreamIncomplete(`watsonx ended choice ${index} with finish_reason "${finish.reason}"`);
    const d = isObject(c.delta) ? c.delta : {};
    const delta: OutDelta = {};
    if (d.role === 'assistant') delta.role = 'assistant';
    // The opening delta is {role, content: ""}, as OpenAI's; elsewhere an empty string says nothing.
    if (typeof d.content === 'string' && (d.content !== '' || delta.role !== undefined)) delta.content = d.content;
    if (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') delta.reasoning_content = d.reasoning_content;
    if (typeof d.refusal === 'string' && d.refusal !== '') delta.refusal = d.refusal;
    const calls = Array.isArray(d.tool_calls) ? this.#toolCalls(index, d.tool_calls) : [];
    if (calls.length > 0) delta.tool_calls = calls;
    const reason = finish.kind === 'finished' ? finish.reason : null;
    if (finish.kind === 'finished') this.#choices.finish(index);
    if (Object.keys(delta).length === 0 && reason === null) return;
    out.push(this.#chunk(index, delta, reason, logprobsOf(c)));
  }

  /** watsonx tool-call deltas as OpenAI's: `id`, `type` and `name` only when watsonx names them. */
  #toolCalls(choice: number, deltas: WatsonxToolCallDelta[]): ChunkToolCall[] {
    const out: ChunkToolCall[] = [];
    for (const [i, t] of deltas.entries()) {
      if (!isObject(t)) continue;
      const call: ChunkToolCall = { index: typeof t.index === 'number' ? t.index : i };
      if (typeof t.id === 'string' && t.id !== '') {
        call.id = t.id;
        call.type = 'function';
      }
      const fn: NonNullable<ChunkToolCall['function']> = {};
      const name = t.function?.name;
      const args = t.function?.arguments;
      if (typeof name === 'string' && name !== '') fn.name = name;
      if (typeof args === 'string' && (args !== '' || call.id !== undefined)) fn.arguments = args;
      if (fn.name !== undefined || fn.arguments !== undefined) call.function = fn;
      if (call.id === undefined && call.function === undefined) continue;
      this.#toolCallChoices.add(choice);
      out.push(call);
    }
    return out;
  }

  /** watsonx's last chunk (`choices: []`, usage). */
  #final(out: ChatCompletionChunk[]): void {
    for (const index of this.#toolCallChoices) {
      if (this.#choices.isOpen(index)) {
        this.#choices.finish(index);
        out.push(this.#chunk(index, {}, 'tool_calls', null));
      }
    }
    this.#sendUsage(out);
  }

  /** The include_usage chunk, once: on watsonx's usage-only last event, else at the end. */
  #sendUsage(out: ChatCompletionChunk[]): void {
    if (!this.#options.includeUsage || this.#usageSent || !this.#usage) return;
    this.#usageSent = true;
    out.push(usageChunk(this.#options, this.#usage));
  }

  #chunk(index: number, delta: OutDelta, finish: FinishReason | null, logprobs: null): ChatCompletionChunk {
    const chunk = choiceChunk(this.#options, index, delta, finish);
    chunk.choices[0]!.logprobs = logprobs;
    return chunk;
  }
}

function tryParse(text: string): unknown {
  try {
    // Bounded: what is parsed (logprobs) may be serialised again to the client.
    return parseJsonWithin(text);
  } catch {
    return undefined;
  }
}

/**
 * Protocol mode for a watsonx instance: binds its project or space and API version, and builds
 * the two native paths once.
 *
 * @example
 * const chat = watsonxChat({ scope: { project_id: 'p-1' }, version: '2025-12-05' });
 * const t = chat({ model: 'ibm/granite-3-8b-instruct', id, created, stream: true, includeUsage: true });
 */
export const watsonxChat = (config: WatsonxChatConfig): ChatTranslatorFactory => {
  const query = `?version=${encodeURIComponent(config.version)}`;
  const paths = { chat: `/ml/v1/text/chat${query}`, stream: `/ml/v1/text/chat_stream${query}` };
  return (options) => new WatsonxChatTranslator(options, config, paths);
};
