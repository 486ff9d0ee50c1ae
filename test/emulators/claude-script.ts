import { randomBytes } from 'node:crypto';

/**
 * A scripted Claude for Claude Code tests, shared by the Anthropic and Bedrock emulators (both
 * speak the Messages body). When the first user turn asks for {@link readTask}, the model calls
 * Claude Code's `Read` tool on the absolute path named in the prompt; once the tool's result is
 * back in the conversation, it answers with the first line it read. The file's line reaches the
 * answer only through the tool_result, so a test that finds it in Claude Code's output proves the
 * tool ran locally and its result went back through the gateway.
 *
 * Keyed on the prompt's wording, so every other request gets the emulators' usual answers.
 */

/** The task a test gives `claude -p`; the path must be absolute (Claude Code's Read takes one). */
export function readTask(absolutePath: string): string {
  return `Use the Read tool to read ${absolutePath} and reply with its first line.`;
}

/** What the scripted model says once the Read result is back, around the line it read. */
export const FIRST_LINE_PREFIX = 'The first line of the file is: ';

const TASK = /Use the Read tool to read (\/\S+?) and reply with its first line\./;

/** A complete assistant message in the Messages API's shape, and the stream events that build it. */
export interface ScriptedTurn {
  message: Record<string, unknown> & { content: Array<Record<string, unknown>>; usage: { input_tokens: number; output_tokens: number } };
  /** `message_start` … `message_stop`, each an object with its `type`, in the API's order. */
  events: Array<Record<string, unknown>>;
}

interface Block {
  type?: unknown;
  text?: unknown;
  id?: unknown;
  name?: unknown;
  tool_use_id?: unknown;
  content?: unknown;
  is_error?: unknown;
}

/**
 * The scripted answer to a Messages body, or undefined when the body is not the scripted task.
 *
 * @example
 * const turn = claudeCodeTurn(body, 'claude-opus-4-8');
 * if (turn) return stream ? this.sse(ex, turn.events.map(sseFrame)) : this.json(ex, 200, turn.message);
 */
export function claudeCodeTurn(body: Record<string, unknown>, model: string): ScriptedTurn | undefined {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const first = messages.find((m: { role?: unknown }) => m.role === 'user') as { content?: unknown } | undefined;
  const path = first ? TASK.exec(textOf(first.content))?.[1] : undefined;
  if (path === undefined) return undefined;

  const readCalls = new Set<string>();
  for (const m of messages as Array<{ role?: unknown; content?: unknown }>) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const b of m.content as Block[]) if (b.type === 'tool_use' && b.name === 'Read' && typeof b.id === 'string') readCalls.add(b.id);
  }
  const last = messages.at(-1) as { role?: unknown; content?: unknown };
  const result = last.role === 'user' && Array.isArray(last.content)
    ? (last.content as Block[]).find((b) => b.type === 'tool_result' && typeof b.tool_use_id === 'string' && readCalls.has(b.tool_use_id))
    : undefined;
  if (!result) return toolUse(model, 'Read', { file_path: path });
  const read = textOf(result.content);
  return text(model, result.is_error === true ? `The Read tool failed: ${read}` : `${FIRST_LINE_PREFIX}${firstLine(read)}`);
}

/**
 * The first line of what Read returned. Read numbers lines as `cat -n` does (`     1\t…`, or
 * `1→…` in some versions); the number is Claude Code's, not the file's, so it is dropped.
 */
function firstLine(read: string): string {
  const line = read.split('\n', 1)[0] ?? '';
  return line.replace(/^\s*\d+(?:\t|→)/, '');
}

/** Text of a string content or of the text blocks of a content array. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Block[]).map((b) => (b.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('\n');
}

function toolUse(model: string, name: string, input: Record<string, unknown>): ScriptedTurn {
  const block = { type: 'tool_use', id: `toolu_${randomBytes(12).toString('hex')}`, name, input };
  const json = JSON.stringify(input);
  // Streamed as the API streams tool input: an empty input, then input_json_delta fragments.
  const cut = Math.ceil(json.length / 2);
  return turn(model, block, 'tool_use', [
    { type: 'content_block_start', index: 0, content_block: { ...block, input: {} } },
    ...[json.slice(0, cut), json.slice(cut)].map((partial_json) => ({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json } })),
    { type: 'content_block_stop', index: 0 },
  ]);
}

function text(model: string, reply: string): ScriptedTurn {
  return turn(model, { type: 'text', text: reply }, 'end_turn', [
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: reply } },
    { type: 'content_block_stop', index: 0 },
  ]);
}

function turn(model: string, block: Record<string, unknown>, stopReason: 'tool_use' | 'end_turn', blockEvents: Array<Record<string, unknown>>): ScriptedTurn {
  const id = `msg_${randomBytes(12).toString('hex')}`;
  const usage = { input_tokens: 30, output_tokens: 12 };
  const message = { id, type: 'message', role: 'assistant', model, content: [block], stop_reason: stopReason, stop_sequence: null, usage };
  return {
    message,
    events: [
      { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } },
      ...blockEvents,
      { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
      { type: 'message_stop' },
    ],
  };
}
