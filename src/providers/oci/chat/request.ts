import { eachMessage, joinedText, userParts } from '../../../protocol/chat-messages.js';
import type { ChatMessage, ChatRequest } from '../../../protocol/openai.js';
import { applyParameterRules, dropped, MAPPED, mappedBy, refused, ruleNames, sameRule, type ParameterTable, type RuleTarget } from '../../../protocol/parameter-rules.js';
import { refusal } from '../../../protocol/translator.js';

/**
 * OpenAI chat request → OCI `ChatDetails` (GENERIC or COHERE format); the rules are the table
 * in openai_to_oci.ts.
 */

export type ApiFormat = 'GENERIC' | 'COHERE';

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


/** What a mapped parameter writes to: the `chatRequest` object, in the model's format. */
interface OciTarget extends RuleTarget {
  readonly generic: boolean;
}

/** A refusal naming the field its message starts with (protocol/translator.ts). */
const invalid = refusal;
const present = (v: unknown): boolean => v !== undefined && v !== null;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function number(key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${key} must be a number`);
  return value;
}

/** A number parameter sent under `name`. */
const numberAs = (name: string) => mappedBy<OciTarget>((value, t, key) => (t.native[name] = number(key, value)));

const REASONING_EFFORTS = new Set(['minimal', 'low', 'medium', 'high']);

const RULES = {
  // model, messages and stream are set by toOciChat; include_usage comes with TranslatorOptions.
  ...sameRule(MAPPED, 'model', 'messages', 'stream', 'stream_options'),
  max_tokens: numberAs('maxTokens'),
  max_completion_tokens: mappedBy<OciTarget>((value, t, key) => (t.native[t.generic ? 'maxCompletionTokens' : 'maxTokens'] = number(key, value))),
  temperature: numberAs('temperature'),
  top_p: numberAs('topP'),
  seed: numberAs('seed'),
  presence_penalty: numberAs('presencePenalty'),
  frequency_penalty: numberAs('frequencyPenalty'),
  n: mappedBy<OciTarget>((value, t, key) => {
    const n = number(key, value);
    if (t.generic) t.native['numGenerations'] = n;
    else if (n !== 1) throw invalid('n: Cohere models on OCI answer with one choice only');
  }),
  stop: mappedBy<OciTarget>((value, t) => {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw invalid('stop must be a string or an array of strings');
    t.native[t.generic ? 'stop' : 'stopSequences'] = list;
  }),
  response_format: mappedBy<OciTarget>((value, t) => responseFormat(value, t)),
  reasoning_effort: mappedBy<OciTarget>((value, t, key) => {
    if (t.generic && typeof value === 'string' && REASONING_EFFORTS.has(value)) t.native['reasoningEffort'] = value.toUpperCase();
    else t.dropped.push(key);
  }),
  modalities: mappedBy<OciTarget>((value) => {
    if (!Array.isArray(value) || value.some((m) => m !== 'text')) throw invalid('modalities: OCI Generative AI chat answers with text only');
  }),
  ...sameRule(
    dropped(),
    'user', 'metadata', 'store', 'service_tier', 'safety_identifier', 'prompt_cache_key', 'prediction', 'verbosity'
  ),
  parallel_tool_calls: mappedBy<OciTarget>((value, t, key) => {
    if (typeof value !== 'boolean') throw invalid('parallel_tool_calls must be a boolean');
    if (t.generic) t.native['isParallelToolCalls'] = value;
    else t.dropped.push(key);
  }),
  tools: mappedBy<OciTarget>((value, t) => {
    if (!t.generic) throw invalid(COHERE_TOOLS);
    t.native['tools'] = genericTools(value);
  }),
  tool_choice: mappedBy<OciTarget>((value, t) => {
    if (!t.generic) throw invalid(COHERE_TOOLS);
    t.native['toolChoice'] = genericToolChoice(value);
  }),
  functions: refused('functions is deprecated and not translated: use tools'),
  function_call: refused('function_call is deprecated and not translated: use tool_choice'),
  logprobs: refused('logprobs are not translated to OCI Generative AI'),
  top_logprobs: refused('top_logprobs: logprobs are not translated to OCI Generative AI'),
  logit_bias: refused('logit_bias is not translated to OCI Generative AI'),
  audio: refused('audio: OCI Generative AI chat produces no audio output'),
  web_search_options: refused('web_search_options: web search is not translated to OCI Generative AI'),
};

const PARAMETERS: ParameterTable<OciTarget> = {
  rules: RULES,
  unlisted: refused((_value, key) => `${key.slice(0, 64)}: this parameter is not supported by the OCI Generative AI translation`),
};

/** What this translator does with each OpenAI chat parameter (the table in openai_to_oci.ts). */
export const ociChatParameters = ruleNames(RULES);

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
  if (!Array.isArray(req.messages) || req.messages.length === 0) throw invalid('messages must be a non-empty array');
  const chat: Record<string, unknown> = { apiFormat: format };
  if (format === 'GENERIC') chat['messages'] = genericMessages(req.messages);
  else Object.assign(chat, cohereMessages(req.messages));
  if (stream) {
    chat['isStream'] = true;
    if (includeUsage && format === 'GENERIC') chat['streamOptions'] = { isIncludeUsage: true };
  }
  const target: OciTarget = { native: chat, dropped: [], generic: format === 'GENERIC' };
  applyParameterRules(req, PARAMETERS, target);
  return { body: { compartmentId, servingMode: { servingType: 'ON_DEMAND', modelId: model }, chatRequest: chat }, dropped: target.dropped };
}

function responseFormat(value: unknown, t: OciTarget): void {
  if (!isObject(value)) throw invalid('response_format must be an object');
  switch (value['type']) {
    case 'text':
      if (t.generic) t.native['responseFormat'] = { type: 'TEXT' };
      return;
    case 'json_object':
      t.native['responseFormat'] = { type: 'JSON_OBJECT' };
      return;
    case 'json_schema': {
      const spec = value['json_schema'];
      if (!isObject(spec) || typeof spec['name'] !== 'string') throw invalid('response_format.json_schema needs a name');
      if (!t.generic) {
        t.native['responseFormat'] = isObject(spec['schema']) ? { type: 'JSON_OBJECT', schema: spec['schema'] } : { type: 'JSON_OBJECT' };
        return;
      }
      const jsonSchema: Record<string, unknown> = { name: spec['name'] };
      if (typeof spec['description'] === 'string') jsonSchema['description'] = spec['description'];
      if (isObject(spec['schema'])) jsonSchema['schema'] = spec['schema'];
      if (typeof spec['strict'] === 'boolean') jsonSchema['isStrict'] = spec['strict'];
      t.native['responseFormat'] = { type: 'JSON_SCHEMA', jsonSchema };
      return;
    }
    default:
      throw invalid(`response_format.type "${String(value['type']).slice(0, 32)}" is not supported (text, json_object, json_schema)`);
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
function textOf(content: ChatMessage['content'] | undefined, i: number, role: string): string {
  return joinedText(content, i, `${role} messages take text parts only here`);
}

function genericMessages(messages: ChatMessage[]): GenericMessage[] {
  // messages[].name has no OCI field: it is left out silently (the table in openai_to_oci.ts).
  return eachMessage<GenericMessage>(
    messages,
    {
      system: (msg, _where, i) => ({ role: 'SYSTEM', content: [{ type: 'TEXT', text: textOf(msg.content, i, msg.role) }] }),
      assistant: (msg, _where, i) => {
        const text = textOf(msg.content, i, 'assistant');
        if (!present(msg.tool_calls) || (Array.isArray(msg.tool_calls) && msg.tool_calls.length === 0)) return { role: 'ASSISTANT', content: [{ type: 'TEXT', text }] };
        return { role: 'ASSISTANT', content: text === '' ? null : [{ type: 'TEXT', text }], toolCalls: genericToolCalls(msg.tool_calls, i) };
      },
      tool: (msg, _where, i) => ({ role: 'TOOL', toolCallId: msg.tool_call_id, content: [{ type: 'TEXT', text: textOf(msg.content, i, 'tool') }] }),
      user: (msg, _where, i) => ({ role: 'USER', content: genericUserContent(msg.content, i) }),
    },
    { unsupportedRole: (role, where) => `${where}.role "${String(role).slice(0, 32)}" is not supported (system, developer, user, assistant, tool)` },
  );
}

function genericUserContent(content: ChatMessage['content'] | undefined, i: number): GenericContent[] {
  if (typeof content === 'string') return [{ type: 'TEXT', text: content }];
  return userParts(content, i, 'OCI Generative AI', ['text', 'image_url']).map((part): GenericContent => {
    if (part.type === 'text') return { type: 'TEXT', text: part.text };
    return { type: 'IMAGE', imageUrl: part.detail !== undefined ? { url: part.url, detail: part.detail.toUpperCase() } : { url: part.url } };
  });
}

/** COHERE format: system text → preambleOverride, the last user message → message, the rest → chatHistory. */
function cohereMessages(messages: ChatMessage[]): Record<string, unknown> {
  const preamble: string[] = [];
  const history: CohereHistoryMessage[] = [];
  eachMessage<void>(
    messages,
    {
      system: (msg, _where, i) => preamble.push(textOf(msg.content, i, msg.role)),
      user: (msg, _where, i) => history.push({ role: 'USER', message: textOf(msg.content, i, 'user (Cohere)') }),
      assistant: (msg, _where, i) => history.push({ role: 'CHATBOT', message: textOf(msg.content, i, 'assistant') }),
    },
    {
      unsupportedRole: (role, where) => `${where}.role "${String(role).slice(0, 32)}" is not supported (system, developer, user, assistant)`,
      check: (msg, _where, i) => refuseTools(msg, i),
    },
  );
  const last = history.pop();
  if (last === undefined || last.role !== 'USER') throw invalid('messages: with a Cohere model the last non-system message must be a user message');
  const out: Record<string, unknown> = { message: last.message };
  if (history.length > 0) out['chatHistory'] = history;
  if (preamble.length > 0) out['preambleOverride'] = preamble.join('\n\n');
  return out;
}

