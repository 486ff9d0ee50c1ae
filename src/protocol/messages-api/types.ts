/**
 * The Anthropic Messages answers the gateway writes to clients (the subset of @anthropic-ai/sdk's
 * `Message` and `RawMessageStreamEvent` it produces from a chat answer). Blocks carry only the
 * fields the chat hub can fill: clients such as Claude Code send assistant blocks back verbatim
 * in the next request, which may then go to any backend.
 * https://docs.anthropic.com/en/api/messages
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming
 */

export interface TextBlock {
  type: 'text';
  text: string;
}
export interface ThinkingBlock {
  type: 'thinking';
  thinking: string;
  /** The chat hub has no signature to give; empty, as a block Anthropic did not sign. */
  signature: string;
}
export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}
export type ResponseContentBlock = TextBlock | ThinkingBlock | ToolUseBlock;

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';

/** Anthropic's `input_tokens` excludes the cached tokens, which are counted apart. */
export interface MessageUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
}

/** A non-streaming answer, and the `message` of `message_start` (empty content, null stop reason). */
export interface MessageResponse {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: ResponseContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  stop_details: null;
  container: null;
  usage: MessageUsage;
}

export type ContentBlockDelta = { type: 'text_delta'; text: string } | { type: 'input_json_delta'; partial_json: string } | { type: 'thinking_delta'; thinking: string };

/** Anthropic's stream error types (https://docs.anthropic.com/en/api/errors). */
export type StreamErrorType = 'api_error' | 'overloaded_error' | 'rate_limit_error' | 'invalid_request_error' | 'timeout_error';

export type MessagesStreamEvent =
  | { type: 'message_start'; message: MessageResponse }
  | { type: 'ping' }
  | { type: 'content_block_start'; index: number; content_block: ResponseContentBlock }
  | { type: 'content_block_delta'; index: number; delta: ContentBlockDelta }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta';
      delta: { stop_reason: StopReason; stop_sequence: string | null; stop_details: null; container: null };
      /** Cumulative totals; input and cache counts are present once the provider reported usage. */
      usage: Partial<MessageUsage> & { output_tokens: number };
    }
  | { type: 'message_stop' }
  | { type: 'error'; error: { type: StreamErrorType; message: string } };
