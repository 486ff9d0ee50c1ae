import { randomUUID } from 'node:crypto';
import { toolCallReply, toolToCall } from './openai.js';
import { responsesAnswer, responsesRequestError } from './openai-responses.js';

/**
 * Bedrock's OpenAI-compatible endpoints for the emulator (bedrock.ts), on the two hosts AWS
 * serves them from:
 *
 * - bedrock-runtime (`https://bedrock-runtime.{region}.amazonaws.com`, SigV4 service `bedrock`
 *   or a Bedrock API key): `POST /openai/v1/chat/completions` for the OpenAI models, whose ids
 *   there are `openai.gpt-oss-20b-1:0` / `openai.gpt-oss-120b-1:0`
 *   (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-chat-completions.html,
 *   model-parameters-openai.html).
 * - bedrock-mantle (`https://bedrock-mantle.{region}.api.aws`, SigV4 service `bedrock-mantle`
 *   — IAM action `bedrock-mantle:CreateInference`, which `bedrock:InvokeModel` does not grant —
 *   or a Bedrock API key): the Responses API at `POST /v1/responses` and
 *   `POST /openai/v1/responses`, Chat Completions at `POST /v1/chat/completions`, and
 *   `GET /v1/models`; model ids there carry no version suffix (`openai.gpt-oss-120b`)
 *   (https://docs.aws.amazon.com/bedrock/latest/userguide/bedrock-mantle.html,
 *   inference-chat-completions-mantle.html).
 *
 * Answers are OpenAI's shapes (chat completions, openai-responses.ts), streams OpenAI's SSE, and
 * so are refusals of a request (authentication failures stay AWS-shaped: bedrock.ts answers them
 * before routing, as AWS's front end does). A Bedrock model that does not serve the API called
 * gets mantle's observed 400 `{"error":{"code":"validation_error","message":"The model 'X' does
 * not support the '/v1/chat/completions' API","param":null,"type":"invalid_request_error"}}`;
 * an id Bedrock does not know, 404 `model_not_found` (OpenAI's wording; AWS documents neither,
 * and the runtime's wording is assumed to be mantle's).
 */

/** Models the runtime's `/openai/v1/chat/completions` serves. */
export const RUNTIME_OPENAI_MODELS: ReadonlySet<string> = new Set(['openai.gpt-oss-20b-1:0', 'openai.gpt-oss-120b-1:0']);
/** Models bedrock-mantle serves (Chat Completions and Responses). */
export const MANTLE_MODELS: ReadonlySet<string> = new Set(['openai.gpt-oss-20b', 'openai.gpt-oss-120b']);

export const BEDROCK_OPENAI_REPLY = ['Hello', ' from', ' Bedrock', "'s", ' OpenAI', ' endpoint', '.'];

/** Model ids of Bedrock's providers: known to Bedrock, whether or not the API called serves them. */
const BEDROCK_MODEL_ID = /^(?:(?:us|eu|apac|global)\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|qwen|openai|writer|twelvelabs)\.[\w.:-]+$/;

/** What a route answers: JSON or SSE frames. */
export type OpenAICompatibleAnswer = { kind: 'json'; status: number; body: unknown } | { kind: 'sse'; frames: string[] };

/** The routes of `host` this module answers, or undefined when `method path` is not one of them. */
export function openAICompatibleRoute(host: 'runtime' | 'mantle', method: string, path: string): 'chat' | 'responses' | 'models' | undefined {
  if (host === 'runtime') return method === 'POST' && path === '/openai/v1/chat/completions' ? 'chat' : undefined;
  if (method === 'GET' && path === '/v1/models') return 'models';
  if (method !== 'POST') return undefined;
  if (path === '/v1/chat/completions') return 'chat';
  if (path === '/v1/responses' || path === '/openai/v1/responses') return 'responses';
  return undefined;
}

/**
 * Answers one request to an OpenAI-compatible route. `body` is the parsed JSON body (undefined
 * when it did not parse).
 *
 * @example
 * const answer = openAICompatibleAnswer('runtime', 'chat', '/openai/v1/chat/completions', body);
 */
export function openAICompatibleAnswer(host: 'runtime' | 'mantle', route: 'chat' | 'responses' | 'models', path: string, body: Record<string, unknown> | undefined): OpenAICompatibleAnswer {
  if (route === 'models') {
    return { kind: 'json', status: 200, body: { object: 'list', data: [...MANTLE_MODELS].map((id) => ({ id, object: 'model', created: 1_754_352_000, owned_by: 'system' })) } };
  }
  if (body === undefined) return openaiError(400, 'We could not parse the JSON body of your request.', null, null);
  const model = body['model'];
  if (typeof model !== 'string') return openaiError(400, "Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  const served = host === 'runtime' ? RUNTIME_OPENAI_MODELS : MANTLE_MODELS;
  if (!served.has(model)) {
    if (BEDROCK_MODEL_ID.test(model)) return openaiError(400, `The model '${model}' does not support the '${path}' API`, null, 'validation_error');
    return openaiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, null, 'model_not_found');
  }
  if (route === 'responses') {
    const invalid = responsesRequestError(body);
    if (invalid) return openaiError(400, invalid.message, invalid.param, invalid.code);
    const answer = responsesAnswer(body, model, BEDROCK_OPENAI_REPLY, { input: 12, cached: 0, reasoning: 4 });
    return body['stream'] === true ? { kind: 'sse', frames: answer.frames } : { kind: 'json', status: 200, body: answer.json };
  }
  return chatAnswer(model, body);
}

function chatAnswer(model: string, body: Record<string, unknown>): OpenAICompatibleAnswer {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return openaiError(400, "Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (body['stream'] !== undefined && typeof body['stream'] !== 'boolean') return openaiError(400, "Invalid type for 'stream': expected a boolean.", 'stream', 'invalid_type');
  const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const tool = toolToCall(body);
  if (tool) {
    const reply = toolCallReply(model, id, created, tool);
    return body['stream'] === true ? { kind: 'sse', frames: reply.frames } : { kind: 'json', status: 200, body: reply.json };
  }
  const usage = { prompt_tokens: 15, completion_tokens: BEDROCK_OPENAI_REPLY.length, total_tokens: 15 + BEDROCK_OPENAI_REPLY.length };
  const text = BEDROCK_OPENAI_REPLY.join('');
  if (body['stream'] !== true) {
    return {
      kind: 'json', status: 200,
      body: { id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage },
    };
  }
  const chunk = (delta: object, finish: string | null) => frame({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] });
  const frames = [chunk({ role: 'assistant', content: '' }, null), ...BEDROCK_OPENAI_REPLY.map((t) => chunk({ content: t }, null)), chunk({}, 'stop')];
  if ((body['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true) {
    frames.push(frame({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }));
  }
  frames.push('data: [DONE]\n\n');
  return { kind: 'sse', frames };
}

function openaiError(status: number, message: string, param: string | null, code: string | null): OpenAICompatibleAnswer {
  return { kind: 'json', status, body: { error: { message, type: 'invalid_request_error', param, code } } };
}

function frame(obj: object): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}
