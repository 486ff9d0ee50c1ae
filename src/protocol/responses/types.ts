import { randomBytes } from 'node:crypto';
import type { JsonSchemaFormat, ResponsesRequest, ResponsesTool, InputContentPart } from './schema.js';

/**
 * The OpenAI Responses API objects the gateway writes (the subset it produces when it answers
 * over the chat hub), as the API reference and the openai SDK's `resources/responses` define
 * them. https://platform.openai.com/docs/api-reference/responses/object
 */

export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  logprobs: unknown[];
}

export interface OutputRefusal {
  type: 'refusal';
  refusal: string;
}

/** An input message as stored and listed by `GET /v1/responses/{id}/input_items`. */
export interface InputMessageItem {
  id: string;
  type: 'message';
  role: 'user' | 'system' | 'developer';
  status: ItemStatus;
  content: InputContentPart[];
}

/** An assistant message: a response's output, or an assistant turn the client sent back. */
export interface OutputMessageItem {
  id: string;
  type: 'message';
  role: 'assistant';
  status: ItemStatus;
  content: Array<OutputText | OutputRefusal>;
}

export interface FunctionCallItem {
  id: string;
  type: 'function_call';
  status: ItemStatus;
  call_id: string;
  name: string;
  arguments: string;
}

export interface FunctionCallOutputItem {
  id: string;
  type: 'function_call_output';
  status: ItemStatus;
  call_id: string;
  output: string | InputContentPart[];
}

/** Reasoning a client sends back (from an OpenAI model); kept in the history, never sent to the hub. */
export interface ReasoningItem {
  id: string;
  type: 'reasoning';
  summary: unknown[];
  [key: string]: unknown;
}

/** An item of a conversation: what the gateway stores per response, input and output, oldest first. */
export type ResponseItem = InputMessageItem | OutputMessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem;

/** The items a response answered over the chat hub can hold in `output`. */
export type ResponseOutputItem = OutputMessageItem | FunctionCallItem;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** The response object (`object: 'response'`), as `POST /v1/responses` answers and the store keeps it. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  /** Present once the response completed. */
  completed_at?: number;
  background: boolean;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  model: string;
  output: ResponseOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  prompt_cache_key: string | null;
  reasoning: { effort: string | null; summary: string | null };
  safety_identifier: string | null;
  service_tier: string;
  store: boolean;
  temperature: number;
  text: { format: { type: 'text' } | { type: 'json_object' } | JsonSchemaFormat; verbosity: string };
  tool_choice: NonNullable<ResponsesRequest['tool_choice']>;
  tools: ResponsesTool[];
  top_logprobs: number;
  top_p: number;
  truncation: string;
  usage: ResponseUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** What the gateway knows of a response besides the chat answer: its id, time, and the request it answers. */
export interface ResponseMeta {
  /** `resp_…` (see {@link newItemId}). */
  id: string;
  /** Unix seconds. */
  createdAt: number;
  /** The model as the client named it (an alias stays an alias). */
  model: string;
  request: ResponsesRequest;
  /** Unix seconds the answer completed; now when absent. */
  completedAt?: number;
}

/**
 * A new id with OpenAI's prefix for its kind (`resp`, `msg`, `fc`, `fco`, `rs`): 48 random hex
 * digits, unguessable, as a stored response is fetched by id (with the owner check on top).
 *
 * @example
 * newItemId('resp'); // 'resp_6f1c…'
 */
export function newItemId(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`;
}

/** The id maker converters use; tests pass a counter. */
export type IdMaker = (prefix: string) => string;
