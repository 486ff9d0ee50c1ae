import { chatUsage, choiceChunk, usageChunk, type ChunkDelta } from '../../protocol/chunks.js';
import { parseJsonWithin, parseProviderJson } from '../../protocol/json.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { bedrockEvent, EventStreamDecoder, EventStreamError, type EventStreamMessage } from '../../protocol/aws-eventstream.js';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ChatUsage, ChunkToolCall, CustomTool, CustomToolCall, FinishReason, Tool, ToolCall, ToolChoice } from '../../protocol/openai.js';
import { StreamIncomplete, refusal, type ChatTranslator, type ChatTranslatorFactory, type NativeRequest, type TranslatorOptions } from '../../protocol/translator.js';
import { emptyUsage } from '../usage.js';
import { bedrockUsage } from './usage.js';

/*
 * OpenAI Chat Completions ↔ Bedrock Converse / ConverseStream.
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
 *
 * | OpenAI                              | Converse                                                  | rule    |
 * | ----------------------------------- | --------------------------------------------------------- | ------- |
 * | model                               | path `/model/{encodeURIComponent(model)}/converse[-stream]` | mapped  |
 * | stream                              | `/converse-stream` (TranslatorOptions.stream decides)      | mapped  |
 * | stream_options.include_usage        | last chunk `choices: []` + usage from `metadata`           | mapped  |
 * | messages: system, developer         | `system: [{text}]`, in order (their position is lost)      | mapped  |
 * | messages: user / assistant text     | `{text}` blocks; empty text is skipped (Converse rejects   | mapped  |
 * |                                     | blank text), consecutive same-role messages are merged     |         |
 * | image_url `data:image/…;base64,`    | `{image: {format, source: {bytes: <base64>}}}`             | mapped  |
 * | image_url http(s) / other URL       | Converse takes bytes or S3 only                            | refused |
 * | image_url.detail                    | no equivalent                                              | dropped |
 * | assistant `refusal` parts           | `{text}`                                                   | mapped  |
 * | content parts other than text/image | (input_audio, file, …)                                     | refused |
 * | assistant tool_calls                | `{toolUse: {toolUseId, name, input: JSON.parse(args)}}`    | mapped  |
 * | tool messages                       | user `{toolResult: {toolUseId, content: [{text}]}}`, merged | mapped  |
 * | messages[].name                     | no equivalent                                              | dropped |
 * | max_completion_tokens ?? max_tokens | inferenceConfig.maxTokens                                  | mapped  |
 * | temperature, top_p                  | inferenceConfig.temperature, topP (Bedrock checks ranges)  | mapped  |
 * | stop                                | inferenceConfig.stopSequences                              | mapped  |
 * | tools (function)                    | toolConfig.tools[].toolSpec {name, description,            | mapped  |
 * |                                     | inputSchema.json, strict (only when true)}                 |         |
 * | tools of another type               |                                                            | refused |
 * | tool_choice auto / required / fn    | toolChoice {auto:{}} / {any:{}} / {tool:{name}}            | mapped  |
 * | tool_choice none                    | toolConfig withheld (Converse has no "none"); refused when | mapped  |
 * |                                     | the history holds tool calls, as Converse then requires    |         |
 * |                                     | toolConfig and offering the tools would allow calls        |         |
 * | tool_choice required/fn, no tools   |                                                            | refused |
 * | response_format text                | (the default)                                              | mapped  |
 * | response_format json_schema         | outputConfig.textFormat {type: json_schema, structure:     | mapped  |
 * |                                     | {jsonSchema: {schema: <JSON string>, name, description}}}; |         |
 * |                                     | models without structured output answer Bedrock's 400      |         |
 * | response_format json_object         | no schema-less JSON mode                                   | refused |
 * | n ≠ 1                               | one answer per call                                        | refused |
 * | logprobs: true, top_logprobs > 0    | not reported by Converse                                   | refused |
 * | functions, function_call            | deprecated; use tools                                      | refused |
 * | audio, modalities ≠ ["text"]        | text output only                                           | refused |
 * | web_search_options                  | no search                                                  | refused |
 * | parallel_tool_calls: false          | cannot be switched off                                     | dropped |
 * | presence_penalty, frequency_penalty, seed, logit_bias, user, metadata, store,  | dropped |
 * | service_tier, reasoning_effort, prediction, prompt_cache_key, safety_identifier, |       |
 * | verbosity, and any other top-level field not named above                      |         |
 *
 * Answers: text blocks are joined; toolUse blocks become tool_calls (arguments =
 * JSON.stringify(input)); reasoningContent, citations and server-side tool use
 * (`toolUse.type: server_tool_use`, run by Bedrock itself) are not passed on.
 * stopReason: end_turn, stop_sequence → stop; max_tokens, model_context_window_exceeded → length;
 * tool_use → tool_calls; guardrail_intervened, content_filtered → content_filter;
 * malformed_model_output, malformed_tool_use → an error (the output is unusable; reporting a
 * normal finish would hand the client broken JSON or a lost tool call); any other value → stop
 * (the message did stop; OpenAI clients know only four reasons).
 */

/**
 * Protocol mode for Bedrock: an OpenAI chat request as a Converse (or ConverseStream) call, and
 * the answer back. One object per request: it holds the stream's decoder and state in fields.
 *
 * @example
 * const t = converseChat({ model: 'anthropic.claude-3-haiku-20240307-v1:0', id, created, stream: true, includeUsage: true });
 * t.request(body).path; // '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream'
 * for (const bytes of upstream) send(t.push(bytes)); // role, content, tool_calls, finish chunks
 * send(t.end());                                      // throws StreamIncomplete without messageStop + metadata
 */
export const converseChat: ChatTranslatorFactory = (options) => new ConverseChat(options);

// ---------------------------------------------------------------------------------------------
// Converse wire types (the subset written or read here)

type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';
type TextBlock = { text: string };
type ContentBlock =
  | TextBlock
  | { image: { format: ImageFormat; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | { toolResult: { toolUseId: string; content: TextBlock[] } };

interface ConverseMessage {
  role: 'user' | 'assistant';
  content: ContentBlock[];
}

interface ToolSpec {
  name: string;
  description?: string;
  inputSchema: { json: unknown };
  strict?: boolean;
}

type ConverseToolChoice = { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };

interface ConverseRequest {
  messages: ConverseMessage[];
  system?: TextBlock[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: { tools: Array<{ toolSpec: ToolSpec }>; toolChoice?: ConverseToolChoice };
  outputConfig?: { textFormat: { type: 'json_schema'; structure: { jsonSchema: { schema: string; name?: string; description?: string } } } };
}

// ---------------------------------------------------------------------------------------------
// Request

/** Top-level fields read below; any other non-null field is reported as dropped. */
const READ_FIELDS = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'n',
  'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'logprobs', 'top_logprobs', 'functions', 'function_call',
  'audio', 'modalities', 'web_search_options',
]);

const IMAGE_FORMATS: Readonly<Record<string, ImageFormat>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

function refuse(message: string): never {
  throw refusal(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function converseRequest(body: ChatRequest): { converse: ConverseRequest; dropped: string[] } {
  const dropped = new Set<string>();
  refuseUnsupported(body);
  for (const key of Object.keys(body)) {
    if (!READ_FIELDS.has(key) && body[key] !== null && body[key] !== undefined) dropped.add(key);
  }
  if (body.parallel_tool_calls === false) dropped.add('parallel_tool_calls');

  const { system, messages, toolHistory } = converseMessages(body.messages, dropped);
  const converse: ConverseRequest = { messages };
  if (system.length > 0) converse.system = system;

  const inference: NonNullable<ConverseRequest['inferenceConfig']> = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== null && maxTokens !== undefined) inference.maxTokens = maxTokens;
  if (body.temperature !== null && body.temperature !== undefined) inference.temperature = body.temperature;
  if (body.top_p !== null && body.top_p !== undefined) inference.topP = body.top_p;
  const stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  if (Array.isArray(stop) && stop.length > 0) inference.stopSequences = stop;
  if (Object.keys(inference).length > 0) converse.inferenceConfig = inference;

  const toolConfig = converseTools(body.tools, body.tool_choice, toolHistory);
  if (toolConfig) converse.toolConfig = toolConfig;

  const outputConfig = converseOutput(body.response_format);
  if (outputConfig) converse.outputConfig = outputConfig;
  return { converse, dropped: [...dropped] };
}

/** Parameters that would change the answer's meaning and have no Converse equivalent. */
function refuseUnsupported(body: ChatRequest): void {
  if (body.n !== null && body.n !== undefined && body.n !== 1) refuse(`n=${String(body.n)} is not supported: Bedrock Converse returns one choice`);
  if (body.logprobs === true || (typeof body['top_logprobs'] === 'number' && body['top_logprobs'] > 0)) {
    refuse('logprobs are not supported: Bedrock Converse does not report them');
  }
  if (body['functions'] != null || body['function_call'] != null) refuse('"functions" and "function_call" are not supported; use "tools"');
  if (body['audio'] != null) refuse('audio output is not supported by Bedrock Converse');
  const modalities = body['modalities'];
  if (Array.isArray(modalities) && modalities.some((m) => m !== 'text')) refuse('Bedrock Converse answers with text only ("modalities")');
  if (body['web_search_options'] != null) refuse('"web_search_options" is not supported by Bedrock Converse');
}

function converseMessages(input: ChatMessage[], dropped: Set<string>): { system: TextBlock[]; messages: ConverseMessage[]; toolHistory: boolean } {
  const system: TextBlock[] = [];
  const messages: ConverseMessage[] = [];
  let toolHistory = false;
  // Converse rejects two consecutive messages of one role: they become one.
  const append = (role: ConverseMessage['role'], blocks: ContentBlock[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  input.forEach((m: unknown, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) refuse(`${where} must be an object`);
    const msg = m as unknown as ChatMessage;
    if (msg.name !== undefined && msg.name !== null) dropped.add('messages[].name');
    switch (msg.role) {
      case 'system':
      case 'developer':
        system.push(...contentBlocks(msg.content, where, 'text', dropped) as TextBlock[]);
        break;
      case 'user':
        append('user', contentBlocks(msg.content, where, 'images', dropped));
        break;
      case 'assistant': {
        const blocks = contentBlocks(msg.content, where, 'text', dropped);
        if (msg.tool_calls !== undefined && msg.tool_calls !== null) {
          if (!Array.isArray(msg.tool_calls)) refuse(`${where}.tool_calls must be an array`);
          msg.tool_calls.forEach((call, j) => blocks.push(toolUse(call, `${where}.tool_calls[${j}]`)));
          toolHistory ||= msg.tool_calls.length > 0;
        }
        append('assistant', blocks);
        break;
      }
      case 'tool': {
        if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') refuse(`${where}.tool_call_id is required for a tool message`);
        const content = contentBlocks(msg.content, where, 'text', dropped) as TextBlock[];
        append('user', [{ toolResult: { toolUseId: msg.tool_call_id, content } }]);
        toolHistory = true;
        break;
      }
      default:
        refuse(`${where}.role ${JSON.stringify(msg.role)} is not supported by Bedrock Converse`);
    }
  });
  return { system, messages, toolHistory };
}

/** A message's content as Converse blocks; images only where `allow` says so (user turns). */
function contentBlocks(content: ChatMessage['content'] | undefined, where: string, allow: 'text' | 'images', dropped: Set<string>): ContentBlock[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) refuse(`${where}.content must be a string or an array of parts`);
  const blocks: ContentBlock[] = [];
  content.forEach((part: unknown, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObject(part)) refuse(`${at} must be an object`);
    switch (part['type']) {
      case 'text':
      case 'refusal': {
        const text = part['type'] === 'text' ? part['text'] : part['refusal'];
        if (typeof text !== 'string') refuse(`${at} has no text`);
        if (text !== '') blocks.push({ text });
        break;
      }
      case 'image_url': {
        if (allow !== 'images') refuse(`${at}: Bedrock Converse accepts images in user messages only`);
        const image = part['image_url'];
        if (!isObject(image) || typeof image['url'] !== 'string') refuse(`${at}.image_url.url is required`);
        if (image['detail'] !== undefined && image['detail'] !== null) dropped.add('image_url.detail');
        blocks.push(imageBlock(image['url'], at));
        break;
      }
      default:
        refuse(`${at}: content parts of type ${JSON.stringify(part['type'])} are not supported by Bedrock Converse`);
    }
  });
  return blocks;
}

/** Converse takes image bytes (base64 in its JSON form) or an S3 location, never a URL to fetch. */
function imageBlock(url: string, where: string): ContentBlock {
  if (!url.startsWith('data:')) {
    refuse(`${where}: Bedrock Converse needs the image bytes; send the image as a data: URL (base64), not a link`);
  }
  // indexOf, not a regular expression: the URL may be megabytes long.
  const comma = url.indexOf(',');
  if (comma < 0) refuse(`${where}: malformed data: URL`);
  const meta = url.slice(5, comma).split(';');
  const format = IMAGE_FORMATS[meta[0]!.trim().toLowerCase()];
  if (format === undefined) refuse(`${where}: image type ${JSON.stringify(meta[0])} is not supported (png, jpeg, gif, webp)`);
  if (!meta.slice(1).some((p) => p.trim().toLowerCase() === 'base64')) refuse(`${where}: image data: URLs must be base64-encoded`);
  return { image: { format, source: { bytes: url.slice(comma + 1) } } };
}

function toolUse(call: ToolCall | CustomToolCall, where: string): ContentBlock {
  if (!isObject(call) || call.type !== 'function' || typeof call.id !== 'string' || !isObject(call.function) || typeof call.function.name !== 'string') {
    refuse(`${where} must have an id and a function name`);
  }
  const args = call.function.arguments;
  let input: unknown = {};
  if (typeof args === 'string' && args.trim() !== '') {
    try {
      // Bounded: the parsed value is serialised again into the Converse body.
      input = parseJsonWithin(args);
    } catch {
      refuse(`${where}.function.arguments is not valid JSON (or nests too deep)`);
    }
  }
  return { toolUse: { toolUseId: call.id, name: call.function.name, input } };
}

function converseTools(tools: Array<Tool | CustomTool> | null | undefined, choice: ToolChoice | null | undefined, toolHistory: boolean): ConverseRequest['toolConfig'] {
  const hasTools = Array.isArray(tools) && tools.length > 0;
  if (choice === 'none') {
    // Converse has no "none": the tools are withheld. With tool calls in the history Converse
    // requires toolConfig, and sending it would let the model call a tool.
    if (hasTools && toolHistory) refuse('tool_choice "none" is not supported by Bedrock Converse when the conversation contains tool calls');
    return undefined;
  }
  if (!hasTools) {
    if (choice === 'required' || isObject(choice)) refuse('tool_choice requires "tools"');
    return undefined;
  }
  const config: NonNullable<ConverseRequest['toolConfig']> = { tools: tools.map((t, i) => ({ toolSpec: toolSpec(t, i) })) };
  if (choice === 'auto') config.toolChoice = { auto: {} };
  else if (choice === 'required') config.toolChoice = { any: {} };
  else if (isObject(choice)) {
    const name = isObject(choice.function) ? choice.function.name : undefined;
    if (typeof name !== 'string') refuse('tool_choice.function.name is required');
    config.toolChoice = { tool: { name } };
  } else if (choice !== undefined && choice !== null) refuse(`tool_choice ${JSON.stringify(choice)} is not supported`);
  return config;
}

function toolSpec(tool: Tool | CustomTool, i: number): ToolSpec {
  if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function) || typeof tool.function.name !== 'string') {
    refuse(`tools[${i}]: only function tools are supported by Bedrock Converse`);
  }
  const fn = tool.function;
  // inputSchema is required by Converse; OpenAI lets a function omit its parameters.
  const spec: ToolSpec = { name: fn.name, inputSchema: { json: fn.parameters ?? { type: 'object', properties: {} } } };
  if (typeof fn.description === 'string' && fn.description !== '') spec.description = fn.description;
  if (fn.strict === true) spec.strict = true;
  return spec;
}

function converseOutput(format: ChatRequest['response_format']): ConverseRequest['outputConfig'] {
  if (format === undefined || format === null) return undefined;
  switch (format.type) {
    case 'text':
      return undefined;
    case 'json_schema': {
      const def = format.json_schema;
      if (!isObject(def) || !isObject(def.schema)) refuse('response_format.json_schema.schema is required by Bedrock Converse');
      // https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_JsonSchemaDefinition.html: the schema travels as a string.
      const jsonSchema: { schema: string; name?: string; description?: string } = { schema: JSON.stringify(def.schema) };
      if (typeof def.name === 'string') jsonSchema.name = def.name;
      const description = (def as Record<string, unknown>)['description'];
      if (typeof description === 'string') jsonSchema.description = description;
      return { textFormat: { type: 'json_schema', structure: { jsonSchema } } };
    }
    case 'json_object':
      return refuse('response_format "json_object" is not supported by Bedrock Converse; use "json_schema"');
    default:
      return refuse(`response_format ${JSON.stringify((format as { type?: unknown }).type)} is not supported`);
  }
}

// ---------------------------------------------------------------------------------------------
// Answers

/** `undefined`: not a success finish (malformed_*); the caller raises its own error. */
function finishReason(stopReason: unknown): FinishReason | undefined {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    case 'malformed_model_output':
    case 'malformed_tool_use':
      return undefined;
    default:
      return 'stop';
  }
}

/**
 * Exception members of the ConverseStream union. The service frames them as
 * `:message-type: exception`; an `event` frame carrying one of these names (as the SDK's
 * snapshot harness encodes them) is the same exception.
 */
const STREAM_EXCEPTIONS = new Set(['internalServerException', 'modelStreamErrorException', 'validationException', 'throttlingException', 'serviceUnavailableException']);

function messageOf(payload: unknown): string | undefined {
  if (!isObject(payload)) return undefined;
  const m = payload['message'] ?? payload['Message'];
  return typeof m === 'string' ? m : undefined;
}

class ConverseChat implements ChatTranslator {
  readonly #options: TranslatorOptions;
  readonly #decoder = new EventStreamDecoder();
  /** contentBlockIndex → OpenAI tool_calls index, for the toolUse blocks streamed so far. */
  readonly #toolIndex = new Map<number, number>();
  /** contentBlockIndex of server-side tool use, whose deltas are not the client's. */
  readonly #serverTools = new Set<number>();
  #started = false;
  /** Set by messageStop. */
  #finish: FinishReason | undefined;
  /** Set by a messageStop whose reason is a failure; raised once the usage after it is read. */
  #malformed: StreamIncomplete | undefined;
  #metadata = false;
  #usageSent = false;
  #usage: { inputTokens: number; outputTokens: number } | undefined;
  /** Raised again by every later call: once failed, the stream stays failed. */
  #error: Error | undefined;

  constructor(options: TranslatorOptions) {
    this.#options = options;
  }

  request(body: ChatRequest): NativeRequest {
    const { converse, dropped } = converseRequest(body);
    const stream = this.#options.stream;
    return {
      path: `/model/${encodeURIComponent(this.#options.model)}/${stream ? 'converse-stream' : 'converse'}`,
      headers: { 'content-type': 'application/json', accept: stream ? 'application/vnd.amazon.eventstream' : 'application/json' },
      body: Buffer.from(JSON.stringify(converse)),
      dropped,
    };
  }

  response(body: Buffer): ChatCompletion {
    const parsed = parseProviderJson<unknown>(body, 'Bedrock');
    if (!isObject(parsed)) throw new GatewayError('upstream_error', 'Bedrock answered with JSON that is not an object');
    // Read first: the tokens were spent even when the answer is unusable.
    const usage = this.#readUsage(parsed);
    const finish = finishReason(parsed['stopReason']);
    if (finish === undefined) throw new GatewayError('upstream_error', `Bedrock stopped with ${String(parsed['stopReason'])}: the model's output could not be used`);
    const output = parsed['output'];
    const message = isObject(output) ? output['message'] : undefined;
    const blocks = isObject(message) && Array.isArray(message['content']) ? (message['content'] as unknown[]) : [];
    let text: string | null = null;
    const toolCalls: ToolCall[] = [];
    for (const block of blocks) {
      if (!isObject(block)) continue;
      if (typeof block['text'] === 'string') text = (text ?? '') + block['text'];
      const use = block['toolUse'];
      if (isObject(use) && use['type'] !== 'server_tool_use' && typeof use['toolUseId'] === 'string' && typeof use['name'] === 'string') {
        toolCalls.push({ id: use['toolUseId'], type: 'function', function: { name: use['name'], arguments: JSON.stringify(use['input'] ?? {}) } });
      }
    }
    const completion: ChatCompletion = {
      id: this.#options.id,
      object: 'chat.completion',
      created: this.#options.created,
      model: this.#options.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), refusal: null },
          finish_reason: finish,
          logprobs: null,
        },
      ],
    };
    if (usage) completion.usage = usage;
    return completion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    if (this.#error) throw this.#error;
    const out: ChatCompletionChunk[] = [];
    try {
      for (const msg of this.#decoder.push(chunk)) this.#message(msg, out);
    } catch (err) {
      this.#error = asStreamIncomplete(err);
      // Chunks already made go out first, so what the client sees never depends on where the
      // bytes were cut; the next call raises the error.
      if (out.length === 0) throw this.#error;
    }
    return out;
  }

  end(): ChatCompletionChunk[] {
    if (this.#error) throw this.#error;
    try {
      this.#decoder.end();
    } catch (err) {
      throw (this.#error = asStreamIncomplete(err));
    }
    if (this.#malformed) throw (this.#error = this.#malformed);
    if (this.#finish === undefined) throw (this.#error = new StreamIncomplete('the Bedrock stream ended before messageStop'));
    if (!this.#metadata) throw (this.#error = new StreamIncomplete('the Bedrock stream ended before its metadata event'));
    return [];
  }

  errorMessage(body: Buffer): string | undefined {
    try {
      return messageOf(JSON.parse(body.toString('utf8')));
    } catch {
      return undefined;
    }
  }

  usage(): { inputTokens: number; outputTokens: number } | undefined {
    return this.#usage;
  }

  /** One decoded frame; appends its chunks to `out`. */
  #message(msg: EventStreamMessage, out: ChatCompletionChunk[]): void {
    const ev = bedrockEvent(msg);
    if (ev.kind === 'error') throw new StreamIncomplete(`${ev.type}: ${ev.message ?? 'no message'}`);
    if (ev.kind === 'exception' || STREAM_EXCEPTIONS.has(ev.type)) throw new StreamIncomplete(`${ev.type}: ${messageOf(ev.payload) ?? 'no message'}`);
    const p = isObject(ev.payload) ? ev.payload : {};
    if (this.#malformed) {
      // Only the usage still matters (the tokens were spent); the next frame raises the failure.
      if (ev.type === 'metadata') this.#readUsage(p);
      throw this.#malformed;
    }
    // After messageStop and metadata nothing more belongs to the answer.
    if (this.#finish !== undefined && this.#metadata) return;
    switch (ev.type) {
      case 'messageStart':
        this.#start(out);
        break;
      case 'contentBlockStart': {
        const use = isObject(p['start']) ? p['start']['toolUse'] : undefined;
        if (!isObject(use)) break; // image and toolResult starts carry nothing for the client
        const block = blockIndex(p);
        if (use['type'] === 'server_tool_use') {
          this.#serverTools.add(block);
          break;
        }
        if (typeof use['toolUseId'] !== 'string' || typeof use['name'] !== 'string') throw new StreamIncomplete('Bedrock started a toolUse block without toolUseId and name');
        const index = this.#toolIndex.size;
        this.#toolIndex.set(block, index);
        this.#start(out);
        out.push(this.#chunk({ tool_calls: [{ index, id: use['toolUseId'], type: 'function', function: { name: use['name'], arguments: '' } }] }));
        break;
      }
      case 'contentBlockDelta': {
        const delta = isObject(p['delta']) ? p['delta'] : {};
        if (typeof delta['text'] === 'string') {
          this.#start(out);
          if (delta['text'] !== '') out.push(this.#chunk({ content: delta['text'] }));
        } else if (isObject(delta['toolUse'])) {
          const block = blockIndex(p);
          if (this.#serverTools.has(block)) break;
          const index = this.#toolIndex.get(block);
          if (index === undefined) throw new StreamIncomplete(`Bedrock sent toolUse input for content block ${block}, which did not start as a toolUse`);
          const input = delta['toolUse']['input'];
          if (typeof input === 'string' && input !== '') out.push(this.#chunk({ tool_calls: [{ index, function: { arguments: input } } satisfies ChunkToolCall] }));
        }
        // reasoningContent, citation, image and toolResult deltas have no OpenAI form.
        break;
      }
      case 'messageStop': {
        if (this.#finish !== undefined) break;
        const finish = finishReason(p['stopReason']);
        if (finish === undefined) {
          this.#malformed = new StreamIncomplete(`Bedrock stopped with ${String(p['stopReason'])}: the model's output could not be used`);
          break;
        }
        this.#start(out);
        this.#finish = finish;
        out.push(this.#chunk({}, finish));
        this.#sendUsage(out);
        break;
      }
      case 'metadata':
        this.#metadata = true;
        this.#readUsage(p);
        this.#sendUsage(out);
        break;
      default:
        // contentBlockStop, and members added to the union later.
        break;
    }
  }

  #start(out: ChatCompletionChunk[]): void {
    if (this.#started) return;
    this.#started = true;
    out.push(this.#chunk({ role: 'assistant', content: '' }));
  }

  /** The usage chunk follows the finish chunk, whichever of messageStop and metadata came last. */
  #sendUsage(out: ChatCompletionChunk[]): void {
    if (!this.#options.includeUsage || this.#usageSent || this.#finish === undefined || !this.#metadata || this.#usage === undefined) return;
    this.#usageSent = true;
    out.push(usageChunk(this.#options, this.#usage));
  }

  /** Reads Converse `usage` the way transparent mode accounts it (cache tokens count as input). */
  #readUsage(body: Record<string, unknown>): ChatUsage | undefined {
    if (!isObject(body['usage'])) return undefined;
    const acc = emptyUsage();
    bedrockUsage.json(body, acc);
    this.#usage = { inputTokens: acc.inputTokens, outputTokens: acc.outputTokens };
    return chatUsage(this.#usage);
  }

  #chunk(delta: ChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk {
    return choiceChunk(this.#options, 0, delta, finish);
  }
}

function blockIndex(payload: Record<string, unknown>): number {
  const i = payload['contentBlockIndex'];
  return typeof i === 'number' ? i : 0;
}

/** Decoder and frame errors end the stream; anything else is a bug and passes unchanged. */
function asStreamIncomplete(err: unknown): Error {
  if (err instanceof StreamIncomplete) return err;
  if (err instanceof EventStreamError) return new StreamIncomplete(`the Bedrock event stream is corrupt (${err.code}): ${err.message}`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}
