import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../../errors/gateway-error.js';
import { chatCompletion, type TokenCounts } from '../../../protocol/chunks.js';
import { errorBodyJson, exceedsJsonDepth, NESTED_JSON_DEPTH_LIMIT } from '../../../protocol/json.js';
import type { ChatCompletion, FinishReason, ToolCall } from '../../../protocol/openai.js';
import type { TranslatorOptions } from '../../../protocol/translator.js';
import { isObject } from './request.js';

/** Gemini answers, stream events and Google error bodies → OpenAI's (the rules: openai_to_gemini.ts). */

interface ResponsePart {
  text?: unknown;
  thought?: unknown;
  functionCall?: { name?: unknown; args?: unknown };
}

export interface Candidate {
  content?: { parts?: unknown };
  finishReason?: unknown;
  finishMessage?: unknown;
  index?: unknown;
}

interface UsageMetadata {
  promptTokenCount?: unknown;
  candidatesTokenCount?: unknown;
  thoughtsTokenCount?: unknown;
  toolUsePromptTokenCount?: unknown;
}

export interface GenerateContentResponse {
  candidates?: unknown;
  promptFeedback?: { blockReason?: unknown; blockReasonMessage?: unknown };
  usageMetadata?: UsageMetadata;
  error?: unknown;
}

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'LANGUAGE',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);
const UNUSABLE = new Set(['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL']);

/** OpenAI's finish_reason for a Gemini finishReason; throws for an unusable answer. */
export function finishReason(reason: string, calledTools: boolean, message: unknown): FinishReason {
  if (FILTERED.has(reason)) return 'content_filter';
  if (reason === 'MAX_TOKENS') return 'length';
  if (UNUSABLE.has(reason)) {
    const detail = typeof message === 'string' && message !== '' ? `: ${message.slice(0, 500)}` : '';
    throw new GatewayError('upstream_error', `the model's answer is unusable (${reason})${detail}`);
  }
  // STOP, OTHER and values newer than this code: the candidate did stop.
  return calledTools ? 'tool_calls' : 'stop';
}

export function usageCounts(u: UsageMetadata | undefined): TokenCounts | undefined {
  if (!isObject(u)) return undefined;
  return { inputTokens: count(u.promptTokenCount) + count(u.toolUsePromptTokenCount), outputTokens: count(u.candidatesTokenCount) + count(u.thoughtsTokenCount) };
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/** Google's error object (`{"error": {"code", "message", "status"}}`, possibly in a one-element array) as text. */
export function googleErrorText(value: unknown): string | undefined {
  const obj = Array.isArray(value) ? value[0] : value;
  const error = isObject(obj) ? obj['error'] : undefined;
  if (!isObject(error)) return undefined;
  const message = typeof error['message'] === 'string' ? error['message'] : undefined;
  const status = typeof error['status'] === 'string' ? error['status'] : undefined;
  if (message === undefined && status === undefined) return undefined;
  return status !== undefined && message !== undefined ? `${status}: ${message}` : (message ?? status);
}

export function blockedText(feedback: GenerateContentResponse['promptFeedback']): string | undefined {
  if (!isObject(feedback) || typeof feedback.blockReason !== 'string' || feedback.blockReason === '') return undefined;
  const message = typeof feedback.blockReasonMessage === 'string' && feedback.blockReasonMessage !== '' ? `: ${feedback.blockReasonMessage}` : '';
  return `the provider blocked the prompt (${feedback.blockReason})${message}`;
}

function callId(): string {
  return `call_${randomBytes(18).toString('base64url')}`;
}

/** The parts of a candidate Gemini sent, read defensively (the wire may hold anything). */
export function partsOf(candidate: Candidate): ResponsePart[] {
  const parts = isObject(candidate.content) ? candidate.content.parts : undefined;
  return Array.isArray(parts) ? parts.filter(isObject) : [];
}

export function textOf(part: ResponsePart): string | undefined {
  return typeof part.text === 'string' && part.thought !== true ? part.text : undefined;
}

export function toolCallOf(part: ResponsePart): ToolCall | undefined {
  const call = part.functionCall;
  if (!isObject(call) || typeof call.name !== 'string') return undefined;
  return { id: callId(), type: 'function', function: { name: call.name, arguments: JSON.stringify(isObject(call.args) ? call.args : {}) } };
}

export function indexOf(candidate: Candidate): number {
  // proto3 JSON leaves a zero out: an absent index is 0.
  return typeof candidate.index === 'number' && Number.isInteger(candidate.index) && candidate.index >= 0 ? candidate.index : 0;
}


/**
 * A non-streaming answer as a chat.completion. `candidates` is the `n` asked for: a blocked
 * prompt answers one content_filter choice per candidate.
 */
export function geminiResponse(body: Buffer, options: TranslatorOptions, candidates: number): { completion: ChatCompletion; usage: TokenCounts | undefined } {
  const answer = parseAnswer(body);
  const error = googleErrorText(answer);
  if (error !== undefined) throw new GatewayError('upstream_error', error);
  const usage = usageCounts(answer.usageMetadata);
  const answered = Array.isArray(answer.candidates) ? (answer.candidates.filter(isObject) as Candidate[]) : [];
  const choices: ChatCompletion['choices'] = [];
  if (answered.length === 0) {
    const blocked = blockedText(answer.promptFeedback);
    if (blocked === undefined) throw new GatewayError('upstream_error', 'the provider answered without candidates');
    for (let index = 0; index < candidates; index++) {
      choices.push({ index, message: { role: 'assistant', content: null, refusal: blocked }, finish_reason: 'content_filter', logprobs: null });
    }
  } else {
    for (const candidate of answered) choices.push(choiceOf(candidate));
    choices.sort((a, b) => a.index - b.index);
  }
  return { completion: chatCompletion(options, choices, usage), usage };
}

function choiceOf(candidate: Candidate): ChatCompletion['choices'][number] {
  const parts = partsOf(candidate);
  if (typeof candidate.finishReason !== 'string' && parts.length === 0) {
    throw new GatewayError('upstream_error', 'the provider answered with a candidate that has neither content nor a finishReason');
  }
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const part of parts) {
    const text = textOf(part);
    if (text !== undefined) texts.push(text);
    const call = toolCallOf(part);
    if (call) toolCalls.push(call);
  }
  const reason = typeof candidate.finishReason === 'string' ? candidate.finishReason : 'STOP';
  const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return { index: indexOf(candidate), message, finish_reason: finishReason(reason, toolCalls.length > 0, candidate.finishMessage), logprobs: null };
}

/** The message of a Google error body; undefined if none. */
export function googleErrorMessage(body: Buffer): string | undefined {
  return googleErrorText(errorBodyJson(body));
}

function parseAnswer(body: Buffer): GenerateContentResponse {
  if (exceedsJsonDepth(body, NESTED_JSON_DEPTH_LIMIT)) throw new GatewayError('upstream_error', `the provider answered with JSON nested deeper than ${NESTED_JSON_DEPTH_LIMIT} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('upstream_error', 'the provider answered with a body that is not JSON');
  }
  if (!isObject(parsed)) throw new GatewayError('upstream_error', 'the provider answered with a body that is not a JSON object');
  return parsed as GenerateContentResponse;
}
