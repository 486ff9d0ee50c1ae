import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ChatUsage, ChunkToolCall, CustomTool, CustomToolCall, FinishReason, Tool, ToolCall } from '../../protocol/openai.js';
import { exceedsJsonDepth, NESTED_JSON_DEPTH_LIMIT, parseJsonWithin } from '../../protocol/json.js';
import {
  refusal,
  StreamIncomplete,
  type ChatTranslator,
  type ChatTranslatorFactory,
  type NativeRequest,
  type ParameterRules,
  type TranslatorOptions,
} from '../../protocol/translator.js';
import { SseDecoder, type SseEvent } from '../../protocol/sse.js';
import { choiceChunk, usageChunk, type ChunkDelta } from '../../protocol/chunks.js';

/*
 * OpenAI Chat Completions ↔ Vertex AI Gemini `generateContent` / `streamGenerateContent?alt=sse`.
 * https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference
 * https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent
 *
 * | OpenAI                              | Gemini                                                     | rule    |
 * | ----------------------------------- | ---------------------------------------------------------- | ------- |
 * | model                               | path `/v1/projects/{project}/locations/{location}/         | mapped  |
 * |                                     | publishers/google/models/{model}:generateContent`          |         |
 * | stream                              | `:streamGenerateContent?alt=sse`                           | mapped  |
 * | stream_options.include_usage        | last chunk `choices: []` + usage from usageMetadata        | mapped  |
 * | messages: system, developer         | `systemInstruction.parts[].text`, in order (position lost) | mapped  |
 * | messages: user / assistant          | contents role `user` / `model`, `{text}` parts; empty text | mapped  |
 * |                                     | skipped; consecutive same-role turns merged (Gemini wants  |         |
 * |                                     | them alternating)                                          |         |
 * | image_url `data:image/…;base64,`    | `{inlineData: {mimeType, data}}`                           | mapped  |
 * | image_url `gs://…`, `https://…`     | `{fileData: {mimeType, fileUri}}`, mimeType from the file  | mapped  |
 * |                                     | extension (png, jpg/jpeg, webp, heic, heif, gif); refused  |         |
 * |                                     | when the extension says nothing, or for http:// and others |         |
 * | image_url.detail                    | no per-part equivalent                                     | dropped |
 * | input_audio {data, format}          | `{inlineData: {mimeType, data}}`, audio/wav or audio/mp3   | mapped  |
 * | file {file_data: data: URL}         | `{inlineData: {mimeType, data}}`; file_id is refused       | mapped  |
 * | assistant tool_calls                | `{functionCall: {name, args: JSON.parse(arguments)}}`;     | mapped  |
 * |                                     | arguments that are not a JSON object are refused           |         |
 * | tool messages                       | user `{functionResponse: {name, response: {output: text}}}`| mapped  |
 * |                                     | — the name is the one of the earlier tool call with that   |         |
 * |                                     | id (refused when no earlier call has it)                   |         |
 * | messages[].name                     | no equivalent                                              | dropped |
 * | max_completion_tokens ?? max_tokens | generationConfig.maxOutputTokens                           | mapped  |
 * | temperature, top_p                  | generationConfig.temperature, topP                         | mapped  |
 * | stop                                | generationConfig.stopSequences                             | mapped  |
 * | n                                   | generationConfig.candidateCount                            | mapped  |
 * | presence_penalty, frequency_penalty | generationConfig.presencePenalty, frequencyPenalty         | mapped  |
 * | seed                                | generationConfig.seed                                      | mapped  |
 * | response_format json_object         | generationConfig.responseMimeType application/json         | mapped  |
 * | response_format json_schema         | responseMimeType application/json + responseSchema (the    | mapped  |
 * |                                     | schema as is; Vertex checks it is its OpenAPI subset)      |         |
 * | tools (function)                    | `tools: [{functionDeclarations: [{name, description,       | mapped  |
 * |                                     | parameters (as is)}]}]`; other tool types refused          |         |
 * | tools[].function.strict             | no equivalent                                              | dropped |
 * | tool_choice auto / none / required  | toolConfig.functionCallingConfig.mode AUTO / NONE / ANY    | mapped  |
 * | tool_choice {function: {name}}      | mode ANY + allowedFunctionNames [name]; refused when the   | mapped  |
 * |                                     | name is not among `tools`                                  |         |
 * | tool_choice auto / none, no tools   | nothing to configure                                       | mapped  |
 * | tool_choice required/fn, no tools   |                                                            | refused |
 * | parallel_tool_calls: false          | Gemini cannot be told to call one function at a time      | dropped |
 * | logprobs: true, top_logprobs > 0    | not translated back                                        | refused |
 * | logit_bias                          | OpenAI token ids mean nothing to Gemini's tokenizer       | dropped |
 * | functions, function_call            | deprecated; use tools                                      | refused |
 * | audio, modalities other than text   | text output only                                           | refused |
 * | web_search_options                  | (Gemini's googleSearch tool is not offered here)           | refused |
 * | user, metadata, store, service_tier, reasoning_effort, prediction, prompt_cache_key,  | dropped |
 * | safety_identifier, verbosity                                                           |         |
 * | any other top-level field (ParameterRules: a parameter not listed is refused)         | refused |
 *
 * Answers: each candidate is a choice (its `index`; absent means 0, as proto3 JSON leaves zeros
 * out). Text parts are joined (`thought: true` parts — thought summaries — are left out);
 * functionCall parts become tool_calls with generated `call_…` ids and `arguments =
 * JSON.stringify(args)`; other parts (inlineData, executableCode, …) are not passed on.
 * finishReason: STOP and unknown values → stop (tool_calls
 * when the candidate called a function); MAX_TOKENS → length; SAFETY, RECITATION, BLOCKLIST,
 * PROHIBITED_CONTENT, SPII, LANGUAGE, IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION →
 * content_filter (any text already produced is kept); MALFORMED_FUNCTION_CALL and
 * UNEXPECTED_TOOL_CALL → an error (the call is unusable; a normal finish would lose it). Usage:
 * prompt_tokens = promptTokenCount + toolUsePromptTokenCount, completion_tokens =
 * candidatesTokenCount + thoughtsTokenCount (thinking is billed as output), total = their sum.
 * `model` is the model the client asked for (after alias resolution).
 *
 * A prompt Gemini blocks (`promptFeedback.blockReason`, no candidates) is an answer, not an error:
 * like an answer blocked on the way out it is a 200 with `finish_reason: content_filter` (one
 * choice per requested `n`), content null and, non-streaming, `refusal` saying why. A body with
 * neither candidates nor a block reason, or a candidate with neither content nor finishReason, is
 * a 502.
 *
 * Streams: the stream is complete when every candidate it named has had a finishReason (or the
 * prompt was blocked) and the body then ended cleanly. Finish chunks (and the usage chunk) are sent
 * at that end, so an error Google appends after a finishReason (its bare error object, or an event
 * with `error`) still fails the stream: StreamIncomplete with Google's message. A stream without
 * any finishReason, or an event that is not JSON, is StreamIncomplete too. Text that arrived in
 * the same network read as the failure is still returned first; the failure is thrown next.
 */

/** Where a translator sends its requests: the instance's project and location. */
export interface VertexTarget {
  project: string;
  location: string;
}

/**
 * Protocol mode for Gemini on Vertex AI, bound to one instance's project and location (the
 * native path names them). One translator object per request: it holds the stream decoder,
 * the per-choice stream state and the usage in fields.
 *
 * @example
 * const chat = geminiChat({ project: 'my-project', location: 'us-central1' });
 * const t = chat({ model: 'gemini-2.0-flash', id, created, stream: true, includeUsage: true });
 * t.request(body).path; // '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse'
 * for (const bytes of upstream) send(t.push(bytes));
 * send(t.end()); // finish and usage chunks; throws StreamIncomplete without a finishReason
 */
export function geminiChat(target: VertexTarget): ChatTranslatorFactory {
  const base = `/v1/projects/${target.project}/locations/${target.location}/publishers/google/models/`;
  return (options) => new GeminiChatTranslator(options, base);
}

/** What this translator does with every OpenAI chat parameter (see the table above). */
export const geminiChatParameters = {
  model: 'mapped',
  messages: 'mapped',
  stream: 'mapped',
  stream_options: 'mapped',
  max_tokens: 'mapped',
  max_completion_tokens: 'mapped',
  temperature: 'mapped',
  top_p: 'mapped',
  stop: 'mapped',
  n: 'mapped',
  presence_penalty: 'mapped',
  frequency_penalty: 'mapped',
  seed: 'mapped',
  response_format: 'mapped',
  tools: 'mapped',
  tool_choice: 'mapped',
  parallel_tool_calls: 'dropped',
  logit_bias: 'dropped',
  user: 'dropped',
  metadata: 'dropped',
  store: 'dropped',
  service_tier: 'dropped',
  reasoning_effort: 'dropped',
  prediction: 'dropped',
  prompt_cache_key: 'dropped',
  safety_identifier: 'dropped',
  verbosity: 'dropped',
  logprobs: 'refused',
  top_logprobs: 'refused',
  functions: 'refused',
  function_call: 'refused',
  audio: 'refused',
  modalities: 'refused',
  web_search_options: 'refused',
} as const satisfies ParameterRules;

// ---------------------------------------------------------------------------------------------
// Gemini wire types (the subset written or read here)

type RequestPart =
  | { text: string }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { mimeType: string; fileUri: string } }
  | { functionCall: { name: string; args: Record<string, unknown> } }
  | { functionResponse: { name: string; response: Record<string, unknown> } };

interface Content {
  role: 'user' | 'model';
  parts: RequestPart[];
}

interface FunctionDeclaration {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

interface GenerationConfig {
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
  candidateCount?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  responseMimeType?: string;
  responseSchema?: Record<string, unknown>;
}

/** The body of `generateContent` / `streamGenerateContent`. */
export interface GenerateContentRequest {
  contents: Content[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<{ functionDeclarations: FunctionDeclaration[] }>;
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } };
  generationConfig?: GenerationConfig;
}

interface ResponsePart {
  text?: unknown;
  thought?: unknown;
  functionCall?: { name?: unknown; args?: unknown };
}

interface Candidate {
  content?: { parts?: unknown };
  finishReason?: unknown;
  finishMessage?: unknown;
  index?: unknown;
}

interface UsageMetadata {
  promptTokenCount?: unknown;
  candidatesTokenCount?: unknown;
  thoughtsTokenCount?: unknown;
  toolUsePromptTokenCount?: unknown;
}

interface GenerateContentResponse {
  candidates?: unknown;
  promptFeedback?: { blockReason?: unknown; blockReasonMessage?: unknown };
  usageMetadata?: UsageMetadata;
  error?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Request

/** Parameter values that change nothing, so dropping or refusing them would be noise. */
const NO_EFFECT: Readonly<Record<string, (v: unknown) => boolean>> = {
  parallel_tool_calls: (v) => v === true,
  store: (v) => v === false,
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
};

const REFUSED_BECAUSE: Readonly<Record<string, string>> = {
  logprobs: 'logprobs are not supported by the Vertex Gemini translator',
  top_logprobs: 'logprobs are not supported by the Vertex Gemini translator',
  functions: '"functions" and "function_call" are deprecated and not supported; use "tools"',
  function_call: '"functions" and "function_call" are deprecated and not supported; use "tools"',
  audio: 'audio output is not supported: Gemini answers with text here',
  modalities: 'Gemini answers with text only here ("modalities")',
  web_search_options: '"web_search_options" is not supported by the Vertex Gemini translator',
};

/** Vertex publisher model ids: `gemini-2.0-flash-001`, `gemini-2.5-pro`, ... (one path segment). */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

const IMAGE_EXTENSIONS: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  gif: 'image/gif',
};

const AUDIO_FORMATS: Readonly<Record<string, string>> = { wav: 'audio/wav', mp3: 'audio/mp3' };

function refuse(message: string): never {
  throw refusal(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function present(v: unknown): boolean {
  return v !== null && v !== undefined;
}

/** Applies geminiChatParameters to the top-level fields: throws for refused ones, returns the dropped ones. */
function checkParameters(body: ChatRequest, dropped: string[]): void {
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (!present(value) || NO_EFFECT[key]?.(value) === true) continue;
    const rule = Object.hasOwn(geminiChatParameters, key) ? geminiChatParameters[key as keyof typeof geminiChatParameters] : undefined;
    switch (rule) {
      case 'mapped':
        break;
      case 'dropped':
        dropped.push(key);
        break;
      case 'refused':
        refuse(REFUSED_BECAUSE[key] ?? `"${key}" is not supported by the Vertex Gemini translator`);
      case undefined:
        refuse(`unknown parameter "${key.slice(0, 64)}": the Vertex Gemini translator does not know what it means`);
      default:
        rule satisfies never;
    }
  }
}

/** The Gemini request for an OpenAI one, and the parameters that were dropped. */
export function geminiRequest(body: ChatRequest): { request: GenerateContentRequest; dropped: string[]; candidates: number } {
  const dropped: string[] = [];
  checkParameters(body, dropped);
  const { system, contents } = geminiContents(body.messages, dropped);
  if (contents.length === 0) refuse('at least one user or assistant message is required');
  const request: GenerateContentRequest = { contents };
  if (system.length > 0) request.systemInstruction = { parts: system };

  const tools = geminiTools(body.tools, dropped);
  if (tools) request.tools = [{ functionDeclarations: tools }];
  const toolConfig = geminiToolConfig(body.tool_choice, tools);
  if (toolConfig) request.toolConfig = toolConfig;

  const config: GenerationConfig = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (present(maxTokens)) config.maxOutputTokens = numberParam('max_completion_tokens', maxTokens);
  if (present(body.temperature)) config.temperature = numberParam('temperature', body.temperature);
  if (present(body.top_p)) config.topP = numberParam('top_p', body.top_p);
  const stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  if (Array.isArray(stop) && stop.length > 0) {
    if (!stop.every((s) => typeof s === 'string')) refuse('stop must be a string or an array of strings');
    config.stopSequences = stop;
  }
  let candidates = 1;
  if (present(body.n)) {
    candidates = numberParam('n', body.n);
    if (!Number.isInteger(candidates) || candidates < 1) refuse('n must be a positive integer');
    config.candidateCount = candidates;
  }
  if (present(body['presence_penalty'])) config.presencePenalty = numberParam('presence_penalty', body['presence_penalty']);
  if (present(body['frequency_penalty'])) config.frequencyPenalty = numberParam('frequency_penalty', body['frequency_penalty']);
  if (present(body['seed'])) config.seed = numberParam('seed', body['seed']);
  responseFormat(body.response_format, config);
  if (Object.keys(config).length > 0) request.generationConfig = config;
  return { request, dropped, candidates };
}

function numberParam(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) refuse(`${name} must be a number`);
  return value;
}

function geminiContents(messages: ChatMessage[], dropped: string[]): { system: Array<{ text: string }>; contents: Content[] } {
  const system: Array<{ text: string }> = [];
  const contents: Content[] = [];
  /** Tool call id → function name, from the assistant turns seen so far. */
  const calls = new Map<string, string>();
  // Gemini wants user and model turns to alternate: consecutive same-role messages become one turn.
  const append = (role: Content['role'], parts: RequestPart[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((m: unknown, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) refuse(`${where} must be an object`);
    const msg = m as unknown as ChatMessage;
    if (present(msg.name) && !dropped.includes('messages[].name')) dropped.push('messages[].name');
    switch (msg.role) {
      case 'system':
      case 'developer':
        system.push(...(contentParts(msg.content, where, 'text', dropped) as Array<{ text: string }>));
        break;
      case 'user':
        append('user', contentParts(msg.content, where, 'media', dropped));
        break;
      case 'assistant': {
        const parts = contentParts(msg.content, where, 'text', dropped);
        if (present(msg.tool_calls)) {
          if (!Array.isArray(msg.tool_calls)) refuse(`${where}.tool_calls must be an array`);
          msg.tool_calls.forEach((call, j) => parts.push(functionCall(call, `${where}.tool_calls[${j}]`, calls)));
        }
        append('model', parts);
        break;
      }
      case 'tool': {
        if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') refuse(`${where}.tool_call_id is required for a tool message`);
        const name = calls.get(msg.tool_call_id);
        if (name === undefined) refuse(`${where}.tool_call_id "${msg.tool_call_id.slice(0, 64)}" does not match a tool call of an earlier assistant message`);
        const text = (contentParts(msg.content, where, 'text', dropped) as Array<{ text: string }>).map((p) => p.text).join('');
        // "output" is the key Gemini documents for a function's result.
        append('user', [{ functionResponse: { name, response: { output: text } } }]);
        break;
      }
      default:
        refuse(`${where}.role ${JSON.stringify((msg as { role: unknown }).role)} is not supported`);
    }
  });
  return { system, contents };
}

/** A message's content as Gemini parts; media (images, audio, files) only where `allow` says (user turns). */
function contentParts(content: ChatMessage['content'] | undefined, where: string, allow: 'text' | 'media', dropped: string[]): RequestPart[] {
  if (!present(content)) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) refuse(`${where}.content must be a string or an array of parts`);
  const parts: RequestPart[] = [];
  content.forEach((part: unknown, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObject(part)) refuse(`${at} must be an object`);
    const type = part['type'];
    if (type === 'text' || type === 'refusal') {
      const text = part[type];
      if (typeof text !== 'string') refuse(`${at} has no ${type}`);
      if (text !== '') parts.push({ text });
      return;
    }
    if (type !== 'image_url' && type !== 'input_audio' && type !== 'file') {
      refuse(`${at}: content parts of type ${JSON.stringify(type)} are not supported`);
    }
    if (allow !== 'media') refuse(`${at}: ${type} parts are accepted in user messages only`);
    switch (type) {
      case 'image_url': {
        const image = part['image_url'];
        if (!isObject(image) || typeof image['url'] !== 'string') refuse(`${at}.image_url.url is required`);
        if (present(image['detail']) && !dropped.includes('image_url.detail')) dropped.push('image_url.detail');
        parts.push(imagePart(image['url'], at));
        return;
      }
      case 'input_audio': {
        const audio = part['input_audio'];
        if (!isObject(audio) || typeof audio['data'] !== 'string') refuse(`${at}.input_audio.data is required`);
        const mimeType = AUDIO_FORMATS[String(audio['format'])];
        if (mimeType === undefined) refuse(`${at}.input_audio.format must be wav or mp3`);
        parts.push({ inlineData: { mimeType, data: audio['data'] } });
        return;
      }
      case 'file': {
        const file = part['file'];
        if (!isObject(file) || typeof file['file_data'] !== 'string') refuse(`${at}: only files sent inline (file.file_data as a data: URL) are supported, not file_id`);
        parts.push(dataUrlPart(file['file_data'], `${at}.file.file_data`, undefined));
        return;
      }
    }
  });
  return parts;
}

/** data: URLs travel inline; gs:// and https:// URLs are fetched by Vertex, their type named by the extension. */
function imagePart(url: string, where: string): RequestPart {
  if (url.startsWith('data:')) return dataUrlPart(url, where, 'image/');
  if (!url.startsWith('gs://') && !url.startsWith('https://')) {
    refuse(`${where}: images must be data: URLs (base64), gs:// or https:// URLs`);
  }
  let path = url;
  const end = path.search(/[?#]/);
  if (end >= 0) path = path.slice(0, end);
  const dot = path.lastIndexOf('.');
  const mimeType = dot > path.lastIndexOf('/') ? IMAGE_EXTENSIONS[path.slice(dot + 1).toLowerCase()] : undefined;
  if (mimeType === undefined) {
    refuse(`${where}: Vertex needs the image type, and this URL's file extension does not say it (png, jpg, jpeg, webp, heic, heif, gif); send a data: URL instead`);
  }
  return { fileData: { mimeType, fileUri: url } };
}

/** `data:<mime>;base64,<data>` → inlineData. indexOf, not a regular expression: the URL may be megabytes. */
function dataUrlPart(url: string, where: string, mimePrefix: string | undefined): RequestPart {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0) refuse(`${where}: malformed data: URL`);
  const meta = url.slice(5, comma).split(';');
  const mimeType = meta[0]!.trim().toLowerCase();
  if (mimeType === '' || (mimePrefix !== undefined && !mimeType.startsWith(mimePrefix))) {
    refuse(`${where}: the data: URL must name a ${mimePrefix ?? ''}* media type`);
  }
  if (!meta.slice(1).some((p) => p.trim().toLowerCase() === 'base64')) refuse(`${where}: data: URLs must be base64-encoded`);
  return { inlineData: { mimeType, data: url.slice(comma + 1) } };
}

function functionCall(call: ToolCall | CustomToolCall, where: string, calls: Map<string, string>): RequestPart {
  if (!isObject(call) || call.type !== 'function' || typeof call.id !== 'string' || !isObject(call.function) || typeof call.function.name !== 'string') {
    refuse(`${where} must have an id and a function name`);
  }
  const text = call.function.arguments;
  let args: unknown = {};
  if (typeof text === 'string' && text.trim() !== '') {
    try {
      // Bounded: the parsed value is serialised again into the Gemini body.
      args = parseJsonWithin(text);
    } catch {
      refuse(`${where}.function.arguments is not valid JSON (or nests too deep)`);
    }
  }
  // Gemini's args is a Struct: a JSON object.
  if (!isObject(args)) refuse(`${where}.function.arguments must be a JSON object`);
  calls.set(call.id, call.function.name);
  return { functionCall: { name: call.function.name, args } };
}

function geminiTools(tools: Array<Tool | CustomTool> | null | undefined, dropped: string[]): FunctionDeclaration[] | undefined {
  if (!present(tools)) return undefined;
  if (!Array.isArray(tools)) refuse('tools must be an array');
  if (tools.length === 0) return undefined;
  return tools.map((tool, i) => {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function) || typeof tool.function.name !== 'string') {
      refuse(`tools[${i}]: only function tools are supported`);
    }
    const fn = tool.function;
    const declaration: FunctionDeclaration = { name: fn.name };
    if (typeof fn.description === 'string' && fn.description !== '') declaration.description = fn.description;
    if (present(fn.parameters)) {
      if (!isObject(fn.parameters)) refuse(`tools[${i}].function.parameters must be a JSON schema object`);
      declaration.parameters = fn.parameters;
    }
    if (fn.strict === true && !dropped.includes('tools[].function.strict')) dropped.push('tools[].function.strict');
    return declaration;
  });
}

function geminiToolConfig(choice: ChatRequest['tool_choice'], tools: FunctionDeclaration[] | undefined): GenerateContentRequest['toolConfig'] {
  if (!present(choice)) return undefined;
  if (choice === 'auto' || choice === 'none') {
    return tools ? { functionCallingConfig: { mode: choice === 'auto' ? 'AUTO' : 'NONE' } } : undefined;
  }
  if (choice === 'required') {
    if (!tools) refuse('tool_choice "required" needs "tools"');
    return { functionCallingConfig: { mode: 'ANY' } };
  }
  if (isObject(choice) && choice.type === 'function') {
    const name = isObject(choice.function) ? choice.function.name : undefined;
    if (typeof name !== 'string') refuse('tool_choice.function.name is required');
    if (!tools?.some((t) => t.name === name)) refuse(`tool_choice names "${name.slice(0, 64)}", which is not among "tools"`);
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [name] } };
  }
  refuse(`tool_choice ${JSON.stringify(choice).slice(0, 100)} is not supported`);
}

function responseFormat(format: ChatRequest['response_format'], config: GenerationConfig): void {
  if (!present(format)) return;
  if (!isObject(format)) refuse('response_format must be an object');
  switch (format.type) {
    case 'text':
      return;
    case 'json_object':
      config.responseMimeType = 'application/json';
      return;
    case 'json_schema': {
      config.responseMimeType = 'application/json';
      const def = format.json_schema;
      if (isObject(def) && isObject(def.schema)) config.responseSchema = def.schema;
      return;
    }
    default:
      refuse(`response_format type ${JSON.stringify((format as { type: unknown }).type)} is not supported`);
  }
}

// ---------------------------------------------------------------------------------------------
// Answers

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'LANGUAGE',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);
const UNUSABLE = new Set(['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL']);

/** OpenAI's finish_reason for a Gemini finishReason; throws for an unusable answer. */
function finishReason(reason: string, calledTools: boolean, message: unknown): FinishReason {
  if (FILTERED.has(reason)) return 'content_filter';
  if (reason === 'MAX_TOKENS') return 'length';
  if (UNUSABLE.has(reason)) {
    const detail = typeof message === 'string' && message !== '' ? `: ${message.slice(0, 500)}` : '';
    throw new GatewayError('upstream_error', `the model's answer is unusable (${reason})${detail}`);
  }
  // STOP, OTHER and values newer than this code: the candidate did stop.
  return calledTools ? 'tool_calls' : 'stop';
}

function toUsage(u: UsageMetadata | undefined): ChatUsage | undefined {
  if (!isObject(u)) return undefined;
  const prompt = count(u.promptTokenCount) + count(u.toolUsePromptTokenCount);
  const completion = count(u.candidatesTokenCount) + count(u.thoughtsTokenCount);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/** Google's error object (`{"error": {"code", "message", "status"}}`, possibly in a one-element array) as text. */
export function googleErrorText(value: unknown): string | undefined {
  const obj = Array.isArray(value) ? value[0] : value;
  const error = isObject(obj) ? obj['error'] : undefined;
  if (!isObject(error)) return undefined;
  const message = typeof error['message'] === 'string' ? error['message'] : undefined;
  const status = typeof error['status'] === 'string' ? error['status'] : undefined;
  if (message === undefined && status === undefined) return undefined;
  return status !== undefined && message !== undefined ? `${status}: ${message}` : (message ?? status);
}

function blockedText(feedback: GenerateContentResponse['promptFeedback']): string | undefined {
  if (!isObject(feedback) || typeof feedback.blockReason !== 'string' || feedback.blockReason === '') return undefined;
  const message = typeof feedback.blockReasonMessage === 'string' && feedback.blockReasonMessage !== '' ? `: ${feedback.blockReasonMessage}` : '';
  return `the provider blocked the prompt (${feedback.blockReason})${message}`;
}

function callId(): string {
  return `call_${randomBytes(18).toString('base64url')}`;
}

/** The parts of a candidate Gemini sent, read defensively (the wire may hold anything). */
function partsOf(candidate: Candidate): ResponsePart[] {
  const parts = isObject(candidate.content) ? candidate.content.parts : undefined;
  return Array.isArray(parts) ? parts.filter(isObject) : [];
}

function textOf(part: ResponsePart): string | undefined {
  return typeof part.text === 'string' && part.thought !== true ? part.text : undefined;
}

function toolCallOf(part: ResponsePart): ToolCall | undefined {
  const call = part.functionCall;
  if (!isObject(call) || typeof call.name !== 'string') return undefined;
  return { id: callId(), type: 'function', function: { name: call.name, arguments: JSON.stringify(isObject(call.args) ? call.args : {}) } };
}

function indexOf(candidate: Candidate): number {
  // proto3 JSON leaves a zero out: an absent index is 0.
  return typeof candidate.index === 'number' && Number.isInteger(candidate.index) && candidate.index >= 0 ? candidate.index : 0;
}

/** Per-choice state of a stream. */
interface ChoiceState {
  /** The role was sent (it rides on the first delta). */
  started: boolean;
  toolCalls: number;
  finish: string | undefined;
  finishMessage: unknown;
}

class GeminiChatTranslator implements ChatTranslator {
  readonly #options: TranslatorOptions;
  readonly #base: string;
  #candidates = 1;
  // Stream state.
  /** Keeps unframed text: Google's mid-stream error object comes after the last event, outside SSE. */
  #decoder: SseDecoder | undefined;
  readonly #choices = new Map<number, ChoiceState>();
  #blocked: string | undefined;
  #usage: ChatUsage | undefined;
  /** A stream failure found after chunks that were still returned; thrown by the next call. */
  #failure: Error | undefined;

  constructor(options: TranslatorOptions, base: string) {
    this.#options = options;
    this.#base = base;
  }

  request(body: ChatRequest): NativeRequest {
    const model = this.#options.model;
    if (!MODEL_ID.test(model)) refuse(`"${model.slice(0, 100)}" is not a Vertex AI publisher model id (such as gemini-2.0-flash)`);
    const { request, dropped, candidates } = geminiRequest(body);
    this.#candidates = candidates;
    const stream = this.#options.stream;
    return {
      path: `${this.#base}${model}${stream ? ':streamGenerateContent?alt=sse' : ':generateContent'}`,
      headers: { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' },
      body: Buffer.from(JSON.stringify(request)),
      dropped,
    };
  }

  response(body: Buffer): ChatCompletion {
    const answer = parseAnswer(body);
    const error = googleErrorText(answer);
    if (error !== undefined) throw new GatewayError('upstream_error', error);
    this.#usage = toUsage(answer.usageMetadata) ?? this.#usage;
    const candidates = Array.isArray(answer.candidates) ? (answer.candidates.filter(isObject) as Candidate[]) : [];
    const completion: ChatCompletion = { id: this.#options.id, object: 'chat.completion', created: this.#options.created, model: this.#options.model, choices: [] };
    if (candidates.length === 0) {
      const blocked = blockedText(answer.promptFeedback);
      if (blocked === undefined) throw new GatewayError('upstream_error', 'the provider answered without candidates');
      for (let index = 0; index < this.#candidates; index++) {
        completion.choices.push({ index, message: { role: 'assistant', content: null, refusal: blocked }, finish_reason: 'content_filter', logprobs: null });
      }
    } else {
      for (const candidate of candidates) completion.choices.push(this.#choice(candidate));
      completion.choices.sort((a, b) => a.index - b.index);
    }
    if (this.#usage) completion.usage = this.#usage;
    return completion;
  }

  #choice(candidate: Candidate): ChatCompletion['choices'][number] {
    const parts = partsOf(candidate);
    if (typeof candidate.finishReason !== 'string' && parts.length === 0) {
      throw new GatewayError('upstream_error', 'the provider answered with a candidate that has neither content nor a finishReason');
    }
    const texts: string[] = [];
    const toolCalls: ToolCall[] = [];
    for (const part of parts) {
      const text = textOf(part);
      if (text !== undefined) texts.push(text);
      const call = toolCallOf(part);
      if (call) toolCalls.push(call);
    }
    const reason = typeof candidate.finishReason === 'string' ? candidate.finishReason : 'STOP';
    const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    return { index: indexOf(candidate), message, finish_reason: finishReason(reason, toolCalls.length > 0, candidate.finishMessage), logprobs: null };
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    this.#decoder ??= new SseDecoder({ keepUnframedText: true, lineLimit: this.#options.streamLineLimit });
    return this.#translate(this.#decoder.push(chunk), '');
  }

  end(): ChatCompletionChunk[] {
    this.#decoder ??= new SseDecoder({ keepUnframedText: true, lineLimit: this.#options.streamLineLimit });
    const events = this.#decoder.end();
    const out = this.#translate(events, this.#decoder.unframedText);
    if (this.#failure) throw this.#failure;
    if (this.#choices.size === 0) {
      if (this.#blocked === undefined) throw new StreamIncomplete('the provider stream ended without a finishReason');
      for (let index = 0; index < this.#candidates; index++) out.push(this.#chunk(index, { role: 'assistant' }, 'content_filter'));
    } else {
      const indexes = [...this.#choices.keys()].sort((a, b) => a - b);
      for (const index of indexes) {
        if (this.#choices.get(index)!.finish === undefined) throw new StreamIncomplete('the provider stream ended without a finishReason');
      }
      for (const index of indexes) {
        const state = this.#choices.get(index)!;
        out.push(this.#chunk(index, state.started ? {} : { role: 'assistant' }, finishReason(state.finish!, state.toolCalls > 0, state.finishMessage)));
      }
    }
    if (this.#options.includeUsage && this.#usage) {
      out.push(usageChunk(this.#options, { inputTokens: this.#usage.prompt_tokens, outputTokens: this.#usage.completion_tokens }));
    }
    return out;
  }

  /**
   * The chunks for `items`. A failure after some chunks is kept and thrown by the next call, so
   * the text that arrived in the same network read as the error still reaches the client.
   */
  #translate(events: SseEvent[], unframed: string): ChatCompletionChunk[] {
    if (this.#failure) throw this.#failure;
    const out: ChatCompletionChunk[] = [];
    try {
      this.#items(events, unframed, out);
    } catch (err) {
      if (out.length === 0) throw err;
      this.#failure = err as Error;
    }
    return out;
  }

  #items(events: SseEvent[], unframed: string, out: ChatCompletionChunk[]): void {
    for (const item of events) {
      let event: unknown;
      try {
        event = parseJsonWithin(item.data);
      } catch {
        throw new StreamIncomplete('the provider sent an event that is not JSON (or nests too deep)');
      }
      if (!isObject(event)) throw new StreamIncomplete('the provider sent an event that is not a JSON object');
      const error = googleErrorText(event);
      if (error !== undefined) throw new StreamIncomplete(error);
      this.#event(event as GenerateContentResponse, out);
    }
    if (unframed !== '') {
      let parsed: unknown;
      try {
        parsed = parseJsonWithin(unframed);
      } catch {
        parsed = undefined;
      }
      throw new StreamIncomplete(googleErrorText(parsed) ?? 'the provider stream ended with text that is not an event');
    }
  }

  #event(event: GenerateContentResponse, out: ChatCompletionChunk[]): void {
    this.#usage = toUsage(event.usageMetadata) ?? this.#usage;
    this.#blocked ??= blockedText(event.promptFeedback);
    if (!Array.isArray(event.candidates)) return;
    for (const c of event.candidates as unknown[]) {
      if (!isObject(c)) continue;
      const candidate = c as Candidate;
      const index = indexOf(candidate);
      let state = this.#choices.get(index);
      if (!state) this.#choices.set(index, (state = { started: false, toolCalls: 0, finish: undefined, finishMessage: undefined }));
      for (const part of partsOf(candidate)) {
        const text = textOf(part);
        if (text !== undefined && text !== '') out.push(this.#delta(index, state, { content: text }));
        const call = toolCallOf(part);
        if (call) {
          const delta: ChunkToolCall = { index: state.toolCalls++, id: call.id, type: 'function', function: call.function };
          out.push(this.#delta(index, state, { tool_calls: [delta] }));
        }
      }
      if (typeof candidate.finishReason === 'string') {
        state.finish = candidate.finishReason;
        state.finishMessage = candidate.finishMessage;
      }
    }
  }

  #delta(index: number, state: ChoiceState, delta: ChatCompletionChunk['choices'][number]['delta']): ChatCompletionChunk {
    if (!state.started) {
      state.started = true;
      return this.#chunk(index, { role: 'assistant', ...delta }, null);
    }
    return this.#chunk(index, delta, null);
  }

  #chunk(index: number, delta: ChunkDelta, finish: FinishReason | null): ChatCompletionChunk {
    return choiceChunk(this.#options, index, delta, finish);
  }

  errorMessage(body: Buffer): string | undefined {
    try {
      return googleErrorText(JSON.parse(body.toString('utf8')));
    } catch {
      return undefined;
    }
  }

  usage(): { inputTokens: number; outputTokens: number } | undefined {
    return this.#usage ? { inputTokens: this.#usage.prompt_tokens, outputTokens: this.#usage.completion_tokens } : undefined;
  }
}

function parseAnswer(body: Buffer): GenerateContentResponse {
  if (exceedsJsonDepth(body, NESTED_JSON_DEPTH_LIMIT)) throw new GatewayError('upstream_error', `the provider answered with JSON nested deeper than ${NESTED_JSON_DEPTH_LIMIT} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('upstream_error', 'the provider answered with a body that is not JSON');
  }
  if (!isObject(parsed)) throw new GatewayError('upstream_error', 'the provider answered with a body that is not a JSON object');
  return parsed as GenerateContentResponse;
}
