import { Emulator, masked, requestId, type Exchange } from './base.js';
import { responsesAnswer, responsesRequestError } from './openai-responses.js';

/**
 * OpenAI API emulator. Checks `Authorization: Bearer <key>` as api.openai.com does (401 with
 * `invalid_api_key`, echoing a masked key) and answers chat completions (JSON and SSE, with
 * `stream_options.include_usage`), completions, embeddings, models and the Responses API
 * (JSON and SSE with the official event sequence, function calls, a minimal `store`; see
 * openai-responses.ts). It also serves admin-style routes (`/v1/organization/...`, `/v1/files`) with
 * 200, so a test notices if the gateway ever forwards one.
 *
 * Model `emulator-bulk` streams `max_tokens` KiB-sized chunks as fast as the connection takes
 * them, counting what it managed to write in `bulkFramesWritten` (for backpressure tests).
 */
export class OpenAIEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' OpenAI', ' emulator', '.'];
  bulkFramesWritten = 0;
  /** When set, streamed chat completions send this many content deltas instead of {@link REPLY} (benchmarks). */
  streamDeltas: number | undefined;
  /** Bodies of the `POST /v1/responses` requests received, in order (while `recording`). */
  readonly responsesReceived: Array<Record<string, unknown>> = [];
  /** Ids of responses stored (`store` not false), which `previous_response_id` may name. */
  readonly #stored = new Set<string>();

  override reset(): void {
    super.reset();
    this.responsesReceived.length = 0;
    this.#stored.clear();
  }

  protected override responseHeaders(): Record<string, string> {
    return { 'x-request-id': requestId('req_'), 'openai-processing-ms': '3' };
  }

  protected authenticate(ex: Exchange) {
    const auth = ex.req.headers.authorization;
    if (!auth) {
      return { status: 401, body: error("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.", 'invalid_request_error', null) };
    }
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!this.acceptedKeys.has(key)) {
      return { status: 401, body: error(`Incorrect API key provided: ${masked(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key') };
    }
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    if (path.startsWith('/v1/organization') || path.startsWith('/v1/files') || path.startsWith('/v1/fine_tuning')) {
      return this.json(ex, 200, { object: 'list', data: [{ id: 'admin-data', note: 'an admin route was reached' }] });
    }
    if (method === 'GET' && path === '/v1/models') {
      return this.json(ex, 200, { object: 'list', data: ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'].map(model) });
    }
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      return this.json(ex, 200, model(decodeURIComponent(path.slice('/v1/models/'.length))));
    }
    const body = ex.json;
    if (method === 'POST' && !body) return this.json(ex, 400, error('We could not parse the JSON body of your request.', 'invalid_request_error', null));
    if (method === 'POST' && typeof body!['model'] !== 'string') return this.json(ex, 400, error('you must provide a model parameter', 'invalid_request_error', null));
    if (method === 'POST' && path === '/v1/chat/completions') return this.#chat(ex, body!);
    if (method === 'POST' && path === '/v1/completions') {
      return this.json(ex, 200, {
        id: requestId('cmpl-'), object: 'text_completion', created: now(), model: body!['model'],
        choices: [{ text: OpenAIEmulator.REPLY.join(''), index: 0, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 },
      });
    }
    if (method === 'POST' && path === '/v1/embeddings') {
      const inputs = Array.isArray(body!['input']) ? (body!['input'] as unknown[]) : [body!['input']];
      return this.json(ex, 200, {
        object: 'list', model: body!['model'],
        data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.1, -0.2, 0.3] })),
        usage: { prompt_tokens: 5 * inputs.length, total_tokens: 5 * inputs.length },
      });
    }
    if (method === 'POST' && path === '/v1/responses') return this.#responses(ex, body!);
    return this.json(ex, 404, error(`Invalid URL (${method} ${path})`, 'invalid_request_error', null));
  }

  async #chat(ex: Exchange, body: Record<string, unknown>): Promise<void> {
    const modelId = body['model'] as string;
    if (!Array.isArray(body['messages'])) return this.json(ex, 400, error("Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter'));
    const id = requestId('chatcmpl-');
    const created = now();
    const usage = { prompt_tokens: 9, completion_tokens: OpenAIEmulator.REPLY.length, total_tokens: 9 + OpenAIEmulator.REPLY.length };
    const tool = toolToCall(body);
    if (tool) return this.#toolCall(ex, body, id, created, tool);
    if (body['stream'] !== true) {
      return this.json(ex, 200, {
        id, object: 'chat.completion', created, model: modelId,
        choices: [{ index: 0, message: { role: 'assistant', content: OpenAIEmulator.REPLY.join(''), refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage,
      });
    }
    if (modelId === 'emulator-bulk') return this.#bulk(ex, Number(body['max_tokens'] ?? 1024));
    const chunk = (delta: object, finish: string | null) => frame({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
    const deltas = this.streamDeltas === undefined ? OpenAIEmulator.REPLY : Array.from({ length: this.streamDeltas }, (_, i) => `tok${i} `);
    const frames = [chunk({ role: 'assistant', content: '' }, null), ...deltas.map((t) => chunk({ content: t }, null)), chunk({}, 'stop')];
    if ((body['stream_options'] as { include_usage?: boolean } | undefined)?.include_usage === true) {
      frames.push(frame({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [], usage }));
    }
    frames.push('data: [DONE]\n\n');
    return this.sse(ex, frames);
  }

  async #toolCall(ex: Exchange, body: Record<string, unknown>, id: string, created: number, name: string): Promise<void> {
    const reply = toolCallReply(body['model'] as string, id, created, name);
    return body['stream'] === true ? this.sse(ex, reply.frames) : this.json(ex, 200, reply.json);
  }

  async #bulk(ex: Exchange, frames: number): Promise<void> {
    ex.res.writeHead(200, { 'content-type': 'text/event-stream' });
    const payload = frame({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x'.repeat(1000) } }] });
    for (let i = 0; i < frames; i++) {
      if (ex.res.destroyed) return;
      this.bulkFramesWritten++;
      if (!ex.res.write(payload)) {
        const gone = await new Promise<boolean>((r) => {
          const drained = () => { ex.res.off('close', closed); r(false); };
          const closed = () => { ex.res.off('drain', drained); r(true); };
          ex.res.once('drain', drained);
          ex.res.once('close', closed);
        });
        if (gone) return;
      }
    }
    ex.res.end('data: [DONE]\n\n');
  }

  /**
   * `POST /v1/responses` (openai-responses.ts). `store` is honoured minimally: a stored response
   * (the API's default, `store` absent or true) can be named by a later `previous_response_id`;
   * an id never stored is refused as the API refuses it. Each request body lands in
   * {@link responsesReceived}, so a test can assert what the gateway sent (`store: false`, no
   * `previous_response_id`).
   */
  async #responses(ex: Exchange, body: Record<string, unknown>): Promise<void> {
    if (this.recording) this.responsesReceived.push(body);
    const invalid = responsesRequestError(body);
    if (invalid) return this.json(ex, 400, { error: { message: invalid.message, type: 'invalid_request_error', param: invalid.param, code: invalid.code } });
    const previous = body['previous_response_id'];
    if (previous !== undefined && previous !== null && (typeof previous !== 'string' || !this.#stored.has(previous))) {
      return this.json(ex, 400, { error: { message: `Previous response with id '${String(previous)}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' } });
    }
    const answer = responsesAnswer(body, body['model'] as string, OpenAIEmulator.REPLY, { input: 7, cached: 0, reasoning: 0 });
    if (body['store'] !== false && this.#stored.size < 1000) this.#stored.add(answer.json['id'] as string);
    return body['stream'] === true ? this.sse(ex, answer.frames) : this.json(ex, 200, answer.json);
  }
}

/** The model calling `name` with `{"location":"Paris"}`: as JSON, or as SSE frames with the arguments in fragments. */
export function toolCallReply(model: string, id: string, created: number, name: string): { json: object; frames: string[] } {
  const call = { id: requestId('call_'), type: 'function', function: { name, arguments: '{"location": "Paris"}' } };
  const chunk = (delta: object, finish: string | null) => frame({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  return {
    json: {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call], refusal: null }, logprobs: null, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 },
    },
    frames: [
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name, arguments: '' } }] }, null),
      ...['{"loca', 'tion": "Pa', 'ris"}'].map((part) => chunk({ tool_calls: [{ index: 0, function: { arguments: part } }] }, null)),
      chunk({}, 'tool_calls'),
      'data: [DONE]\n\n',
    ],
  };
}

/** A tool the emulated model calls: when tools are offered and the last user turn asks about the weather. */
export function toolToCall(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const last = (body['messages'] as Array<{ role?: string; content?: unknown }>).at(-1);
  if (last?.role !== 'user') return undefined;
  const text = typeof last.content === 'string' ? last.content : JSON.stringify(last.content ?? '');
  return /weather/i.test(text) ? String((tools[0] as { function?: { name?: unknown } }).function?.name) : undefined;
}

function frame(obj: object): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

function model(id: string) {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'system' };
}

function error(message: string, type: string, code: string | null) {
  return { error: { message, type, param: null, code } };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}
