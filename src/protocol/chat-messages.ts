import { parseJsonWithin } from './json.js';
import type { ChatMessage, CustomToolCall, ToolCall } from './openai.js';
import { refusal } from './translator.js';

/**
 * Reading OpenAI chat messages the way translators share: what a message's parts and tool calls
 * hold, checked, with the refusal (400 naming the field) for what is malformed. Each translator
 * then writes them in its provider's shape.
 *
 * @example
 * const turns = new AlternatingTurns<'user' | 'model', Part>();
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

/** Message `i`, which must be an object (the schema lets a translator see anything a client sent there). */
export function messageAt(m: unknown, i: number): ChatMessage {
  if (!isObject(m)) throw refusal(`messages[${i}] must be an object`);
  return m as unknown as ChatMessage;
}

/** An assistant message's tool calls ([] when it has none); refused when they are not an array. */
export function assistantToolCalls(msg: ChatMessage, where: string): Array<ToolCall | CustomToolCall> {
  if (msg.tool_calls === undefined || msg.tool_calls === null) return [];
  if (!Array.isArray(msg.tool_calls)) throw refusal(`${where}.tool_calls must be an array`);
  return msg.tool_calls;
}

/** A tool message's `tool_call_id`, required. */
export function toolCallId(msg: ChatMessage, i: number): string {
  if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') throw refusal(`messages[${i}].tool_call_id is required`);
  return msg.tool_call_id;
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
