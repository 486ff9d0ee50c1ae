import { randomUUID } from 'node:crypto';
import { Emulator, requestId, type Exchange } from './base.js';

/**
 * IBM watsonx.ai runtime emulator (`/ml/v1/...`). Checks what the real service checks before
 * any work: `Authorization: Bearer <IAM token>` must be a known token (401 with IBM's error body
 * `{"errors":[{code,message,more_info}],"trace","status_code"}`), every call needs the `version`
 * query parameter (400), and inference bodies must name exactly one of `project_id`/`space_id`
 * (400), one the token may use (403 otherwise). The chat body is checked field by field against
 * the documented `TextChatParams` (an unknown field, `stream`, or both `tool_choice` and
 * `tool_choice_option` are 400), so translation mistakes surface here.
 *
 * Answers `text/chat` (JSON) and `text/chat_stream` (SSE: `id: n`, `event: message`,
 * `data: {chunk}`, a last chunk with `choices: []` and usage), honouring `n` and answering with a
 * tool call when tools are given (unless `tool_choice_option` is none); `text/generation`,
 * `text/generation_stream`, `text/embeddings` and `foundation_model_specs`. Model
 * `emulator-stream-error` sends an `event: error` frame after its first chunk.
 */
export class WatsonxEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' watsonx', ' emulator', '.'];
  static readonly TOOL_ARGUMENTS = ['{\n', '  "location": ', '"Paris"', '\n}'];
  readonly projects: Set<string>;
  readonly spaces: Set<string>;

  constructor(tokens: string[], scopes: { projects?: string[]; spaces?: string[] }) {
    super(tokens);
    this.projects = new Set(scopes.projects ?? []);
    this.spaces = new Set(scopes.spaces ?? []);
  }

  protected override responseHeaders(): Record<string, string> {
    return { 'x-global-transaction-id': requestId('wx-') };
  }

  protected authenticate(ex: Exchange) {
    const auth = ex.req.headers.authorization;
    if (!auth) return { status: 401, body: ibmError(401, 'authorization_rejected', 'Authorization header is missing') };
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!this.acceptedKeys.has(token)) {
      return { status: 401, body: ibmError(401, 'authentication_token_not_valid', 'Failed to authenticate the request due to invalid token: Failed to parse and verify token') };
    }
    const version = new URLSearchParams(ex.record.query).get('version');
    if (!version || !/^\d{4}-\d{2}-\d{2}$/.test(version)) {
      return { status: 400, body: ibmError(400, 'invalid_request_entity', 'Missing or invalid query parameter `version`, it must be a date in the format YYYY-MM-DD') };
    }
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    if (method === 'GET' && path === '/ml/v1/foundation_model_specs') {
      const resources = ['ibm/granite-3-8b-instruct', 'openai/gpt-oss-120b'].map((model_id) => ({ model_id, label: model_id, provider: 'IBM', functions: [{ id: 'text_chat' }] }));
      return this.json(ex, 200, { total_count: resources.length, limit: 100, first: { href: `${this.url}/ml/v1/foundation_model_specs?limit=100` }, resources });
    }
    if (method === 'GET' && path === '/ml/v4/deployments') {
      // The deployments of a project or space (named in the query), which the token must be allowed to use.
      const q = new URLSearchParams(ex.record.query);
      const scope = Object.fromEntries(['project_id', 'space_id'].flatMap((k) => (q.has(k) ? [[k, q.get(k)]] : [])));
      const denied = this.#scopeError(scope);
      if (denied) return this.json(ex, denied.status, denied.body);
      return this.json(ex, 200, { total_count: 0, limit: Number(q.get('limit') ?? 100), first: { href: `${this.url}/ml/v4/deployments` }, resources: [] });
    }
    const inference = ['/ml/v1/text/chat', '/ml/v1/text/chat_stream', '/ml/v1/text/generation', '/ml/v1/text/generation_stream', '/ml/v1/text/embeddings'];
    if (method !== 'POST' || !inference.includes(path)) return this.json(ex, 404, ibmError(404, 'not_found', `${method} ${path} is not a watsonx.ai route`));
    const body = ex.json;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return this.json(ex, 400, ibmError(400, 'json_validation_error', 'The request body is not a JSON object'));
    const denied = this.#scopeError(body);
    if (denied) return this.json(ex, denied.status, denied.body);
    if (typeof body['model_id'] !== 'string') return this.json(ex, 400, ibmError(400, 'json_validation_error', 'Json field `model_id` is required'));
    switch (path) {
      case '/ml/v1/text/chat':
      case '/ml/v1/text/chat_stream': {
        const shape = chatShapeError(body);
        if (shape) return this.json(ex, 400, ibmError(400, 'json_validation_error', shape));
        return path === '/ml/v1/text/chat' ? this.#chat(ex, body) : this.#chatStream(ex, body);
      }
      case '/ml/v1/text/generation':
        return this.json(ex, 200, generation(body, WatsonxEmulator.REPLY.join(''), WatsonxEmulator.REPLY.length, 'eos_token'));
      case '/ml/v1/text/generation_stream':
        return this.sse(ex, WatsonxEmulator.REPLY.map((t, i) => frame(i + 1, generation(body, t, i + 1, i === WatsonxEmulator.REPLY.length - 1 ? 'eos_token' : 'not_finished'))));
      default: {
        const inputs = body['inputs'];
        if (!Array.isArray(inputs) || !inputs.every((i) => typeof i === 'string')) return this.json(ex, 400, ibmError(400, 'json_validation_error', 'Json field `inputs` is required'));
        const extra = Object.keys(body).find((k) => !['model_id', 'inputs', 'project_id', 'space_id', 'parameters'].includes(k));
        if (extra) return this.json(ex, 400, ibmError(400, 'json_validation_error', `Json field \`${extra}\` is not allowed`));
        return this.json(ex, 200, { model_id: body['model_id'], results: inputs.map(() => ({ embedding: [0.1, -0.2, 0.3] })), created_at: new Date().toISOString(), input_token_count: 4 * inputs.length });
      }
    }
  }

  #scopeError(body: Record<string, unknown>): { status: number; body: unknown } | undefined {
    const project = body['project_id'];
    const space = body['space_id'];
    if ((project === undefined) === (space === undefined)) {
      return { status: 400, body: ibmError(400, 'json_validation_error', 'Exactly one of `project_id` or `space_id` must be specified') };
    }
    const known = project !== undefined ? this.projects.has(String(project)) : this.spaces.has(String(space));
    if (!known) {
      const what = project !== undefined ? `project ${String(project)}` : `space ${String(space)}`;
      return { status: 403, body: ibmError(403, 'authorization_rejected', `The token is not authorized to use ${what}`) };
    }
    return undefined;
  }

  async #chat(ex: Exchange, body: Record<string, unknown>): Promise<void> {
    const n = typeof body['n'] === 'number' ? body['n'] : 1;
    const tool = toolToCall(body);
    const choices = Array.from({ length: n }, (_, index) => ({
      index,
      message: tool
        ? { role: 'assistant', content: null, tool_calls: [{ index: 0, id: `chatcmpl-tool-${randomUUID().replace(/-/g, '')}`, type: 'function', function: { name: tool, arguments: WatsonxEmulator.TOOL_ARGUMENTS.join('') } }] }
        : { role: 'assistant', content: WatsonxEmulator.REPLY.join('') },
      finish_reason: tool ? 'tool_calls' : 'stop',
    }));
    return this.json(ex, 200, { ...envelope(body, 'chat.completion'), choices, usage: usage(n) });
  }

  async #chatStream(ex: Exchange, body: Record<string, unknown>): Promise<void> {
    const n = typeof body['n'] === 'number' ? body['n'] : 1;
    const tool = toolToCall(body);
    const head = envelope(body, 'chat.completion.chunk');
    const chunks: object[] = [];
    const choice = (index: number, delta: object, finish: string | null) => chunks.push({ ...head, choices: [{ index, finish_reason: finish, delta }] });
    for (let i = 0; i < n; i++) choice(i, { role: 'assistant', content: '' }, null);
    if (tool) {
      const ids = Array.from({ length: n }, () => `chatcmpl-tool-${randomUUID().replace(/-/g, '')}`);
      for (let i = 0; i < n; i++) choice(i, { tool_calls: [{ index: 0, id: ids[i], type: 'function', function: { name: tool, arguments: '' } }] }, null);
      for (const part of WatsonxEmulator.TOOL_ARGUMENTS) {
        for (let i = 0; i < n; i++) choice(i, { tool_calls: [{ index: 0, function: { name: '', arguments: part } }] }, null);
      }
    } else {
      for (const part of WatsonxEmulator.REPLY) for (let i = 0; i < n; i++) choice(i, { content: part }, null);
    }
    for (let i = 0; i < n; i++) choice(i, {}, tool ? 'tool_calls' : 'stop');
    chunks.push({ ...head, choices: [], usage: usage(n) });
    const frames = chunks.map((c, i) => frame(i + 1, c));
    if (body['model_id'] === 'emulator-stream-error') {
      frames.splice(1, frames.length - 1, `id: 2\nevent: error\ndata: ${JSON.stringify(ibmError(500, 'downstream_request_failed', 'Model inference failed mid-stream'))}\n\n`);
    }
    return this.sse(ex, frames);
  }
}

/** The fields of `TextChatParams` (IBM's SDKs); anything else is a translation mistake. */
const CHAT_FIELDS = new Set([
  'model_id', 'project_id', 'space_id', 'messages', 'tools', 'tool_choice_option', 'tool_choice', 'frequency_penalty', 'logit_bias',
  'logprobs', 'top_logprobs', 'max_tokens', 'max_completion_tokens', 'n', 'presence_penalty', 'response_format', 'seed', 'stop',
  'temperature', 'top_p', 'time_limit', 'repetition_penalty', 'length_penalty', 'include_reasoning', 'reasoning_effort',
  'guided_choice', 'guided_regex', 'guided_grammar', 'guided_json', 'context', 'chat_template_kwargs',
]);

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'control', 'developer']);

function chatShapeError(body: Record<string, unknown>): string | undefined {
  for (const key of Object.keys(body)) if (!CHAT_FIELDS.has(key)) return `Json field \`${key}\` is not allowed`;
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return 'Json field `messages` must be a non-empty array';
  for (const [i, m] of messages.entries()) {
    if (m === null || typeof m !== 'object' || !ROLES.has((m as { role?: string }).role ?? '')) return `messages[${i}]: unknown role`;
    const msg = m as { role: string; content?: unknown; tool_calls?: unknown; tool_call_id?: unknown };
    if (msg.role === 'system' && typeof msg.content !== 'string') return `messages[${i}].content must be a string for role system`;
    if (msg.role === 'tool' && (typeof msg.content !== 'string' || typeof msg.tool_call_id !== 'string')) return `messages[${i}]: tool messages need content and tool_call_id`;
    if (msg.role === 'assistant' && msg.content === undefined && msg.tool_calls === undefined) return `messages[${i}]: assistant messages need content or tool_calls`;
    if (msg.role === 'user' && typeof msg.content !== 'string' && !Array.isArray(msg.content)) return `messages[${i}].content must be a string or an array`;
  }
  if (body['tool_choice'] !== undefined && body['tool_choice_option'] !== undefined) return 'Only one of `tool_choice_option` or `tool_choice` must be present';
  if (body['tool_choice_option'] !== undefined && !['none', 'auto', 'required'].includes(body['tool_choice_option'] as string)) return 'Json field `tool_choice_option` must be one of none, auto, required';
  if (body['stop'] !== undefined && !Array.isArray(body['stop'])) return 'Json field `stop` must be an array';
  const tools = body['tools'];
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return 'Json field `tools` must be an array';
    for (const [i, t] of tools.entries()) {
      const fn = (t as { type?: unknown; function?: { name?: unknown } }).function;
      if ((t as { type?: unknown }).type !== 'function' || typeof fn?.name !== 'string') return `tools[${i}] must be a function with a name`;
    }
  }
  return undefined;
}

/** The tool the model "calls": the one tool_choice names, else the first tool, unless tool_choice_option is none. */
function toolToCall(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'] as Array<{ function: { name: string } }> | undefined;
  if (!tools || tools.length === 0 || body['tool_choice_option'] === 'none') return undefined;
  const named = (body['tool_choice'] as { function?: { name?: string } } | undefined)?.function?.name;
  return named ?? tools[0]!.function.name;
}

function envelope(body: Record<string, unknown>, object: string) {
  const model = body['model_id'] as string;
  return { id: requestId('chatcmpl-'), object, model_id: model, model, created: Math.floor(Date.now() / 1000), model_version: '3.0.0', created_at: new Date().toISOString() };
}

function usage(n: number) {
  const completion = n * WatsonxEmulator.REPLY.length;
  return { completion_tokens: completion, prompt_tokens: 12, total_tokens: 12 + completion };
}

function generation(body: Record<string, unknown>, text: string, generated: number, stop: string) {
  return { model_id: body['model_id'], created_at: new Date().toISOString(), results: [{ generated_text: text, generated_token_count: generated, input_token_count: 5, stop_reason: stop }] };
}

function frame(id: number, data: object): string {
  return `id: ${id}\nevent: message\ndata: ${JSON.stringify(data)}\n\n`;
}

/** IBM Cloud's error body. */
export function ibmError(status: number, code: string, message: string) {
  return { errors: [{ code, message, more_info: 'https://cloud.ibm.com/apidocs/watsonx-ai' }], trace: randomUUID().replace(/-/g, ''), status_code: status };
}
