import { eachMessage, joinedText, userParts } from '../../../protocol/chat-messages.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../../../protocol/openai.js';
import { applyParameterRules, dropped, MAPPED, mappedBy, PASSTHROUGH, refused, ruleNames, sameRule, type ParameterTable, type RuleTarget } from '../../../protocol/parameter-rules.js';
import { refusal } from '../../../protocol/translator.js';

/** OpenAI chat request → watsonx `text/chat` body; the rules are the table in openai_to_watsonx.ts. */

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

/** A refusal naming the field its message starts with (protocol/translator.ts). */
const invalid = refusal;
const isObject = <T>(v: T): v is T & Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const REASONING_EFFORTS = new Set(['low', 'medium', 'high']);

const RULES = {
  // model_id, messages and the path are set by toWatsonxChat; include_usage comes with TranslatorOptions.
  ...sameRule(MAPPED, 'model', 'messages', 'stream', 'stream_options'),
  ...sameRule(
    PASSTHROUGH,
    'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'seed', 'presence_penalty',
    'frequency_penalty', 'logprobs', 'top_logprobs', 'logit_bias'
  ),
  stop: mappedBy<RuleTarget>((value, t) => {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw invalid('stop must be a string or an array of strings');
    if (list.length > 0) t.native['stop'] = list;
  }),
  response_format: mappedBy<RuleTarget>((value, t) => {
    const type = isObject(value) ? value['type'] : undefined;
    if (type !== 'text' && type !== 'json_object' && type !== 'json_schema') {
      throw invalid('response_format.type must be text, json_object or json_schema');
    }
    if (type === 'json_schema' && !isObject((value as Record<string, unknown>)['json_schema'])) throw invalid('response_format.json_schema is required');
    t.native['response_format'] = value;
  }),
  tools: mappedBy<RuleTarget>((value, t) => {
    if (!Array.isArray(value)) throw invalid('tools must be an array');
    if (value.length === 0) return;
    t.native['tools'] = value.map((tool, i) => mapTool(tool, i, t.dropped));
  }),
  tool_choice: mappedBy<RuleTarget>((value, t) => mapToolChoice(value, t.native)),
  reasoning_effort: mappedBy<RuleTarget>((value, t) => {
    if (typeof value === 'string' && REASONING_EFFORTS.has(value)) t.native['reasoning_effort'] = value;
    else t.dropped.push('reasoning_effort');
  }),
  modalities: mappedBy<RuleTarget>((value) => {
    if (!Array.isArray(value) || value.some((m) => m !== 'text')) throw invalid('modalities: watsonx chat produces text only');
  }),
  ...sameRule(
    dropped(),
    'parallel_tool_calls', 'user', 'safety_identifier', 'metadata', 'store', 'service_tier', 'prompt_cache_key',
    'prediction', 'verbosity'
  ),
  functions: refused('functions is deprecated and not translated: use tools'),
  function_call: refused('function_call is deprecated and not translated: use tool_choice'),
  audio: refused('audio: watsonx chat produces no audio output'),
  web_search_options: refused('web_search_options: web search is not available through watsonx'),
};

const PARAMETERS: ParameterTable<RuleTarget> = {
  rules: RULES,
  unlisted: refused((_value, key) => `${key.slice(0, 64)}: this parameter is not supported by the watsonx translation`),
};

/** What this translator does with each OpenAI chat parameter (the table in openai_to_watsonx.ts). */
export const watsonxChatParameters = ruleNames(RULES);

/**
 * The watsonx `text/chat` body for an OpenAI request (without the stream choice, which is the
 * path), and the parameters dropped on the way. Throws GatewayError('invalid_request').
 *
 * @example
 * const { body, dropped } = toWatsonxChat(req, 'ibm/granite-3-8b-instruct', { project_id: 'p-1' });
 * // body: { model_id: 'ibm/granite-3-8b-instruct', project_id: 'p-1', messages: [...], ... }
 */
export function toWatsonxChat(req: ChatRequest, model: string, scope: WatsonxScope): { body: Record<string, unknown>; dropped: string[] } {
  const target: RuleTarget = { native: { model_id: model, ...scope, messages: mapMessages(req.messages) }, dropped: [] };
  applyParameterRules(req, PARAMETERS, target);
  return { body: target.native, dropped: target.dropped };
}

function mapTool(tool: unknown, i: number, droppedParams: string[]): WatsonxTool {
  if (!isObject(tool) || tool['type'] !== 'function' || !isObject(tool['function'])) {
    throw invalid(`tools[${i}]: only {"type":"function","function":{...}} tools are supported`);
  }
  const fn = tool['function'];
  if (typeof fn['name'] !== 'string' || fn['name'] === '') throw invalid(`tools[${i}].function.name is required`);
  const out: WatsonxTool = { type: 'function', function: { name: fn['name'] } };
  if (typeof fn['description'] === 'string') out.function.description = fn['description'];
  if (isObject(fn['parameters'])) out.function.parameters = fn['parameters'];
  if (fn['strict'] === true && !droppedParams.includes('tools.function.strict')) droppedParams.push('tools.function.strict');
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
  /** watsonx takes a message's `name` (OpenAI's participant name) as it is, tool results aside. */
  const nameOf = (msg: ChatMessage): { name?: string } => (typeof msg.name === 'string' && msg.name !== '' ? { name: msg.name } : {});
  return eachMessage<WatsonxMessage>(
    messages,
    {
      system: (msg, _where, i) => ({ role: 'system', content: textOf(msg.content, i, 'system'), ...nameOf(msg) }),
      user: (msg, _where, i) => ({ role: 'user', content: userContent(msg.content, i), ...nameOf(msg) }),
      assistant: (msg, _where, i) => assistantMessage(msg, i, nameOf(msg)),
      tool: (msg, _where, i) => ({ role: 'tool', content: textOf(msg.content, i, 'tool'), tool_call_id: msg.tool_call_id }),
    },
    { unsupportedRole: (role, where) => `${where}.role "${String(role).slice(0, 32)}" is not supported (system, developer, user, assistant, tool)` },
  );
}

/** A text-only message's content: a string, or text parts concatenated. */
function textOf(content: ChatMessage['content'] | undefined, i: number, role: string): string {
  return joinedText(content, i, `${role} messages take text parts only`);
}

function userContent(content: ChatMessage['content'] | undefined, i: number): string | WatsonxUserContent[] {
  if (typeof content === 'string') return content;
  return userParts(content, i, 'watsonx', ['text', 'image_url', 'input_audio']).map((part): WatsonxUserContent => {
    switch (part.type) {
      case 'text':
        return part;
      case 'image_url':
        return { type: 'image_url', image_url: part.detail !== undefined ? { url: part.url, detail: part.detail } : { url: part.url } };
      case 'input_audio':
        return { type: 'input_audio', input_audio: { data: part.data, format: part.format } };
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

