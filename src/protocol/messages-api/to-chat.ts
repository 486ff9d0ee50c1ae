import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatMessage, ChatRequest, ContentPart, Tool, ToolCall } from '../openai.js';
import type { ContentBlockParam, CountTokensRequest, MessageParam, MessagesRequest, TextBlockParam, ToolChoiceParam, ToolParam } from './schema.js';

/**
 * Anthropic Messages request → OpenAI chat request, for providers whose native API is not
 * Messages: the chat request then goes through the provider's own chat translator (the hub).
 * The opposite direction, chat → Messages for Claude backends, is protocol/anthropic-messages/.
 *
 * Request parameters (null counts as absent everywhere):
 * | Messages                                | Chat                                                                    |
 * |-----------------------------------------|-------------------------------------------------------------------------|
 * | model                                   | `model`                                                                 |
 * | system (string or text blocks)          | a first `system` message (blocks joined with "\n\n")                   |
 * | messages: role system (mid-conversation)| a `system` message in place                                             |
 * | user text / image blocks                | `user` content: one text block as a string, else parts; image base64 → data: URL, url → URL; file refused |
 * | user document: base64 PDF / plain text  | `file` part (data: URL) / text part; url, file and content sources refused |
 * | user tool_result blocks                 | one `tool` message each, in order, before the turn's other content;     |
 * |                                         | text joined with "\n"; `is_error: true` prefixes the text with "Error: "; |
 * |                                         | images in a result go to the turn's `user` message after the results   |
 * | assistant text + tool_use               | `assistant` content (text joined) + `tool_calls` (arguments = JSON of input) |
 * | thinking / redacted_thinking (history)  | left out: the hub has no place for them (not reported)                  |
 * | cache_control (anywhere)                | dropped, reported once as `cache_control`                               |
 * | max_tokens                              | `max_completion_tokens`                                                  |
 * | stop_sequences                          | `stop`                                                                   |
 * | temperature, top_p                      | same names                                                               |
 * | top_k                                   | dropped (no chat equivalent)                                             |
 * | metadata.user_id                        | `user`                                                                   |
 * | tools (custom)                          | function tools: `input_schema` → `parameters`, `strict` kept             |
 * | tools (web_search_*, bash_*, …)         | refused: server and Anthropic-defined tools need a Claude backend        |
 * | tool_choice auto / any / tool / none    | `auto` / `required` / `{type: function, function: {name}}` / `none`      |
 * | disable_parallel_tool_use: true         | `parallel_tool_calls: false`                                             |
 * | thinking enabled                        | `reasoning_effort` by budget: < 4,096 low, < 16,384 medium, else high    |
 * | thinking disabled / adaptive / between_tools | nothing (the provider's default)                                    |
 * | output_config.effort                    | `reasoning_effort` (low, medium, high; xhigh and max → xhigh); wins over thinking |
 * | output_config.format, output_format     | `response_format` json_schema (name `output`, strict)                   |
 * | stream                                  | `stream` and `stream_options.include_usage: true`                       |
 * | service_tier auto / other               | nothing / dropped                                                        |
 * | container, mcp_servers, context_management | refused: Claude backends only                                         |
 * | any other field                         | dropped (reported)                                                       |
 */

/** Top-level fields the converter reads; every other set field is reported as dropped. */
const READ = new Set([
  'model',
  'messages',
  'system',
  'max_tokens',
  'stream',
  'stop_sequences',
  'temperature',
  'top_p',
  'top_k',
  'metadata',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
  'output_format',
  'service_tier',
]);
/** Fields whose meaning the hub cannot honour: refusing beats answering as if they were not there. */
const CLAUDE_ONLY = ['container', 'mcp_servers', 'context_management'] as const;

/**
 * Converts a checked Messages request (checkMessagesRequest) to a chat request; `dropped` lists
 * the Messages fields the hub has no equivalent for, to report beside the provider translator's
 * own. Throws GatewayError('invalid_request', { param }) for what the hub cannot carry.
 *
 * @example
 * const { chat, dropped } = messagesToChat(checkMessagesRequest(body));
 * const native = provider.chat!(options).request(chat); // dropped: [...dropped, ...native.dropped]
 */
export function messagesToChat(req: MessagesRequest): { chat: ChatRequest; dropped: string[] } {
  const c = new Conversion();
  const chat: ChatRequest = { model: req.model, messages: c.messages(req) };
  chat.max_completion_tokens = req.max_tokens;
  if (req.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  if (req.stop_sequences != null && req.stop_sequences.length > 0) chat.stop = req.stop_sequences;
  if (req.temperature != null) chat.temperature = req.temperature;
  if (req.top_p != null) chat.top_p = req.top_p;
  if (req.top_k != null) c.drop('top_k');
  if (req.metadata?.user_id != null) chat.user = req.metadata.user_id;
  if (req.service_tier != null && req.service_tier !== 'auto') c.drop('service_tier');
  c.tools(req, chat);
  c.options(req, chat);
  for (const key of Object.keys(req)) {
    const value = req[key];
    if (value === undefined || value === null || READ.has(key)) continue;
    if (key === 'cache_control') c.drop('cache_control');
    else if ((CLAUDE_ONLY as readonly string[]).includes(key)) refuse(key, `${key}: only Claude backends support ${key}`);
    else c.drop(key);
  }
  return { chat, dropped: c.dropped };
}

/**
 * The chat messages a count_tokens request stands for (for estimate.ts and for providers whose
 * count endpoint reads chat messages); refusals as messagesToChat's.
 */
export function countTokensToChat(req: CountTokensRequest): ChatRequest {
  const c = new Conversion();
  const chat: ChatRequest = { model: req.model, messages: c.messages(req) };
  c.tools(req, chat);
  return chat;
}

/** One conversion's dropped list (each name once, in the order met). */
class Conversion {
  readonly dropped: string[] = [];

  drop(name: string): void {
    if (!this.dropped.includes(name)) this.dropped.push(name);
  }

  cache(block: object): void {
    if ((block as { cache_control?: unknown }).cache_control != null) this.drop('cache_control');
  }

  messages(req: CountTokensRequest): ChatMessage[] {
    const out: ChatMessage[] = [];
    if (req.system != null) {
      const text = typeof req.system === 'string' ? req.system : this.texts(req.system);
      if (text !== '') out.push({ role: 'system', content: text });
    }
    req.messages.forEach((m, i) => this.message(m, `messages.${i}`, out));
    return out;
  }

  texts(blocks: readonly TextBlockParam[]): string {
    for (const b of blocks) this.cache(b);
    return blocks.map((b) => b.text).join('\n\n');
  }

  message(m: MessageParam, where: string, out: ChatMessage[]): void {
    if (m.role === 'system') {
      out.push({ role: 'system', content: typeof m.content === 'string' ? m.content : this.texts(m.content) });
      return;
    }
    if (typeof m.content === 'string') {
      out.push({ role: m.role, content: m.content });
      return;
    }
    if (m.role === 'assistant') out.push(this.assistant(m.content, `${where}.content`));
    else this.user(m.content, `${where}.content`, out);
  }

  /** Tool results first (chat wants them right after the assistant's calls), then the turn's own content. */
  user(blocks: readonly ContentBlockParam[], where: string, out: ChatMessage[]): void {
    const parts: ContentPart[] = [];
    blocks.forEach((b, j) => {
      const at = `${where}.${j}`;
      this.cache(b);
      switch (b.type) {
        case 'tool_result':
          out.push(this.toolResult(b, at, parts));
          break;
        case 'text':
          parts.push({ type: 'text', text: b.text });
          break;
        case 'image':
          parts.push(image(b.source, `${at}.source`));
          break;
        case 'document':
          parts.push(document(b, `${at}.source`));
          break;
        case 'thinking':
        case 'redacted_thinking':
        case 'tool_use':
          refuse(`${at}.type`, `${at}.type: a user message cannot hold ${b.type} blocks`);
          break;
        default:
          b satisfies never;
      }
    });
    // One text block is a string, as most chat clients send it; several stay parts, as they came.
    if (parts.length === 1 && parts[0]!.type === 'text') out.push({ role: 'user', content: parts[0]!.text });
    else if (parts.length > 0) out.push({ role: 'user', content: parts });
  }

  toolResult(b: Extract<ContentBlockParam, { type: 'tool_result' }>, where: string, images: ContentPart[]): ChatMessage {
    let text = '';
    if (typeof b.content === 'string') text = b.content;
    else if (b.content != null) {
      const texts: string[] = [];
      b.content.forEach((inner, k) => {
        const at = `${where}.content.${k}`;
        this.cache(inner);
        if (inner.type === 'text' && typeof inner['text'] === 'string') texts.push(inner['text']);
        else if (inner.type === 'image' && isObject(inner['source'])) images.push(image(inner['source'] as ImageSource, `${at}.source`));
        else refuse(`${at}.type`, `${at}.type: tool results carry text and images here, not ${String(inner.type).slice(0, 40)}`);
      });
      text = texts.join('\n');
    }
    return { role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error === true ? `Error: ${text}` : text };
  }

  assistant(blocks: readonly ContentBlockParam[], where: string): ChatMessage {
    const texts: string[] = [];
    const calls: ToolCall[] = [];
    blocks.forEach((b, j) => {
      const at = `${where}.${j}`;
      this.cache(b);
      switch (b.type) {
        case 'text':
          texts.push(b.text);
          break;
        case 'tool_use':
          calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } });
          break;
        case 'thinking':
        case 'redacted_thinking':
          break;
        case 'image':
        case 'document':
        case 'tool_result':
          refuse(`${at}.type`, `${at}.type: an assistant message cannot hold ${b.type} blocks`);
          break;
        default:
          b satisfies never;
      }
    });
    const message: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
    if (calls.length > 0) message.tool_calls = calls;
    return message;
  }

  tools(req: CountTokensRequest, chat: ChatRequest): void {
    if (req.tools != null && req.tools.length > 0) chat.tools = req.tools.map((t, i) => this.tool(t, `tools.${i}`));
    const choice = req.tool_choice;
    if (choice == null) return;
    chat.tool_choice = toolChoice(choice);
    if (choice.type !== 'none' && choice.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
  }

  tool(t: ToolParam, where: string): Tool {
    if (t.type != null && t.type !== 'custom') refuse(`${where}.type`, `${where}.type: ${t.type.slice(0, 60)} is a server tool only Claude backends run`);
    const custom = t as Extract<ToolParam, { input_schema: unknown }>;
    this.cache(custom);
    const fn: Tool['function'] = { name: custom.name, parameters: custom.input_schema };
    if (custom.description != null) fn.description = custom.description;
    if (custom.strict != null) fn.strict = custom.strict;
    return { type: 'function', function: fn };
  }

  /** Reasoning and output format. */
  options(req: MessagesRequest, chat: ChatRequest): void {
    const effort = req.output_config?.effort;
    if (effort != null) chat.reasoning_effort = effort === 'max' ? 'xhigh' : effort;
    else if (req.thinking?.type === 'enabled') chat.reasoning_effort = effortOfBudget(req.thinking.budget_tokens);
    const format = req.output_config?.format ?? req.output_format;
    if (format != null) chat.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
  }
}

/**
 * `thinking.budget_tokens` → `reasoning_effort`: Anthropic's minimum budget (1,024) up to 4,095 is
 * low, up to 16,383 medium, more high (Claude Code's "think" / "think hard" / "ultrathink" budgets
 * land in each of the three).
 */
export function effortOfBudget(budget: number): 'low' | 'medium' | 'high' {
  if (budget < 4096) return 'low';
  if (budget < 16384) return 'medium';
  return 'high';
}

function toolChoice(choice: ToolChoiceParam): ChatRequest['tool_choice'] {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: choice.name } };
    default:
      return choice satisfies never;
  }
}

type ImageSource = Extract<ContentBlockParam, { type: 'image' }>['source'];

function image(source: ImageSource, where: string): ContentPart {
  switch (source.type) {
    case 'base64':
      return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
    case 'url':
      return { type: 'image_url', image_url: { url: source.url } };
    case 'file':
      return refuse(`${where}.type`, `${where}.type: file sources (the Files API) need a Claude backend`);
    default:
      return refuse(`${where}.type`, `${where}.type: must be base64 or url`);
  }
}

function document(b: Extract<ContentBlockParam, { type: 'document' }>, where: string): ContentPart {
  const s = b.source;
  if (s.type === 'base64' && s['media_type'] === 'application/pdf' && typeof s['data'] === 'string') {
    return { type: 'file', file: { file_data: `data:application/pdf;base64,${s['data']}`, filename: b.title ?? 'document.pdf' } };
  }
  if (s.type === 'text' && typeof s['data'] === 'string') return { type: 'text', text: b.title != null ? `${b.title}\n\n${s['data']}` : s['data'] };
  return refuse(`${where}.type`, `${where}.type: only base64 PDF and plain-text documents can be sent to this backend`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function refuse(param: string, message: string): never {
  throw new GatewayError('invalid_request', message, { param });
}
