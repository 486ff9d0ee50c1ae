import { parseJsonWithin } from './json.js';
import type { ChatMessage, CustomToolCall, ToolCall } from './openai.js';
import { refusal } from './translator.js';

/**
 * Reading OpenAI chat messages the way translators share: one walk over the messages by role,
 * what a message's parts and tool calls hold, checked, with the refusal (400 naming the field)
 * for what is malformed. Each translator then writes them in its provider's shape.
 *
 * @example
 * const turns = new AlternatingTurns<'user' | 'model', Part>();
 * eachMessage<void>(body.messages, {
 *   system: (msg, where) => system.push(...textParts(msg.content, where)),
 *   user: (msg, where) => turns.append('user', partsOf(msg.content, where)),
 *   assistant: (msg, where) => turns.append('model', modelParts(msg, where)),
 *   tool: (msg) => turns.append('user', [result(msg.tool_call_id, msg.content)]), // tool_call_id checked
 * }, { unsupportedRole: (role, where) => `${where}.role ${JSON.stringify(role)} is not supported`, droppedName: () => dropped.push('messages[].name') });
 * eachPart(msg.content, where, (part, at) => ...); // a string is one text part
 * turns.append('user', userParts(msg.content, i, 'watsonx', ['text', 'image_url']).map(toPart));
 * const call = readToolCall(msg.tool_calls[j], `messages[${i}].tool_calls[${j}]`); // { id, name, args }
 */

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Turns for a provider that wants user and assistant turns to alternate: a turn with the previous
 * turn's role is merged into it, and one with no parts is left out.
 */
export class AlternatingTurns<R extends string, P> {
  readonly turns: Array<{ role: R; parts: P[] }> = [];

  append(role: R, parts: P[]): void {
    if (parts.length === 0) return;
    const last = this.turns[this.turns.length - 1];
    if (last?.role === role) last.parts.push(...parts);
    else this.turns.push({ role, parts });
  }
}

/** An assistant message's tool call, checked: its id, its function's name, and its arguments parsed (empty is `{}`). */
export function readToolCall(call: ToolCall | CustomToolCall, where: string): { id: string; name: string; args: unknown } {
  if (!isObject(call) || call.type !== 'function' || typeof call.id !== 'string' || !isObject(call.function) || typeof call.function.name !== 'string') {
    throw refusal(`${where} must have an id and a function name`);
  }
  const text = call.function.arguments;
  let args: unknown = {};
  if (typeof text === 'string' && text.trim() !== '') {
    try {
      // Bounded: the parsed value is serialised again into the provider's body.
      args = parseJsonWithin(text);
    } catch {
      throw refusal(`${where}.function.arguments is not valid JSON (or nests too deep)`);
    }
  }
  return { id: call.id, name: call.function.name, args };
}

/** A tool message, its `tool_call_id` checked present. */
export type ToolMessage = ChatMessage & { tool_call_id: string };

/**
 * What a translator writes for each role, called with the message (checked to be an object), its
 * place (`messages[i]`, the start of any refusal about it) and its index.
 */
export interface MessageHandlers<T> {
  /** `system` and `developer` messages: OpenAI's newer name for a system message is the same turn to every provider. */
  system(msg: ChatMessage, where: string, i: number): T;
  user(msg: ChatMessage, where: string, i: number): T;
  assistant(msg: ChatMessage, where: string, i: number): T;
  /** Tool results; absent, a tool message is refused as a role the provider lacks. */
  tool?(msg: ToolMessage, where: string, i: number): T;
}

/** How a translator's walk differs: the wording of its refusals and what it does with `name`. */
export interface MessageWalk {
  /** The refusal's message for a role no handler takes (OpenAI's deprecated `function`, or `tool` without a handler). */
  unsupportedRole(role: unknown, where: string): string;
  /** Called once, at the first message with a `name`, where the provider has no field for it (the translator reports `messages[].name` dropped). */
  droppedName?(): void;
  /** The refusal's message for a tool message without a `tool_call_id`; `messages[i].tool_call_id is required` when not given. */
  missingToolCallId?(where: string): string;
  /** Runs on every message before its role's handler: a refusal that holds whatever the role (e.g. a format with no tools). */
  check?(msg: ChatMessage, where: string, i: number): void;
}

/**
 * The one walk over an OpenAI chat request's messages every chat translator makes: each message
 * must be an object, `developer` is a system message, a tool message must name its call, any
 * other role is refused; the handlers' results are returned in message order.
 */
export function eachMessage<T>(messages: readonly unknown[], handlers: MessageHandlers<T>, walk: MessageWalk): T[] {
  let named = false;
  return messages.map((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) throw refusal(`${where} must be an object`);
    // The schema lets a translator see anything a client sent here; the handlers check each field they read.
    const msg = m as unknown as ChatMessage;
    if (!named && msg.name !== undefined && msg.name !== null && walk.droppedName !== undefined) {
      named = true;
      walk.droppedName();
    }
    walk.check?.(msg, where, i);
    switch (msg.role) {
      case 'system':
      case 'developer':
        return handlers.system(msg, where, i);
      case 'user':
        return handlers.user(msg, where, i);
      case 'assistant':
        return handlers.assistant(msg, where, i);
      case 'tool':
        if (handlers.tool === undefined) break;
        if (!hasToolCallId(msg)) throw refusal(walk.missingToolCallId?.(where) ?? `${where}.tool_call_id is required`);
        return handlers.tool(msg, where, i);
    }
    throw refusal(walk.unsupportedRole(msg.role, where));
  });
}

const hasToolCallId = (msg: ChatMessage): msg is ToolMessage => typeof msg.tool_call_id === 'string' && msg.tool_call_id !== '';

/** An assistant message's tool calls ([] when it has none); refused when they are not an array. */
export function assistantToolCalls(msg: ChatMessage, where: string): Array<ToolCall | CustomToolCall> {
  if (msg.tool_calls === undefined || msg.tool_calls === null) return [];
  if (!Array.isArray(msg.tool_calls)) throw refusal(`${where}.tool_calls must be an array`);
  return msg.tool_calls;
}

/**
 * Calls `write` with each part of a message's content and the part's place, in order, for a
 * translator that writes every part itself: a string is one text part, null or absent no part;
 * content of another kind, or a part that is not an object, is refused when it is reached.
 */
export function eachPart(content: ChatMessage['content'] | undefined, where: string, write: (part: Record<string, unknown>, at: string) => void): void {
  if (content === null || content === undefined) return;
  if (typeof content === 'string') return write({ type: 'text', text: content }, `${where}.content`);
  if (!Array.isArray(content)) throw refusal(`${where}.content must be a string or an array of parts`);
  content.forEach((part: unknown, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObject(part)) throw refusal(`${at} must be an object`);
    write(part, at);
  });
}

/**
 * A text-only message's content: a string, or its text parts concatenated; '' when it has none.
 * Any other part is refused with `messages[i].content[j]: <rule>`.
 */
export function joinedText(content: ChatMessage['content'] | undefined, i: number, rule: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw refusal(`messages[${i}].content must be a string or an array of parts`);
  return content
    .map((part: unknown, j) => {
      if (!isObject(part) || part['type'] !== 'text' || typeof part['text'] !== 'string') throw refusal(`messages[${i}].content[${j}]: ${rule}`);
      return part['text'];
    })
    .join('');
}

/** A user message's part, checked. */
export type UserPart = { type: 'text'; text: string } | { type: 'image_url'; url: string; detail: string | undefined } | { type: 'input_audio'; data: string; format: string };

/**
 * The parts of a user message whose content is an array; `accepts` are the part types the
 * provider takes (named, with the provider, in the refusal of any other).
 */
export function userParts<T extends UserPart['type']>(content: ChatMessage['content'] | undefined, i: number, provider: string, accepts: readonly T[]): Array<Extract<UserPart, { type: T }>> {
  if (!Array.isArray(content)) throw refusal(`messages[${i}].content must be a string or an array of parts`);
  // Each part's type is one of `accepts`, checked below.
  return content.map((part: unknown, j) => readUserPart(part, `messages[${i}].content[${j}]`, provider, accepts) as Extract<UserPart, { type: T }>);
}

function readUserPart(part: unknown, where: string, provider: string, accepts: ReadonlyArray<UserPart['type']>): UserPart {
  if (!isObject(part)) throw refusal(`${where} must be an object`);
  const type = part['type'];
  if (!accepts.some((t) => t === type)) throw refusal(`${where}: part type "${String(type).slice(0, 32)}" is not supported by ${provider} (${accepts.join(', ')})`);
  switch (type) {
    case 'text':
      if (typeof part['text'] !== 'string') throw refusal(`${where}.text must be a string`);
      return { type: 'text', text: part['text'] };
    case 'image_url': {
      const image = part['image_url'];
      if (!isObject(image) || typeof image['url'] !== 'string') throw refusal(`${where}.image_url.url is required`);
      return { type: 'image_url', url: image['url'], detail: typeof image['detail'] === 'string' ? image['detail'] : undefined };
    }
    default: {
      const audio = part['input_audio'];
      if (!isObject(audio) || typeof audio['data'] !== 'string' || typeof audio['format'] !== 'string') throw refusal(`${where}.input_audio needs data and format`);
      return { type: 'input_audio', data: audio['data'], format: audio['format'] };
    }
  }
}
