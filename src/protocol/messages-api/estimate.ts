import type { ContentBlockParam, CountTokensRequest } from './schema.js';

/**
 * `POST /v1/messages/count_tokens` for backends without a count endpoint: an estimate, which the
 * gateway marks as such in a response header. The rule, so a client can tell what it gets:
 *
 * - text (system, text blocks, tool results, plain-text documents, thinking history, tool_use
 *   names and JSON inputs, each tool's name, description and JSON schema): ceil(characters / 4),
 *   counted over the whole request at once;
 * - each image, and each document that is not plain text: 1,600 tokens (Anthropic's cost of an
 *   image at its largest size; the gateway does not decode images to measure them);
 * - each message: 4 tokens of framing, and 3 for the request;
 * - tools present: 350 tokens for the tool-use system prompt Anthropic adds
 *   (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview#pricing).
 *
 * Characters are UTF-16 code units (JavaScript's `length`), which counts most non-Latin text low.
 *
 * @example
 * estimateInputTokens({ model: 'm', messages: [{ role: 'user', content: 'Hello, world' }] }); // 3 + 4 + ceil(12 / 4) = 10
 */
export function estimateInputTokens(req: CountTokensRequest): number {
  let chars = 0;
  let fixed = REQUEST_OVERHEAD;
  const text = (s: string) => (chars += s.length);
  if (typeof req.system === 'string') text(req.system);
  else for (const b of req.system ?? []) text(b.text);
  for (const m of req.messages) {
    fixed += MESSAGE_OVERHEAD;
    if (typeof m.content === 'string') text(m.content);
    else for (const b of m.content as readonly ContentBlockParam[]) fixed += block(b, text);
  }
  if (req.tools != null && req.tools.length > 0) {
    fixed += TOOLS_OVERHEAD;
    for (const t of req.tools) text(JSON.stringify(t));
  }
  return fixed + Math.ceil(chars / 4);
}

const REQUEST_OVERHEAD = 3;
const MESSAGE_OVERHEAD = 4;
const TOOLS_OVERHEAD = 350;
const IMAGE_TOKENS = 1600;

/** Adds a block's text through `text`; returns its fixed cost. */
function block(b: ContentBlockParam, text: (s: string) => void): number {
  switch (b.type) {
    case 'text':
      text(b.text);
      return 0;
    case 'image':
      return IMAGE_TOKENS;
    case 'document':
      if (b.source.type === 'text' && typeof b.source['data'] === 'string') {
        text(b.source['data']);
        return 0;
      }
      return IMAGE_TOKENS;
    case 'tool_use':
      text(b.name);
      text(JSON.stringify(b.input));
      return 0;
    case 'tool_result': {
      if (typeof b.content === 'string') text(b.content);
      let fixed = 0;
      for (const inner of Array.isArray(b.content) ? b.content : []) {
        if (inner.type === 'text' && typeof inner['text'] === 'string') text(inner['text']);
        else fixed += IMAGE_TOKENS;
      }
      return fixed;
    }
    case 'thinking':
      text(b.thinking);
      return 0;
    case 'redacted_thinking':
      return 0;
    default:
      return b satisfies never;
  }
}
