import { createHash } from 'node:crypto';

/**
 * Claude Messages features the Anthropic and Vertex emulators share: extended thinking, prompt
 * caching, and the answer (JSON and the SSE event list) that carries them.
 *
 * - Extended thinking (https://docs.claude.com/en/docs/build-with-claude/extended-thinking):
 *   `thinking: {type: 'enabled', budget_tokens}` (at least 1024, below `max_tokens`, and
 *   `temperature` only 1) puts a `thinking` block with a `signature` before the answer; streamed
 *   as `thinking_delta`s then one `signature_delta`. `disabled` and `adaptive` are accepted.
 * - Prompt caching (https://docs.claude.com/en/docs/build-with-claude/prompt-caching):
 *   `cache_control: {type: 'ephemeral', ttl?: '5m' | '1h'}` on tools, system blocks and message
 *   content blocks, at most 4. The prefix up to the last breakpoint (tools, then system, then
 *   messages) is written on first sight (`cache_creation_input_tokens`) and read afterwards
 *   (`cache_read_input_tokens`); `input_tokens` stays the emulator's fixed count for what follows.
 *   Unlike the API, a prefix of any length is cached, so short test prompts show both counters.
 */

/** The thinking the emulated model does, streamed in these fragments. */
export const THINKING = ['Let me think', ' about this', ' request.'];

/** What the Messages API refuses about `thinking`, or undefined. */
export function thinkingError(body: Record<string, unknown>): string | undefined {
  const thinking = body['thinking'];
  if (thinking === undefined) return undefined;
  if (thinking === null || typeof thinking !== 'object' || Array.isArray(thinking)) return 'thinking: Input should be a valid dictionary or object to extract fields from';
  const t = thinking as Record<string, unknown>;
  if (t['type'] === 'disabled' || t['type'] === 'adaptive') return undefined;
  if (t['type'] !== 'enabled') return `thinking: Input tag '${String(t['type'])}' found using 'type' does not match any of the expected tags: 'disabled', 'enabled', 'adaptive'`;
  const budget = t['budget_tokens'];
  if (budget === undefined) return 'thinking.enabled.budget_tokens: Field required';
  if (typeof budget !== 'number' || !Number.isInteger(budget)) return 'thinking.enabled.budget_tokens: Input should be a valid integer';
  if (budget < 1024) return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
  if (typeof body['max_tokens'] === 'number' && body['max_tokens'] <= budget) {
    return '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size';
  }
  if (body['temperature'] !== undefined && body['temperature'] !== 1) return '`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility';
  return undefined;
}

/** True when the request asks for a visible thinking block. */
export function thinkingEnabled(body: Record<string, unknown>): boolean {
  return (body['thinking'] as { type?: unknown } | undefined)?.type === 'enabled';
}

/** A block that may carry `cache_control`, with the JSON path used in error messages. */
interface Block {
  path: string;
  block: unknown;
}

/** Tools, then system blocks, then message content blocks: the order the API caches prefixes in. */
function blocksOf(body: Record<string, unknown>): Block[] {
  const out: Block[] = [];
  const tools = body['tools'];
  if (Array.isArray(tools)) tools.forEach((block, i) => out.push({ path: `tools.${i}`, block }));
  const system = body['system'];
  if (typeof system === 'string') out.push({ path: 'system', block: system });
  else if (Array.isArray(system)) system.forEach((block, i) => out.push({ path: `system.${i}`, block }));
  const messages = body['messages'];
  if (Array.isArray(messages)) {
    (messages as Array<Record<string, unknown>>).forEach((m, i) => {
      const content = m?.['content'];
      if (Array.isArray(content)) content.forEach((block, j) => out.push({ path: `messages.${i}.content.${j}`, block: { role: m['role'], ...(block as object) } }));
      else out.push({ path: `messages.${i}.content`, block: { role: m?.['role'], content } });
    });
  }
  return out;
}

function cacheControlOf(block: unknown): unknown {
  return block !== null && typeof block === 'object' ? (block as Record<string, unknown>)['cache_control'] : undefined;
}

/** What the Messages API refuses about `cache_control` markers, or undefined. */
export function cacheControlError(body: Record<string, unknown>): string | undefined {
  let found = 0;
  for (const { path, block } of blocksOf(body)) {
    const cc = cacheControlOf(block);
    if (cc === undefined || cc === null) continue;
    found++;
    const c = cc as Record<string, unknown>;
    if (typeof cc !== 'object' || c['type'] !== 'ephemeral') return `${path}.cache_control.type: Input should be 'ephemeral'`;
    if (c['ttl'] !== undefined && c['ttl'] !== '5m' && c['ttl'] !== '1h') return `${path}.cache_control.ttl: Input should be '5m' or '1h'`;
    for (const k of Object.keys(c)) if (k !== 'type' && k !== 'ttl') return `${path}.cache_control.${k}: Extra inputs are not permitted`;
  }
  if (found > 4) return `A maximum of 4 blocks with cache_control may be provided. Found ${found}.`;
  return undefined;
}

export interface CacheUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/**
 * One emulated account's prompt cache: prefixes seen, bounded (oldest forgotten first).
 *
 * @example
 * const cache = new PromptCache();
 * cache.usage(body, 11); // { input_tokens: 11, cache_creation_input_tokens: 40, cache_read_input_tokens: 0 }, then a read
 */
export class PromptCache {
  readonly #seen = new Set<string>();

  constructor(readonly capacity = 1000) {}

  clear(): void {
    this.#seen.clear();
  }

  /** The input usage of `body`: the cached prefix written or read (by its size), `input` for the rest. */
  usage(body: Record<string, unknown>, input: number): CacheUsage {
    const blocks = blocksOf(body).map((b) => b.block);
    let last = -1;
    blocks.forEach((b, i) => {
      if (cacheControlOf(b) !== undefined && cacheControlOf(b) !== null) last = i;
    });
    if (last === -1) return { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const prefix = blocks.slice(0, last + 1);
    const cached = tokens(prefix);
    const key = createHash('sha256').update(JSON.stringify(prefix)).digest('hex');
    if (this.#seen.has(key)) return { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: cached };
    if (this.#seen.size >= this.capacity) this.#seen.delete(this.#seen.values().next().value!);
    this.#seen.add(key);
    return { input_tokens: input, cache_creation_input_tokens: cached, cache_read_input_tokens: 0 };
  }
}

function tokens(v: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(v).length / 4));
}

export interface ClaudeAnswerOptions {
  id: string;
  model: string;
  reply: readonly string[];
  usage: CacheUsage;
  thinking: boolean;
  /** Calls this tool with `{"location": "Paris"}` instead of answering text. */
  tool?: string | undefined;
}

/**
 * A Claude answer as a Messages JSON body and as its stream's events (objects with `type`), in
 * the API's order: `message_start`, per block `content_block_start`, deltas,
 * `content_block_stop` (a `ping` after the first start), `message_delta`, `message_stop`.
 *
 * @example
 * const { json, events } = claudeAnswer({ id, model, reply: ['Hi'], usage, thinking: true });
 */
export function claudeAnswer(o: ClaudeAnswerOptions): { json: Record<string, unknown>; events: Array<Record<string, unknown>> } {
  const content: Array<Record<string, unknown>> = [];
  const events: Array<Record<string, unknown>> = [];
  const signature = createHash('sha256').update(`${o.id}:thinking`).digest('base64');
  let index = 0;
  let outputTokens = 0;
  if (o.thinking) {
    const thinking = THINKING.join('');
    content.push({ type: 'thinking', thinking, signature });
    events.push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
    for (const t of THINKING) events.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: t } });
    events.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature } });
    events.push({ type: 'content_block_stop', index });
    index++;
    outputTokens += THINKING.length * 3;
  }
  if (o.tool !== undefined) {
    const toolId = `toolu_${createHash('sha256').update(o.id).digest('hex').slice(0, 24)}`;
    content.push({ type: 'tool_use', id: toolId, name: o.tool, input: { location: 'Paris' } });
    events.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: toolId, name: o.tool, input: {} } });
    for (const partial_json of ['{"loca', 'tion": "Pa', 'ris"}']) events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } });
    outputTokens += 9;
  } else {
    content.push({ type: 'text', text: o.reply.join('') });
    events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
    for (const text of o.reply) events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
    outputTokens += o.reply.length;
  }
  events.push({ type: 'content_block_stop', index });
  events.splice(1, 0, { type: 'ping' });
  const stopReason = o.tool !== undefined ? 'tool_use' : 'end_turn';
  const usage = { ...o.usage, output_tokens: outputTokens };
  const json = { id: o.id, type: 'message', role: 'assistant', model: o.model, content, stop_reason: stopReason, stop_sequence: null, usage };
  events.unshift({ type: 'message_start', message: { ...json, content: [], stop_reason: null, usage: { ...o.usage, output_tokens: 1 } } });
  events.push({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
  events.push({ type: 'message_stop' });
  return { json, events };
}
