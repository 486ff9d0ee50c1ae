import { AlternatingTurns, assistantToolCalls, eachMessage, eachPart, readToolCall } from '../../../protocol/chat-messages.js';
import type { ChatMessage, ChatRequest, CustomTool, CustomToolCall, Tool, ToolCall } from '../../../protocol/openai.js';
import { applyParameterRules, dropped, MAPPED, refused, ruleNames, sameRule, type ParameterTable, type RuleTarget } from '../../../protocol/parameter-rules.js';
import { refusal } from '../../../protocol/translator.js';

/** OpenAI chat request → Gemini `generateContent` body; the rules are the table in openai_to_gemini.ts. */

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

const LOGPROBS = 'logprobs are not supported by the Vertex Gemini translator';
const FUNCTIONS = '"functions" and "function_call" are deprecated and not supported; use "tools"';

/** Each parameter's rule; `inert` values (parallel_tool_calls: true, store: false, …) change nothing, so they are neither reported nor refused. */
const RULES = {
  ...sameRule(
    MAPPED,
    'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p',
    'stop', 'n', 'presence_penalty', 'frequency_penalty', 'seed', 'response_format', 'tools', 'tool_choice'
  ),
  parallel_tool_calls: dropped((v) => v === true),
  ...sameRule(dropped(), 'logit_bias', 'user', 'metadata'),
  store: dropped((v) => v === false),
  ...sameRule(dropped(), 'service_tier', 'reasoning_effort', 'prediction', 'prompt_cache_key', 'safety_identifier', 'verbosity'),
  logprobs: refused(LOGPROBS, (v) => v === false),
  top_logprobs: refused(LOGPROBS, (v) => v === 0),
  functions: refused(FUNCTIONS),
  function_call: refused(FUNCTIONS),
  audio: refused('audio output is not supported: Gemini answers with text here'),
  modalities: refused('Gemini answers with text only here ("modalities")', (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text'),
  web_search_options: refused('"web_search_options" is not supported by the Vertex Gemini translator'),
};

const PARAMETERS: ParameterTable<RuleTarget> = {
  rules: RULES,
  unlisted: refused((_value, key) => `unknown parameter "${key.slice(0, 64)}": the Vertex Gemini translator does not know what it means`),
};

/** What this translator does with every OpenAI chat parameter (the table in openai_to_gemini.ts). */
export const geminiChatParameters = ruleNames(RULES);

export const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

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

export function refuse(message: string): never {
  throw refusal(message);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function present(v: unknown): boolean {
  return v !== null && v !== undefined;
}


/** The Gemini request for an OpenAI one, and the parameters that were dropped. */
export function geminiRequest(body: ChatRequest): { request: GenerateContentRequest; dropped: string[]; candidates: number } {
  const dropped: string[] = [];
  applyParameterRules(body, PARAMETERS, { native: {}, dropped });
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
  /** Tool call id → function name, from the assistant turns seen so far. */
  const calls = new Map<string, string>();
  // Gemini wants user and model turns to alternate: consecutive same-role messages become one turn.
  const turns = new AlternatingTurns<Content['role'], RequestPart>();
  eachMessage<void>(
    messages,
    {
      system: (msg, where) => system.push(...(contentParts(msg.content, where, 'text', dropped) as Array<{ text: string }>)),
      user: (msg, where) => turns.append('user', contentParts(msg.content, where, 'media', dropped)),
      assistant: (msg, where) => {
        const parts = contentParts(msg.content, where, 'text', dropped);
        assistantToolCalls(msg, where).forEach((call, j) => parts.push(functionCall(call, `${where}.tool_calls[${j}]`, calls)));
        turns.append('model', parts);
      },
      tool: (msg, where) => {
        const name = calls.get(msg.tool_call_id);
        if (name === undefined) refuse(`${where}.tool_call_id "${msg.tool_call_id.slice(0, 64)}" does not match a tool call of an earlier assistant message`);
        const text = (contentParts(msg.content, where, 'text', dropped) as Array<{ text: string }>).map((p) => p.text).join('');
        // "output" is the key Gemini documents for a function's result.
        turns.append('user', [{ functionResponse: { name, response: { output: text } } }]);
      },
    },
    {
      unsupportedRole: (role, where) => `${where}.role ${JSON.stringify(role)} is not supported`,
      droppedName: () => dropped.push('messages[].name'),
      missingToolCallId: (where) => `${where}.tool_call_id is required for a tool message`,
    },
  );
  return { system, contents: turns.turns };
}

/** A message's content as Gemini parts; media (images, audio, files) only where `allow` says (user turns). */
function contentParts(content: ChatMessage['content'] | undefined, where: string, allow: 'text' | 'media', dropped: string[]): RequestPart[] {
  const parts: RequestPart[] = [];
  eachPart(content, where, (part, at) => {
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
  const { id, name, args } = readToolCall(call, where);
  // Gemini's args is a Struct: a JSON object.
  if (!isObject(args)) refuse(`${where}.function.arguments must be a JSON object`);
  calls.set(id, name);
  return { functionCall: { name, args } };
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
