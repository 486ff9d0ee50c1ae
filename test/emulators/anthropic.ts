import { Emulator, requestId, type Exchange } from './base.js';
import { cacheControlError, claudeAnswer, PromptCache, thinkingEnabled, thinkingError } from './anthropic-features.js';
import { claudeCodeTurn } from './claude-script.js';

/**
 * Anthropic Messages API emulator. Checks credentials as api.anthropic.com does: `x-api-key`
 * (or `Authorization: Bearer`, as current SDKs send it) must be a known key (401 `authentication_error`) and `anthropic-version` a version the API
 * serves (400), and message shapes are checked as the API checks them. Answers `/v1/messages` (JSON, and SSE in the event order of the real API,
 * with extended thinking and prompt-caching usage: anthropic-features.ts),
 * `/v1/messages/count_tokens` and `/v1/models` (paged by `after_id` / `before_id`). Admin routes (`/v1/organizations/...`) answer
 * 200 so a test notices if the gateway ever forwards one.
 */
export class AnthropicEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' Anthropic', ' emulator', '.'];
  static readonly MODELS = ['claude-sonnet-4-5', 'claude-haiku-4-5'];
  /** The most models a `/v1/models` page holds whatever `limit` asks (tests paging with less than the API's 1,000). */
  modelsPageSize = 1000;
  /** Prefixes marked with `cache_control` seen so far (anthropic-features.ts); cleared by reset(). */
  readonly promptCache = new PromptCache();

  override reset(): void {
    super.reset();
    this.promptCache.clear();
  }

  /** The betas the last request's `anthropic-beta` header turned on (to assert what the gateway forwarded). */
  get lastBetas(): Set<string> {
    return betasOf(this.last.headers['anthropic-beta']);
  }

  protected override responseHeaders(): Record<string, string> {
    return { 'request-id': requestId('req_') };
  }

  /**
   * `GET /v1/models`: pages of `limit` (default 20, 1–1000) models after `after_id` or before
   * `before_id`, with `has_more`, `first_id` and `last_id`.
   */
  #models(ex: Exchange): Promise<void> {
    const query = new URLSearchParams(ex.record.query);
    const limit = Number(query.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return this.json(ex, 400, error('invalid_request_error', 'limit: Input should be less than or equal to 1000'));
    const after = query.get('after_id');
    const before = query.get('before_id');
    if (after !== null && before !== null) return this.json(ex, 400, error('invalid_request_error', 'Cannot specify both after_id and before_id'));
    const size = Math.min(limit, this.modelsPageSize);
    // before_id pages backwards: the `size` models just before it.
    const end = before === null ? undefined : Math.max(0, AnthropicEmulator.MODELS.indexOf(before));
    const start = end !== undefined ? Math.max(0, end - size) : after === null ? 0 : AnthropicEmulator.MODELS.indexOf(after) + 1;
    const ids = AnthropicEmulator.MODELS.slice(start, end ?? start + size);
    const data = ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
    const hasMore = end !== undefined ? start > 0 : start + ids.length < AnthropicEmulator.MODELS.length;
    return this.json(ex, 200, { data, has_more: hasMore, first_id: ids[0] ?? null, last_id: ids.at(-1) ?? null });
  }

  /** Requests that authenticated with `x-api-key`, and with the key as `Authorization: Bearer`. */
  readonly authSeen = { apiKey: 0, bearer: 0 };

  protected authenticate(ex: Exchange) {
    // The API key goes in `x-api-key`, or as a Bearer token, which the current Anthropic SDKs
    // send (@anthropic-ai/sdk 1.x `apiKeyAuth`: `Authorization: Bearer ${apiKey}`).
    const header = ex.req.headers['x-api-key'];
    const authorization = ex.req.headers.authorization;
    const bearer = typeof authorization === 'string' && /^Bearer /i.test(authorization) ? authorization.slice(7) : undefined;
    const key = header ?? bearer;
    if (typeof key !== 'string' || !this.acceptedKeys.has(key)) {
      return { status: 401, body: error('authentication_error', header === undefined && bearer !== undefined ? 'invalid bearer token' : 'invalid x-api-key') };
    }
    if (header !== undefined) this.authSeen.apiKey++;
    else this.authSeen.bearer++;
    const version = ex.req.headers['anthropic-version'];
    if (!version) return { status: 400, body: error('invalid_request_error', 'anthropic-version: header is required') };
    if (typeof version !== 'string' || !ANTHROPIC_API_VERSIONS.has(version)) {
      return { status: 400, body: error('invalid_request_error', `anthropic-version: "${String(version)}" is not a valid version`) };
    }
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    if (path.startsWith('/v1/organizations')) return this.json(ex, 200, { data: [{ id: 'admin-data', note: 'an admin route was reached' }] });
    if (method === 'GET' && path === '/v1/models') return this.#models(ex);
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      return this.json(ex, 200, { type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' });
    }
    const body = ex.json;
    if (method !== 'POST' || !body) return this.json(ex, 404, error('not_found_error', 'Not found'));
    if (typeof body['model'] !== 'string') return this.json(ex, 400, error('invalid_request_error', 'model: Field required'));
    if (path === '/v1/messages/count_tokens') {
      const shape = messagesShapeError(body, body['model'] as string, betasOf(ex.req.headers['anthropic-beta'])) ?? thinkingError(body) ?? cacheControlError(body);
      return shape ? this.json(ex, 400, error('invalid_request_error', shape)) : this.json(ex, 200, { input_tokens: 12 });
    }
    if (path !== '/v1/messages') return this.json(ex, 404, error('not_found_error', 'Not found'));
    if (typeof body['max_tokens'] !== 'number') return this.json(ex, 400, error('invalid_request_error', 'max_tokens: Field required'));

    const shape = messagesShapeError(body, body['model'] as string, betasOf(ex.req.headers['anthropic-beta']));
    if (shape) return this.json(ex, 400, error('invalid_request_error', shape));

    const invalid = thinkingError(body) ?? cacheControlError(body);
    if (invalid) return this.json(ex, 400, error('invalid_request_error', invalid));
    const scripted = claudeCodeTurn(body, body['model'] as string);
    if (scripted) return body['stream'] === true ? this.sse(ex, scripted.events.map((e) => event(e['type'] as string, e))) : this.json(ex, 200, scripted.message);

    const tool = toolToCall(body);
    const { json, events } = claudeAnswer({
      id: requestId('msg_'),
      model: body['model'] as string,
      reply: AnthropicEmulator.REPLY,
      usage: this.promptCache.usage(body, tool ? 20 : 11),
      thinking: thinkingEnabled(body),
      tool,
    });
    if (body['stream'] !== true) return this.json(ex, 200, json);
    return this.sse(ex, events.map((e) => event(e['type'] as string, e)));
  }
}

function event(type: string, data: object): string {
  return `event: ${type}\ndata: ${JSON.stringify({ ...data, type })}\n\n`;
}

/**
 * The API versions api.anthropic.com serves (`anthropic-version`): 2023-01-01, 2023-06-01 and
 * 2026-10-21, which current SDKs send; any other value is refused.
 * https://platform.claude.com/docs/en/api/versioning
 */
export const ANTHROPIC_API_VERSIONS: ReadonlySet<string> = new Set(['2023-01-01', '2023-06-01', '2026-10-21']);

/** The beta that lets a mid-conversation system message say when it stops being shown (`clear_at`). */
const CLEAR_AT_BETA = 'mid-conversation-system-clear-at-2026-08-21';

/** The betas an `anthropic-beta` header (comma-separated, possibly repeated) turns on. */
export function betasOf(header: string | string[] | undefined): Set<string> {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return new Set(values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== ''));
}

/**
 * Whether a model takes mid-conversation `role: "system"` messages: Claude Opus 4.8 and later
 * do, models released before it answer "role 'system' is not supported on this model"; an id
 * the emulator cannot date is taken as a newer model. Vertex ids carry `@date`.
 */
function takesSystemMessages(model: string): boolean {
  const m = /^claude-(?:opus|sonnet|haiku|fable)-(\d+)(?:-(\d{1,2}))?(?:$|[@-])/.exec(model);
  if (!m) return !/^claude-[0-3]-/.test(model);
  const major = Number(m[1]);
  return major > 4 || (major === 4 && Number(m[2] ?? 0) >= 8);
}

/**
 * What the Messages API refuses about a request's shape (roles, alternation, system placement),
 * for `model` and the request's betas. A `role: "system"` message mid-conversation (what Claude
 * Code sends on current models) is an instruction between turns: it needs text content, is not
 * the first message, takes `clear_at` only with its beta, and does not count in the
 * user/assistant alternation.
 */
export function messagesShapeError(body: Record<string, unknown>, model: string, betas: ReadonlySet<string>): string | undefined {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return 'messages: at least one message is required';
  let previous = '';
  for (const [i, m] of (messages as Array<Record<string, unknown>>).entries()) {
    const role = m['role'];
    if (role === 'system') {
      if (!takesSystemMessages(model)) return `messages.${i}.role: role 'system' is not supported on this model`;
      if (i === 0) return 'messages: first message must use the "user" role';
      const content = m['content'];
      if (typeof content !== 'string' && !(Array.isArray(content) && content.every((c: { type?: unknown }) => c.type === 'text'))) {
        return `messages.${i}.content: a system message takes text content`;
      }
      if (m['clear_at'] !== undefined && !betas.has(CLEAR_AT_BETA)) return `messages.${i}.clear_at: Extra inputs are not permitted`;
      continue;
    }
    if (role !== 'user' && role !== 'assistant') return `messages.${i}.role: Input should be 'user', 'assistant' or 'system'`;
    if (i === 0 && role !== 'user') return 'messages: first message must use the "user" role';
    if (role === previous) return 'messages: roles must alternate between "user" and "assistant"';
    previous = role;
  }
  const system = body['system'];
  if (system !== undefined && typeof system !== 'string' && !Array.isArray(system)) return 'system: Input should be a valid string or list';
  return undefined;
}

/** A tool the emulated model calls: when tools are offered and the last user turn asks about the weather. */
export function toolToCall(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const last = (body['messages'] as Array<Record<string, unknown>>).at(-1)!;
  const content = last['content'];
  const text = typeof content === 'string' ? content : Array.isArray(content) ? content.map((c: { text?: string }) => c.text ?? '').join(' ') : '';
  return /weather/i.test(text) ? String((tools[0] as { name: unknown }).name) : undefined;
}

function error(type: string, message: string) {
  return { type: 'error', error: { type, message } };
}
