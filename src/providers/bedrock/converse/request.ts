import { AlternatingTurns, assistantToolCalls, eachMessage, eachPart, readToolCall } from '../../../protocol/chat-messages.js';
import type { ChatMessage, ChatRequest, CustomTool, CustomToolCall, Tool, ToolCall, ToolChoice } from '../../../protocol/openai.js';
import { applyParameterRules, dropped, MAPPED, refused, sameRule, type ParameterTable, type RuleTarget } from '../../../protocol/parameter-rules.js';
import { refusal } from '../../../protocol/translator.js';

/** OpenAI chat request → Converse body; the rules are the table in openai_to_converse.ts. */

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

export interface ConverseRequest {
  messages: ConverseMessage[];
  system?: TextBlock[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: { tools: Array<{ toolSpec: ToolSpec }>; toolChoice?: ConverseToolChoice };
  outputConfig?: { textFormat: { type: 'json_schema'; structure: { jsonSchema: { schema: string; name?: string; description?: string } } } };
}

const LOGPROBS = 'logprobs are not supported: Bedrock Converse does not report them';
const FUNCTIONS = '"functions" and "function_call" are not supported; use "tools"';

/**
 * Parameters that would change the answer's meaning and have no Converse equivalent are
 * refused; `inert` values change nothing. Any other field not named here is dropped.
 */
const PARAMETERS: ParameterTable<RuleTarget> = {
  rules: {
    ...sameRule(
      MAPPED,
      'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p',
      'stop', 'tools', 'tool_choice', 'response_format'
    ),
    n: refused((v) => `n=${String(v)} is not supported: Bedrock Converse returns one choice`, (v) => v === 1),
    logprobs: refused(LOGPROBS, (v) => v !== true),
    top_logprobs: refused(LOGPROBS, (v) => !(typeof v === 'number' && v > 0)),
    functions: refused(FUNCTIONS),
    function_call: refused(FUNCTIONS),
    audio: refused('audio output is not supported by Bedrock Converse'),
    modalities: refused('Bedrock Converse answers with text only ("modalities")', (v) => !(Array.isArray(v) && v.some((m) => m !== 'text'))),
    web_search_options: refused('"web_search_options" is not supported by Bedrock Converse'),
    // Converse cannot be told to call one tool at a time.
    parallel_tool_calls: dropped((v) => v !== false),
  },
  unlisted: dropped(),
};

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


export function converseRequest(body: ChatRequest): { converse: ConverseRequest; dropped: string[] } {
  const target: RuleTarget = { native: {}, dropped: [] };
  applyParameterRules(body, PARAMETERS, target);
  const dropped = new Set(target.dropped);

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


function converseMessages(input: ChatMessage[], dropped: Set<string>): { system: TextBlock[]; messages: ConverseMessage[]; toolHistory: boolean } {
  const system: TextBlock[] = [];
  // Converse rejects two consecutive messages of one role: they become one.
  const turns = new AlternatingTurns<ConverseMessage['role'], ContentBlock>();
  let toolHistory = false;
  eachMessage<void>(
    input,
    {
      system: (msg, where) => system.push(...contentBlocks(msg.content, where, 'text', dropped) as TextBlock[]),
      user: (msg, where) => turns.append('user', contentBlocks(msg.content, where, 'images', dropped)),
      assistant: (msg, where) => {
        const blocks = contentBlocks(msg.content, where, 'text', dropped);
        const calls = assistantToolCalls(msg, where);
        calls.forEach((call, j) => blocks.push(toolUse(call, `${where}.tool_calls[${j}]`)));
        toolHistory ||= calls.length > 0;
        turns.append('assistant', blocks);
      },
      tool: (msg, where) => {
        const content = contentBlocks(msg.content, where, 'text', dropped) as TextBlock[];
        turns.append('user', [{ toolResult: { toolUseId: msg.tool_call_id, content } }]);
        toolHistory = true;
      },
    },
    {
      unsupportedRole: (role, where) => `${where}.role ${JSON.stringify(role)} is not supported by Bedrock Converse`,
      droppedName: () => dropped.add('messages[].name'),
      missingToolCallId: (where) => `${where}.tool_call_id is required for a tool message`,
    },
  );
  return { system, messages: turns.turns.map(({ role, parts }) => ({ role, content: parts })), toolHistory };
}

/** A message's content as Converse blocks; images only where `allow` says so (user turns). */
function contentBlocks(content: ChatMessage['content'] | undefined, where: string, allow: 'text' | 'images', dropped: Set<string>): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  eachPart(content, where, (part, at) => {
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
  const { id, name, args } = readToolCall(call, where);
  return { toolUse: { toolUseId: id, name, input: args } };
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
