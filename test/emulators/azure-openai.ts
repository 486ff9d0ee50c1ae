import { Emulator, requestId, type Exchange } from './base.js';
import { ENTRA_TOKENS } from './entra.js';
import { toolCallReply, toolToCall } from './openai.js';
import { responsesAnswer, responsesRequestError } from './openai-responses.js';

/**
 * Azure OpenAI emulator (`https://{resource}.openai.azure.com`). Checks the `api-key` header as
 * Azure does (401 with Azure's error body, which never echoes the key), then on the dated
 * routes `/openai/deployments/{deployment}/...` that `api-version` is present (404 "Resource not
 * found" otherwise, as Azure answers) and known (400 "API version not supported"), and that the
 * deployment exists (404 `DeploymentNotFound`). Answers chat completions in JSON and SSE the way
 * Azure does: content-filter annotations on every choice, `prompt_filter_results` on the answer,
 * and a first stream chunk holding only `prompt_filter_results` with empty `choices`, `id` and
 * `model`. Also serves the v1 API's chat completions (`/openai/v1/chat/completions`, deployment
 * in the body's `model`), Responses (`/openai/v1/responses`, openai-responses.ts), embeddings, and `GET /openai/models`; and, with 200, admin-style
 * routes (`/openai/files`, `/openai/fine_tuning/...`, `/openai/deployments` listing) so a test
 * notices if the gateway ever forwards one. Delays, stalls and injections come from the base.
 *
 * @example
 * const az = await new AzureOpenAIEmulator(['key-1'], { 'prod-gpt4o': 'gpt-4o-2024-08-06' }).start();
 * // POST {az.url}/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21
 */
export class AzureOpenAIEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' Azure', ' emulator', '.'];
  /** Dated versions the emulated resource accepts; the v1 API takes none, `preview` or `latest`. */
  static readonly API_VERSIONS: ReadonlySet<string> = new Set(['2024-06-01', '2024-10-21', '2025-01-01-preview', '2025-04-01-preview']);
  /** Deployment name → the model it runs (what Azure reports in `model`). Replace to redeploy. */
  readonly deployments: Map<string, string>;

  constructor(keys: string[], deployments: Record<string, string>) {
    super(keys);
    this.deployments = new Map(Object.entries(deployments));
  }

  protected override responseHeaders(): Record<string, string> {
    return { 'apim-request-id': requestId(''), 'x-request-id': requestId(''), 'x-ms-region': 'Sweden Central' };
  }

  readonly #challenged = new WeakSet<Exchange>();

  protected override json(ex: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    const challenge = this.#challenged.has(ex) ? { 'www-authenticate': 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"' } : ({} as Record<string, string>);
    return super.json(ex, status, body, { ...headers, ...challenge });
  }

  /** Requests that authenticated with an Entra Bearer token, and with an `api-key`. */
  readonly authSeen = { bearer: 0, apiKey: 0 };

  protected authenticate(ex: Exchange) {
    const authorization = ex.req.headers['authorization'];
    if (typeof authorization === 'string' && /^Bearer /i.test(authorization)) {
      // Tokens the Entra emulator minted, until they expire; a Bearer challenge otherwise, as
      // Azure answers an expired token.
      const expiresAt = ENTRA_TOKENS.get(authorization.slice(7));
      if (expiresAt === undefined || Date.now() >= expiresAt) {
        this.#challenged.add(ex);
        return { status: 401, body: error('401', 'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.') };
      }
      if (ex.req.headers['api-key'] === undefined) this.authSeen.bearer++;
      return undefined;
    }
    if (ex.req.headers['api-key'] !== undefined) this.authSeen.apiKey++;
    const key = ex.req.headers['api-key'];
    if (typeof key !== 'string' || key === '') {
      return { status: 401, body: error('401', 'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.') };
    }
    if (!this.acceptedKeys.has(key)) {
      return {
        status: 401,
        body: error('401', 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.'),
      };
    }
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    const apiVersion = new URLSearchParams(ex.record.query).get('api-version');
    if (path === '/openai/files' || path.startsWith('/openai/files/') || path.startsWith('/openai/fine_tuning') || path === '/openai/deployments' || path.startsWith('/openai/v1/files')) {
      return this.json(ex, 200, { object: 'list', data: [{ id: 'admin-data', note: 'an admin route was reached' }] });
    }
    if (path.startsWith('/openai/v1/')) {
      if (apiVersion !== null && apiVersion !== 'preview' && apiVersion !== 'latest') return this.json(ex, 400, error('BadRequest', 'API version not supported'));
      return this.#v1(ex, method, path.slice('/openai/v1'.length));
    }
    if (apiVersion === null) return this.json(ex, 404, error('404', 'Resource not found'));
    if (!AzureOpenAIEmulator.API_VERSIONS.has(apiVersion)) return this.json(ex, 400, error('BadRequest', 'API version not supported'));
    if (method === 'GET' && path === '/openai/models') {
      return this.json(ex, 200, { object: 'list', data: [...new Set(this.deployments.values())].map((id) => ({ id, object: 'model', status: 'succeeded', created_at: 1_700_000_000 })) });
    }
    const m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(path);
    if (!m || method !== 'POST') return this.json(ex, 404, error('404', 'Resource not found'));
    const model = this.deployments.get(decodeURIComponent(m[1]!));
    if (model === undefined) {
      return this.json(ex, 404, error('DeploymentNotFound', 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.'));
    }
    return this.#operation(ex, m[2]!, model);
  }

  /** The v1 API: OpenAI's routes, the deployment named by the body's `model`. */
  async #v1(ex: Exchange, method: string, rest: string): Promise<void> {
    if (method === 'GET' && rest === '/models') {
      return this.json(ex, 200, { object: 'list', data: [...this.deployments.keys()].map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'system' })) });
    }
    const op = rest === '/chat/completions' ? 'chat/completions' : rest === '/embeddings' ? 'embeddings' : rest === '/responses' ? 'responses' : undefined;
    if (method !== 'POST' || op === undefined) return this.json(ex, 404, error('404', 'Resource not found'));
    const deployment = ex.json?.['model'];
    const model = typeof deployment === 'string' ? this.deployments.get(deployment) : undefined;
    if (model === undefined) {
      return this.json(ex, 404, error('DeploymentNotFound', 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.'));
    }
    return this.#operation(ex, op, model);
  }

  async #operation(ex: Exchange, op: string, model: string): Promise<void> {
    const body = ex.json;
    if (!body) return this.json(ex, 400, { error: { code: null, message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)", param: null, type: 'invalid_request_error' } });
    if (op === 'embeddings') {
      const inputs = Array.isArray(body['input']) ? (body['input'] as unknown[]) : [body['input']];
      return this.json(ex, 200, {
        object: 'list', model,
        data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.1, -0.2, 0.3] })),
        usage: { prompt_tokens: 5 * inputs.length, total_tokens: 5 * inputs.length },
      });
    }
    if (op === 'responses') {
      // https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses: the v1 route, the deployment in `model`.
      const invalid = responsesRequestError(body);
      if (invalid) return this.json(ex, 400, { error: { message: invalid.message, type: 'invalid_request_error', param: invalid.param, code: invalid.code } });
      const answer = responsesAnswer(body, model, AzureOpenAIEmulator.REPLY, { input: 11, cached: 0, reasoning: 0 });
      return body['stream'] === true ? this.sse(ex, answer.frames) : this.json(ex, 200, answer.json);
    }
    if (op === 'completions') {
      return this.json(ex, 200, {
        id: requestId('cmpl-'), object: 'text_completion', created: now(), model,
        choices: [{ text: AzureOpenAIEmulator.REPLY.join(''), index: 0, logprobs: null, finish_reason: 'stop', content_filter_results: SAFE }],
        usage: { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 },
      });
    }
    return this.#chat(ex, body, model);
  }

  async #chat(ex: Exchange, body: Record<string, unknown>, model: string): Promise<void> {
    if (!Array.isArray(body['messages'])) {
      return this.json(ex, 400, { error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' } });
    }
    const id = requestId('chatcmpl-');
    const created = now();
    const reply = AzureOpenAIEmulator.REPLY;
    const usage = { prompt_tokens: 11, completion_tokens: reply.length, total_tokens: 11 + reply.length };
    const promptFilter = [{ prompt_index: 0, content_filter_results: SAFE }];
    const tool = toolToCall(body);
    if (tool) {
      const answer = toolCallReply(model, id, created, tool);
      return body['stream'] === true ? this.sse(ex, answer.frames) : this.json(ex, 200, answer.json);
    }
    if (body['stream'] !== true) {
      return this.json(ex, 200, {
        choices: [{ content_filter_results: SAFE, finish_reason: 'stop', index: 0, logprobs: null, message: { content: reply.join(''), refusal: null, role: 'assistant' } }],
        created, id, model, object: 'chat.completion', prompt_filter_results: promptFilter, system_fingerprint: 'fp_emulator', usage,
      });
    }
    const includeUsage = (body['stream_options'] as { include_usage?: boolean } | undefined)?.include_usage === true;
    const chunk = (choice: object) => frame({ choices: [choice], created, id, model, object: 'chat.completion.chunk', system_fingerprint: 'fp_emulator', ...(includeUsage ? { usage: null } : {}) });
    const frames = [
      // Azure's first event: the prompt's filter results, with nothing else filled in.
      frame({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: promptFilter }),
      chunk({ content_filter_results: {}, delta: { content: '', refusal: null, role: 'assistant' }, finish_reason: null, index: 0, logprobs: null }),
      ...reply.map((t) => chunk({ content_filter_results: SAFE, delta: { content: t }, finish_reason: null, index: 0, logprobs: null })),
      chunk({ content_filter_results: {}, delta: {}, finish_reason: 'stop', index: 0, logprobs: null }),
    ];
    if (includeUsage) frames.push(frame({ choices: [], created, id, model, object: 'chat.completion.chunk', system_fingerprint: 'fp_emulator', usage }));
    frames.push('data: [DONE]\n\n');
    return this.sse(ex, frames);
  }
}

const SAFE = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};

function frame(obj: object): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

/** Azure's error body: `code` is a string (`"401"`, `"DeploymentNotFound"`, `"BadRequest"`). */
function error(code: string, message: string) {
  return { error: { code, message } };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}
