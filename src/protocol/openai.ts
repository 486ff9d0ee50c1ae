import type { ToolCall } from './openai-schema.js';

/**
 * The OpenAI Chat Completions wire types protocol mode speaks (the subset the gateway reads or
 * writes; unknown fields pass through in `[key: string]: unknown`). Requests: openai-schema.ts.
 * https://platform.openai.com/docs/api-reference/chat
 */

// The request types are derived from the schemas every client body is checked against.
export type {
  ChatMessage,
  ChatRequest,
  ContentPart,
  CustomTool,
  CustomToolCall,
  EmbeddingsInput,
  EmbeddingsRequest,
  ResponseFormat,
  Tool,
  ToolCall,
  ToolChoice,
} from './openai-schema.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens read from the provider's cache, where the provider says (OpenAI's name). */
  prompt_tokens_details?: { cached_tokens?: number };
  /** Reasoning tokens among the completion tokens, where the provider says. */
  completion_tokens_details?: { reasoning_tokens?: number };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[]; refusal?: string | null };
    finish_reason: FinishReason | null;
    logprobs: null;
  }>;
  usage?: ChatUsage;
}

export interface ChunkToolCall {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: ChunkToolCall[] };
    finish_reason: FinishReason | null;
    logprobs: null;
  }>;
  usage?: ChatUsage | null;
}

export interface Embedding {
  object: 'embedding';
  index: number;
  /** Floats, or their base64 form when `encoding_format` is `base64`. */
  embedding: number[] | string;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}
