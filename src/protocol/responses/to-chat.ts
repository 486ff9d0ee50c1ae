import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatMessage, ChatRequest, ContentPart, ToolCall } from '../openai.js';
import type { InputContentPart, InputItem, ResponsesFunctionTool, ResponsesRequest } from './schema.js';
import { newItemId, type IdMaker, type OutputMessageItem, type ResponseItem } from './types.js';

/**
 * Responses request → chat request, the hub every provider's chat translator speaks (issue 14,
 * "compose, don't multiply"). What each top-level field becomes is {@link RESPONSES_FIELD_RULES};
 * items become chat messages:
 *
 * | Responses                                  | chat                                                       |
 * | ------------------------------------------ | ---------------------------------------------------------- |
 * | `instructions` (this request's only)       | a `system` message first                                   |
 * | message user / system / developer          | the same role; input_text → text, input_image → image_url, input_file → file |
 * | message assistant                          | assistant text (output_text and refusal parts joined)      |
 * | function_call (consecutive ones)           | `tool_calls` of one assistant message, after its text      |
 * | function_call_output                       | a `tool` message                                           |
 * | reasoning                                  | nothing (another model's reasoning; kept in the history)   |
 * | item_reference, other item types           | 400                                                        |
 *
 * The earlier turns (`history`, loaded by the gateway for `previous_response_id`) come first.
 * OpenAI does not carry earlier `instructions` over, so neither does this.
 */

/** What the gateway does with a top-level Responses field when it answers over the chat hub. */
export type FieldRule =
  /** Converted to its chat equivalent, which the provider's translator then sends, maps or drops. */
  | { kind: 'mapped' }
  /** The gateway's own business (the store, the stream framing); nothing is sent. */
  | { kind: 'gateway' }
  /** Ignored and reported in `dropped`, unless `inert` says the value changes nothing. */
  | { kind: 'dropped'; inert?: (value: unknown) => boolean }
  /** 400 with `because` as the message (it starts with the field's name), unless `inert`. */
  | { kind: 'refused'; because: string; inert?: (value: unknown) => boolean };

const MAPPED: FieldRule = { kind: 'mapped' };
const GATEWAY: FieldRule = { kind: 'gateway' };

/**
 * Every Responses field the converter knows; an unknown one is dropped (reported), as OpenAI adds
 * fields every few months and a new one must not become a 500.
 */
export const RESPONSES_FIELD_RULES: Readonly<Record<string, FieldRule>> = {
  model: MAPPED,
  input: MAPPED,
  instructions: MAPPED,
  tools: MAPPED,
  tool_choice: MAPPED,
  text: MAPPED, // format → response_format, verbosity → verbosity
  max_output_tokens: MAPPED, // → max_completion_tokens
  temperature: MAPPED,
  top_p: MAPPED,
  reasoning: MAPPED, // effort → reasoning_effort; summary dropped
  parallel_tool_calls: MAPPED,
  stream: MAPPED, // and stream_options.include_usage, so the answer has its usage
  user: MAPPED,
  safety_identifier: MAPPED,
  prompt_cache_key: MAPPED,
  service_tier: MAPPED,
  // The gateway stores the response (store), loads the history (previous_response_id), echoes
  // and stores metadata; it adds no obfuscation padding to stream events (stream_options).
  store: GATEWAY,
  previous_response_id: GATEWAY,
  metadata: GATEWAY,
  stream_options: GATEWAY,
  truncation: { kind: 'dropped', inert: (v) => v === 'disabled' },
  include: { kind: 'dropped', inert: (v) => Array.isArray(v) && v.length === 0 },
  max_tool_calls: { kind: 'dropped' },
  top_logprobs: { kind: 'dropped', inert: (v) => v === 0 },
  prompt_cache_retention: { kind: 'dropped' },
  background: { kind: 'refused', because: 'background: background responses are not supported on this provider', inert: (v) => v === false },
  conversation: { kind: 'refused', because: 'conversation: not supported; use previous_response_id' },
  prompt: { kind: 'refused', because: 'prompt: prompt templates are not supported on this provider' },
};

const UNLISTED: FieldRule = { kind: 'dropped' };

/** The chat request, and the Responses parameters it left out (Responses spelling: `reasoning.summary`). */
export interface ChatConversion {
  chat: ChatRequest;
  dropped: string[];
}

/**
 * Converts a checked Responses request (checkResponsesRequest) to a chat request for the
 * provider's translator. Throws GatewayError('invalid_request') naming the field for what the hub
 * cannot carry (built-in tools, item references, images by file id, `background`, …).
 *
 * @example
 * const history = await store.items(req.previous_response_id); // oldest first
 * const { chat, dropped } = responsesToChat(req, history);
 * const native = translator.request(chat);               // native.dropped: the provider's drops
 * reportDropped([...dropped, ...native.dropped]);
 */
export function responsesToChat(req: ResponsesRequest, history: readonly ResponseItem[] = []): ChatConversion {
  const dropped: string[] = [];
  for (const key of Object.keys(req)) {
    const value = req[key];
    if (value === undefined || value === null) continue;
    const rule = Object.hasOwn(RESPONSES_FIELD_RULES, key) ? RESPONSES_FIELD_RULES[key]! : UNLISTED;
    if (rule.kind === 'dropped' && rule.inert?.(value) !== true) dropped.push(key);
    if (rule.kind === 'refused' && rule.inert?.(value) !== true) refuse(key, rule.because);
  }

  const messages = new MessageList();
  if (typeof req.instructions === 'string' && req.instructions !== '') messages.push({ role: 'system', content: req.instructions });
  const instructions = messages.length;
  history.forEach((item) => messages.add(item, 'previous_response_id'));
  inputItems(req, () => '').forEach((item, i) => messages.add(item, typeof req.input === 'string' ? 'input' : `input[${i}]`));
  if (messages.length === instructions) refuse('input', 'input: is required (a string or an array of input items)');

  const chat: ChatRequest = { model: req.model, messages: messages.list };
  if (req.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  if (isSet(req.max_output_tokens)) chat.max_completion_tokens = req.max_output_tokens;
  if (isSet(req.temperature)) chat.temperature = req.temperature;
  if (isSet(req.top_p)) chat.top_p = req.top_p;
  if (isSet(req.tools)) chat.tools = req.tools.map((tool, i) => chatTool(tool, i));
  if (isSet(req.tool_choice)) chat.tool_choice = chatToolChoice(req.tool_choice);
  if (isSet(req.parallel_tool_calls)) chat.parallel_tool_calls = req.parallel_tool_calls;
  const format = req.text?.format;
  if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  if (format?.type === 'json_schema') {
    const { name, schema, description, strict } = format;
    chat.response_format = { type: 'json_schema', json_schema: { name, schema, ...(isSet(description) ? { description } : {}), ...(isSet(strict) ? { strict } : {}) } };
  }
  if (isSet(req.text?.verbosity)) chat['verbosity'] = req.text.verbosity;
  if (isSet(req.reasoning?.effort)) chat.reasoning_effort = req.reasoning.effort;
  if (isSet(req.reasoning?.summary) || isSet(req.reasoning?.generate_summary)) dropped.push('reasoning.summary');
  for (const key of ['user', 'safety_identifier', 'prompt_cache_key', 'service_tier'] as const) {
    if (isSet(req[key])) chat[key] = req[key];
  }
  return { chat, dropped };
}

/**
 * The request's input as items with ids, as the gateway stores them and `GET
 * /v1/responses/{id}/input_items` lists them: a string is one user message; messages get `msg_…`
 * ids, function calls `fc_…`, their outputs `fco_…`, reasoning `rs_…` (ids the client gave are
 * kept); string contents become one text part. Throws GatewayError('invalid_request') for an item
 * the chat hub cannot carry, unless `others` is `keep` (a provider's own Responses API takes it):
 * such an item is then kept as it came, with an id.
 *
 * @example
 * inputItems({ model: 'm', input: 'hi' });
 * // [{ id: 'msg_…', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'hi' }] }]
 */
export function inputItems(req: ResponsesRequest, newId: IdMaker = newItemId, others: 'refuse' | 'keep' = 'refuse'): ResponseItem[] {
  const input = req.input;
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ id: newId('msg'), type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: input }] }];
  return input.map((item, i) => normalise(item, `input[${i}]`, newId, others));
}

// ---------------------------------------------------------------------------------------------
// Items

/** The chat messages, with the assistant message that function calls of the same turn join. */
class MessageList {
  readonly list: ChatMessage[] = [];
  /** The assistant message of the current turn, until a message of another role starts one. */
  #assistant: ChatMessage | undefined;

  get length(): number {
    return this.list.length;
  }

  push(message: ChatMessage): void {
    this.list.push(message);
    this.#assistant = message.role === 'assistant' ? message : undefined;
  }

  add(item: ResponseItem, param: string): void {
    switch (item.type) {
      case 'message':
        if (item.role === 'assistant') this.push({ role: 'assistant', content: assistantText(item) });
        else this.push({ role: item.role, content: chatContent(item.content, param) });
        return;
      case 'function_call': {
        const call: ToolCall = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } };
        // Text then calls, or calls alone: one assistant message, as chat models answer.
        const turn = this.#assistant;
        if (turn !== undefined) turn.tool_calls = [...(turn.tool_calls ?? []), call];
        else this.push({ role: 'assistant', content: null, tool_calls: [call] });
        return;
      }
      case 'function_call_output':
        this.push({ role: 'tool', tool_call_id: item.call_id, content: typeof item.output === 'string' ? item.output : chatParts(item.output, `${param}.output`) });
        return;
      case 'reasoning':
        return;
      default:
        item satisfies never;
    }
  }
}

function assistantText(item: OutputMessageItem): string {
  return item.content.map((part) => (part.type === 'output_text' ? part.text : part.refusal)).join('');
}

/** One text part is a string, as the client most likely sent it (inputItems stores a string as one part). */
function chatContent(parts: readonly InputContentPart[], param: string): string | ContentPart[] {
  const only = parts.length === 1 ? parts[0] : undefined;
  return only?.type === 'input_text' ? only.text : chatParts(parts, param);
}

function chatParts(parts: readonly InputContentPart[], param: string): ContentPart[] {
  return parts.map((part, j): ContentPart => {
    const at = `${param}.content[${j}]`;
    switch (part.type) {
      case 'input_text':
        return { type: 'text', text: part.text };
      case 'input_image':
        if (typeof part.image_url !== 'string') return refuse(`${at}.file_id`, `${at}.file_id: images by file id are not supported on this provider; send image_url (a URL or a data URL)`);
        return { type: 'image_url', image_url: { url: part.image_url, ...(isSet(part.detail) ? { detail: part.detail } : {}) } };
      case 'input_file': {
        if (isSet(part.file_url)) return refuse(`${at}.file_url`, `${at}.file_url: files by URL are not supported on this provider; send file_data`);
        const file: Record<string, string> = {};
        if (isSet(part.file_data)) file['file_data'] = part.file_data;
        if (isSet(part.file_id)) file['file_id'] = part.file_id;
        if (isSet(part.filename)) file['filename'] = part.filename;
        return { type: 'file', file };
      }
      case 'output_text':
      case 'refusal':
        return refuse(`${at}.type`, `${at}.type: "${part.type}" parts belong to assistant messages`);
      default:
        return part satisfies never;
    }
  });
}

/** One input item as stored: typed, with an id; `param` names it in refusals. */
function normalise(raw: InputItem, param: string, newId: IdMaker, others: 'refuse' | 'keep'): ResponseItem {
  // The schema let any object with a string `type` through (see schema.ts); the shorthands have none.
  const loose = raw as { type?: string | null; role?: unknown; id?: string | null };
  const type = loose.type ?? ('role' in loose ? 'message' : 'item_reference');
  const id = typeof loose.id === 'string' && loose.id !== '' ? loose.id : undefined;
  switch (type) {
    case 'message': {
      const m = raw as Extract<InputItem, { type: 'message' }>;
      if (m.role === 'assistant') {
        const content: OutputMessageItem['content'] = typeof m.content === 'string'
          ? [{ type: 'output_text', text: m.content, annotations: [], logprobs: [] }]
          : m.content.map((part, j) => {
              if (part.type === 'output_text') return { annotations: [], logprobs: [], ...part };
              if (part.type === 'refusal') return part;
              return refuse(`${param}.content[${j}].type`, `${param}.content[${j}].type: assistant messages carry output_text and refusal parts, not "${part.type}"`);
            });
        return { id: id ?? newId('msg'), type: 'message', role: 'assistant', status: 'completed', content };
      }
      const content = typeof m.content === 'string' ? [{ type: 'input_text' as const, text: m.content }] : m.content;
      return { id: id ?? newId('msg'), type: 'message', role: m.role, status: 'completed', content };
    }
    case 'function_call': {
      const c = raw as Extract<InputItem, { type: 'function_call' }>;
      return { id: id ?? newId('fc'), type: 'function_call', status: 'completed', call_id: c.call_id, name: c.name, arguments: c.arguments };
    }
    case 'function_call_output': {
      const o = raw as Extract<InputItem, { type: 'function_call_output' }>;
      return { id: id ?? newId('fco'), type: 'function_call_output', status: 'completed', call_id: o.call_id, output: o.output };
    }
    case 'reasoning': {
      const r = raw as Extract<InputItem, { type: 'reasoning' }>;
      return { ...r, id: id ?? newId('rs'), type: 'reasoning', summary: r.summary ?? [] };
    }
    default:
      if (others === 'keep') return { ...(raw as object), id: id ?? newId('item') } as unknown as ResponseItem;
      if (type === 'item_reference') return refuse(param, `${param}: item_reference is not supported`);
      return refuse(`${param}.type`, `${param}.type: ${quoted(type)} items are not supported on this provider`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tools

function chatTool(tool: NonNullable<ResponsesRequest['tools']>[number], i: number): NonNullable<ChatRequest['tools']>[number] {
  if (tool.type !== 'function') return refuse(`tools[${i}].type`, `tools[${i}].type: built-in tool ${quoted(tool.type)} is not available on this provider`);
  const { name, description, parameters, strict } = tool as ResponsesFunctionTool;
  return {
    type: 'function',
    function: { name, ...(isSet(description) ? { description } : {}), ...(isSet(parameters) ? { parameters } : {}), ...(isSet(strict) ? { strict } : {}) },
  };
}

function chatToolChoice(choice: NonNullable<ResponsesRequest['tool_choice']>): NonNullable<ChatRequest['tool_choice']> {
  if (typeof choice === 'string') return choice;
  const c = choice as { type: string; name?: unknown; mode?: unknown; tools?: unknown };
  if (c.type === 'function' && typeof c.name === 'string') return { type: 'function', function: { name: c.name } };
  if (c.type === 'allowed_tools' && (c.mode === 'auto' || c.mode === 'required') && Array.isArray(c.tools)) {
    const tools = (c.tools as Array<{ type: string; name?: unknown }>).map((t, i) => {
      if (t.type !== 'function' || typeof t.name !== 'string') return refuse(`tool_choice.tools[${i}].type`, `tool_choice.tools[${i}].type: built-in tool ${quoted(t.type)} is not available on this provider`);
      return { type: 'function', function: { name: t.name } };
    });
    return { type: 'allowed_tools', allowed_tools: { mode: c.mode, tools } };
  }
  return refuse('tool_choice.type', `tool_choice.type: built-in tool ${quoted(c.type)} is not available on this provider`);
}

// ---------------------------------------------------------------------------------------------

/** A client's string in a message: quoted, and cut at 64 characters (messages are logged and returned). */
function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

function isSet<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

/** A 400 naming `param`; the message starts with it, as the chat translators' refusals do. */
function refuse(param: string, message: string): never {
  throw new GatewayError('invalid_request', message, { param });
}
