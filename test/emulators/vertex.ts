import { betasOf, messagesShapeError, toolToCall as anthropicToolToCall } from './anthropic.js';
import { cacheControlError, claudeAnswer, PromptCache, thinkingEnabled, thinkingError } from './anthropic-features.js';
import { claudeCodeTurn } from './claude-script.js';
import { GOOGLE_TOKENS } from './google-oauth.js';
import { Emulator, type Exchange } from './base.js';

/**
 * Vertex AI (Gemini) emulator, one project and one location, as `{location}-aiplatform.googleapis.com`
 * behaves for them:
 * - `Authorization: Bearer <token>` must carry an accepted access token (401 UNAUTHENTICATED with
 *   Google's body otherwise);
 * - `POST /v1[beta1]/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}`
 *   — another project is 403 PERMISSION_DENIED (the token has no rights there), another location
 *   or an unknown route Google's HTML 404, a model not named `gemini-*` or another publisher a
 *   404 NOT_FOUND;
 * - the body is checked as Gemini checks it (known fields only, non-empty contents with roles
 *   user/model that alternate, one datum per part, function responses answering the previous
 *   turn's calls one for one, tool config and generation config values): 400 INVALID_ARGUMENT;
 * - `publishers/anthropic/models/claude-*:rawPredict` / `:streamRawPredict` answer Anthropic
 *   Messages JSON / SSE (see `#claude`), and `publishers/anthropic/models/count-tokens:rawPredict`
 *   Anthropic's token count for the body's model (see `#claudeCountTokens`);
 * - `publishers/google/models/*embedding*:predict` answers text embeddings (see `#embeddings`);
 * - `:generateContent` answers JSON, `:streamGenerateContent?alt=sse` SSE events (`data: …` CRLF
 *   CRLF; the last with finishReason and usageMetadata; without `alt=sse`, a JSON array),
 *   `:countTokens` a count. With `tools` and a prompt mentioning the weather (or mode ANY) the
 *   model calls the first allowed function; after a function response it says what the function
 *   returned. `candidateCount` candidates; `maxOutputTokens` below the reply length ends it with
 *   MAX_TOKENS.
 *
 * The base class's injections, first-byte delays, chunk delays and stalls apply; `failStreamAfter`
 * ends a stream the way Google reports a failure mid-stream: its error object as bare JSON after
 * the last event.
 */
export class VertexEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' Vertex', ' emulator', '.'];
  /** The size of the emulator's text embeddings (values 0.1, -0.2, 0.3, then zeros). */
  static readonly EMBEDDING_SIZE = 768;
  readonly project: string;
  readonly location: string;
  /** Send this many stream events, then Google's error object as bare text, then end. */
  failStreamAfter: number | undefined;
  /** Claude's prompt cache (anthropic-features.ts); cleared by reset(). */
  readonly promptCache = new PromptCache();

  constructor(tokens: string[], target: { project: string; location: string }) {
    super(tokens);
    this.project = target.project;
    this.location = target.location;
  }

  override reset(): void {
    super.reset();
    this.promptCache.clear();
    this.failStreamAfter = undefined;
  }

  protected authenticate(ex: Exchange) {
    const auth = ex.req.headers.authorization;
    if (!auth) {
      return {
        status: 401,
        body: googleError(401, 'UNAUTHENTICATED', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.', [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CREDENTIALS_MISSING', domain: 'googleapis.com', metadata: { service: 'aiplatform.googleapis.com' } },
        ]),
      };
    }
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const minted = GOOGLE_TOKENS.get(token);
    if (minted !== undefined && Date.now() < minted) return undefined;
    if (!this.acceptedKeys.has(token)) {
      // A token the Google OAuth emulator minted that has since expired or been revoked: Google's
      // challenge, which tells the gateway to fetch a new one.
      if (minted !== undefined || token.startsWith('ya29.emu-')) ex.res.setHeader('www-authenticate', 'Bearer realm="https://accounts.google.com/", error="invalid_token"');
      return {
        status: 401,
        body: googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.', [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED', domain: 'googleapis.com', metadata: { service: 'aiplatform.googleapis.com' } },
        ]),
      };
    }
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path, query } = ex.record;
    const list = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/models$/.exec(path);
    if (list && method === 'GET') return this.#listModels(ex, list[2]!, list[3]!);
    const m = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/([^/]+)\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
    if (!m || method !== 'POST') return this.#notFoundPage(ex, path);
    const [, , project, location, publisher, model, verb] = m as unknown as [string, string, string, string, string, string, string];
    const resource = `projects/${project}/locations/${location}/publishers/${publisher}/models/${model}`;
    if (project !== this.project) {
      return this.json(ex, 403, googleError(403, 'PERMISSION_DENIED', `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/${resource}' (or it may not exist).`, [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'aiplatform.googleapis.com', metadata: { permission: 'aiplatform.endpoints.predict', resource } },
      ]));
    }
    // The regional host serves its own location only.
    if (location !== this.location) return this.#notFoundPage(ex, path);
    if (publisher === 'anthropic' && model === 'count-tokens' && verb === 'rawPredict') return this.#claudeCountTokens(ex);
    if (publisher === 'anthropic' && model.startsWith('claude-') && (verb === 'rawPredict' || verb === 'streamRawPredict')) {
      return this.#claude(ex, model, verb === 'streamRawPredict');
    }
    if (publisher === 'google' && model.includes('embedding')) return this.#embeddings(ex, resource, verb);
    if (publisher !== 'google' || !model.startsWith('gemini-')) {
      return this.json(ex, 404, googleError(404, 'NOT_FOUND', `Publisher Model \`${resource}\` not found.`));
    }
    const body = ex.json;
    if (!body) return this.json(ex, 400, invalid('Invalid JSON payload received. Unexpected token.'));
    if (verb === 'countTokens') {
      const problem = contentsError(body['contents']);
      if (problem) return this.json(ex, 400, invalid(problem));
      return this.json(ex, 200, { totalTokens: promptTokens(body), totalBillableCharacters: promptTokens(body) * 4 });
    }
    if (verb !== 'generateContent' && verb !== 'streamGenerateContent') {
      return this.json(ex, 400, invalid(`Gemini models do not support ${verb}.`));
    }
    const problem = requestShapeError(body);
    if (problem) return this.json(ex, 400, invalid(problem));
    const answer = answerFor(body, model);
    if (verb === 'generateContent') return this.json(ex, 200, answer.whole);
    if (!new URLSearchParams(query).has('alt', 'sse')) return this.json(ex, 200, answer.events);
    const frames = answer.events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`);
    if (this.failStreamAfter !== undefined) {
      frames.length = Math.min(frames.length, this.failStreamAfter);
      frames.push(`${JSON.stringify(googleError(499, 'CANCELLED', 'The operation was cancelled.'), null, 2)}\n`);
    }
    return this.sse(ex, frames);
  }

  /**
   * Claude through the Anthropic publisher: the Messages body with `anthropic_version:
   * vertex-2023-10-16` and no `model` (Anthropic's 400 otherwise), its messages checked as the
   * Messages API checks them (mid-conversation `role: "system"` turns on models that take them);
   * the `anthropic-version` header the Anthropic SDKs also send is not read. `:rawPredict` answers
   * a message, `:streamRawPredict` (which needs `stream: true`) Anthropic's SSE events, with
   * extended thinking, prompt-caching usage and tool use as anthropic-features.ts describes.
   * https://docs.claude.com/en/api/claude-on-vertex-ai
   */
  async #claude(ex: Exchange, model: string, streaming: boolean): Promise<void> {
    const body = ex.json;
    const refuse = (message: string) => this.json(ex, 400, { type: 'error', error: { type: 'invalid_request_error', message } });
    if (!body) return refuse('Invalid JSON body.');
    if (body['anthropic_version'] !== 'vertex-2023-10-16') return refuse(`anthropic_version: ${String(body['anthropic_version'])} is not supported`);
    if ('model' in body) return refuse('model: Extra inputs are not permitted');
    if (typeof body['max_tokens'] !== 'number' || !Array.isArray(body['messages']) || body['messages'].length === 0) return refuse('max_tokens and messages are required');
    // Betas come as the `anthropic-beta` header (what the Anthropic Vertex SDK sends) or the body's `anthropic_beta`.
    const bodyBetas = Array.isArray(body['anthropic_beta']) ? (body['anthropic_beta'] as unknown[]).filter((b): b is string => typeof b === 'string') : [];
    const shape = messagesShapeError(body, model, new Set([...betasOf(ex.req.headers['anthropic-beta']), ...bodyBetas]));
    if (shape) return refuse(shape);
    if (streaming !== (body['stream'] === true)) return refuse(streaming ? 'streamRawPredict needs stream: true' : 'rawPredict cannot stream');
    const invalid = thinkingError(body) ?? cacheControlError(body);
    if (invalid) return refuse(invalid);
    const scripted = claudeCodeTurn(body, model);
    if (scripted) return streaming ? this.sse(ex, scripted.events.map((e) => `event: ${String(e['type'])}\ndata: ${JSON.stringify(e)}\n\n`)) : this.json(ex, 200, scripted.message);
    const { json, events } = claudeAnswer({
      id: `msg_vrtx_${Date.now().toString(36)}`,
      model,
      reply: VertexEmulator.REPLY,
      usage: this.promptCache.usage(body, wordCount(body['messages'])),
      thinking: thinkingEnabled(body),
      tool: anthropicToolToCall(body),
    });
    if (!streaming) return this.json(ex, 200, json);
    return this.sse(ex, events.map((e) => `event: ${String(e['type'])}\ndata: ${JSON.stringify(e)}\n\n`));
  }

  /**
   * Claude's token counter, `publishers/anthropic/models/count-tokens:rawPredict`: the Messages
   * body with the model in it (`claude-*`, else 400), answered as Anthropic's count_tokens is,
   * `{"input_tokens": n}` (one token per word of the messages).
   * https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/count-tokens
   */
  async #claudeCountTokens(ex: Exchange): Promise<void> {
    const body = ex.json;
    const refuse = (message: string) => this.json(ex, 400, { type: 'error', error: { type: 'invalid_request_error', message } });
    if (!body) return refuse('Invalid JSON body.');
    if (typeof body['model'] !== 'string' || !body['model'].startsWith('claude-')) return refuse(`model: ${String(body['model'])} does not support token counting`);
    if (!Array.isArray(body['messages']) || body['messages'].length === 0) return refuse('messages: Field required');
    return this.json(ex, 200, { input_tokens: wordCount(body['messages']) });
  }

  /**
   * Text embeddings (`text-embedding-*`, `gemini-embedding-*`): `:predict` with `instances:
   * [{content, task_type?, title?}]` and optional `parameters: {outputDimensionality?,
   * autoTruncate?}`; each prediction is `EMBEDDING_SIZE` (or outputDimensionality) values and its
   * statistics. Other verbs, unknown fields or an empty batch are 400 INVALID_ARGUMENT.
   */
  async #embeddings(ex: Exchange, resource: string, verb: string): Promise<void> {
    if (verb !== 'predict') return this.json(ex, 400, invalid(`${resource} does not support ${verb}.`));
    const body = ex.json;
    if (!body) return this.json(ex, 400, invalid('Invalid JSON payload received. Unexpected token.'));
    for (const key of Object.keys(body)) if (key !== 'instances' && key !== 'parameters') return this.json(ex, 400, invalid(`Invalid JSON payload received. Unknown name "${key}": Cannot find field.`));
    const instances = body['instances'];
    if (!Array.isArray(instances) || instances.length === 0) return this.json(ex, 400, invalid('instances must be a non-empty list.'));
    if (instances.length > 250) return this.json(ex, 400, invalid(`The batch size is ${instances.length}, which exceeds the limit of 250.`));
    for (const [i, inst] of instances.entries()) {
      if (!isObject(inst) || typeof inst['content'] !== 'string' || Object.keys(inst).some((k) => !['content', 'task_type', 'title'].includes(k))) {
        return this.json(ex, 400, invalid(`instances[${i}] must be {content, task_type?, title?}.`));
      }
    }
    const parameters = body['parameters'];
    let size = VertexEmulator.EMBEDDING_SIZE;
    if (parameters !== undefined) {
      if (!isObject(parameters) || Object.keys(parameters).some((k) => k !== 'outputDimensionality' && k !== 'autoTruncate')) return this.json(ex, 400, invalid('parameters: unknown field.'));
      const d = parameters['outputDimensionality'];
      if (d !== undefined) {
        if (!Number.isInteger(d) || (d as number) < 1 || (d as number) > VertexEmulator.EMBEDDING_SIZE) return this.json(ex, 400, invalid(`outputDimensionality ${String(d)} is not supported.`));
        size = d as number;
      }
    }
    const predictions = (instances as Json[]).map((inst) => {
      const text = inst['content'] as string;
      return {
        embeddings: {
          values: Array.from({ length: size }, (_, i) => (i === 0 ? 0.1 : i === 1 ? -0.2 : i === 2 ? 0.3 : 0)),
          statistics: { truncated: false, token_count: Math.max(1, text.split(/\s+/).filter(Boolean).length) },
        },
      };
    });
    return this.json(ex, 200, { predictions, metadata: { billableCharacterCount: (instances as Json[]).reduce((n, inst) => n + (inst['content'] as string).length, 0) } });
  }

  /** Google's front end's 404 page, for a path or method it has no route for. */
  /**
   * ListModels of the Model Registry (`GET .../locations/{location}/models`), as Vertex answers a
   * project without models (`{}`); another project is IAM's 403, another location the 404 page.
   * https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.models/list
   */
  async #listModels(ex: Exchange, project: string, location: string): Promise<void> {
    const parent = `projects/${project}/locations/${location}`;
    if (project !== this.project) {
      return this.json(ex, 403, googleError(403, 'PERMISSION_DENIED', `Permission 'aiplatform.models.list' denied on resource '//aiplatform.googleapis.com/${parent}' (or it may not exist).`, [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'aiplatform.googleapis.com', metadata: { permission: 'aiplatform.models.list', resource: parent } },
      ]));
    }
    if (location !== this.location) return this.#notFoundPage(ex, ex.record.path);
    return this.json(ex, 200, {});
  }

  async #notFoundPage(ex: Exchange, path: string): Promise<void> {
    await this.firstByte(ex);
    const html = `<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${path.replace(/[<>&]/g, '')}</code> was not found on this server.  <ins>That’s all we know.</ins>\n`;
    ex.res.writeHead(404, { 'content-type': 'text/html; charset=UTF-8', 'content-length': Buffer.byteLength(html) });
    ex.res.end(html);
  }
}

type Json = Record<string, unknown>;

function googleError(code: number, status: string, message: string, details?: unknown[]): Json {
  return { error: { code, message, status, ...(details ? { details } : {}) } };
}

/** The emulated Claude's token count of some JSON: one per whitespace-separated word of it (at least one). */
function wordCount(value: unknown): number {
  return Math.max(1, JSON.stringify(value).split(/\s+/).length);
}

function invalid(message: string): Json {
  return googleError(400, 'INVALID_ARGUMENT', message);
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const TOP_LEVEL = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'labels', 'cachedContent']);
const PART_FIELDS = new Set(['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'thought', 'thoughtSignature']);
const GENERATION_FIELDS = new Set([
  'temperature', 'topP', 'topK', 'candidateCount', 'maxOutputTokens', 'stopSequences', 'presencePenalty', 'frequencyPenalty',
  'seed', 'responseMimeType', 'responseSchema', 'responseLogprobs', 'logprobs', 'thinkingConfig',
]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

function unknownField(name: string, where: string): string {
  return `Invalid JSON payload received. Unknown name "${name}" at '${where}': Cannot find field.`;
}

/** What Gemini would say is wrong with a generateContent body, or undefined. */
function requestShapeError(body: Json): string | undefined {
  for (const key of Object.keys(body)) if (!TOP_LEVEL.has(key)) return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  const contents = contentsError(body['contents']);
  if (contents) return contents;
  const system = body['systemInstruction'];
  if (system !== undefined) {
    if (!isObject(system) || !Array.isArray(system['parts']) || !system['parts'].every((p) => isObject(p) && typeof p['text'] === 'string')) {
      return 'system_instruction: only text parts are supported.';
    }
  }
  const declared = new Set<string>();
  const tools = body['tools'];
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return 'Invalid value at \'tools\': expected a list.';
    for (const [i, tool] of tools.entries()) {
      if (!isObject(tool) || !Array.isArray(tool['functionDeclarations'])) return `tools[${i}]: functionDeclarations is required by this emulator.`;
      for (const [j, fn] of (tool['functionDeclarations'] as unknown[]).entries()) {
        if (!isObject(fn) || typeof fn['name'] !== 'string' || !FUNCTION_NAME.test(fn['name'])) return `* GenerateContentRequest.tools[${i}].function_declarations[${j}].name: Invalid function name.`;
        if (fn['parameters'] !== undefined && !isObject(fn['parameters'])) return `tools[${i}].function_declarations[${j}].parameters must be a schema object.`;
        declared.add(fn['name']);
      }
    }
  }
  const toolConfig = body['toolConfig'];
  if (toolConfig !== undefined) {
    const fcc = isObject(toolConfig) ? toolConfig['functionCallingConfig'] : undefined;
    if (!isObject(fcc) || !['AUTO', 'ANY', 'NONE', 'VALIDATED'].includes(String(fcc['mode']))) return `Invalid value at 'tool_config.function_calling_config.mode'.`;
    const allowed = fcc['allowedFunctionNames'];
    if (allowed !== undefined) {
      if (fcc['mode'] !== 'ANY' && fcc['mode'] !== 'VALIDATED') return 'allowed_function_names can only be set when mode is ANY or VALIDATED.';
      if (!Array.isArray(allowed) || !allowed.every((n) => declared.has(n as string))) return 'allowed_function_names must name declared functions.';
    }
    if (declared.size === 0) return 'tool_config is set but no function declarations are provided.';
  }
  const config = body['generationConfig'];
  if (config !== undefined) {
    if (!isObject(config)) return `Invalid value at 'generation_config'.`;
    for (const key of Object.keys(config)) if (!GENERATION_FIELDS.has(key)) return unknownField(key, 'generation_config');
    const t = config['temperature'];
    if (t !== undefined && (typeof t !== 'number' || t < 0 || t > 2)) return 'Unable to submit request because it has a temperature value outside the supported range (0, 2).';
    const n = config['candidateCount'];
    if (n !== undefined && (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 8)) return 'Unable to submit request because candidateCount must be between 1 and 8.';
    const max = config['maxOutputTokens'];
    if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1)) return 'Unable to submit request because maxOutputTokens must be positive.';
    const stop = config['stopSequences'];
    if (stop !== undefined && (!Array.isArray(stop) || stop.length > 5 || !stop.every((s) => typeof s === 'string'))) return 'stopSequences must be at most 5 strings.';
    const mime = config['responseMimeType'];
    if (mime !== undefined && !['text/plain', 'application/json', 'text/x.enum'].includes(mime as string)) return `Unsupported response mime type: ${String(mime)}.`;
    if (config['responseSchema'] !== undefined && mime !== 'application/json' && mime !== 'text/x.enum') return 'responseSchema requires responseMimeType application/json.';
  }
  return undefined;
}

function contentsError(contents: unknown): string | undefined {
  if (!Array.isArray(contents) || contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  let previous: Json | undefined;
  for (const [i, content] of contents.entries()) {
    if (!isObject(content)) return `contents[${i}] must be an object.`;
    const role = content['role'];
    if (role !== 'user' && role !== 'model') return 'Please use a valid role: user, model.';
    const parts = content['parts'];
    if (!Array.isArray(parts) || parts.length === 0) return 'Unable to submit request because it must include at least one parts field, which describes the prompt input.';
    if (previous && previous['role'] === role) return 'Please ensure that multiturn requests alternate between user and model.';
    for (const [j, part] of parts.entries()) {
      const where = `contents[${i}].parts[${j}]`;
      if (!isObject(part)) return `${where} must be an object.`;
      for (const key of Object.keys(part)) if (!PART_FIELDS.has(key)) return unknownField(key, where);
      const data = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse'].filter((k) => part[k] !== undefined);
      if (data.length !== 1) return `Invalid value at '${where}': a part must hold exactly one of text, inline_data, file_data, function_call, function_response.`;
      const problem = partError(part, data[0]!, role, where);
      if (problem) return problem;
    }
    const responses = parts.filter((p) => isObject(p) && p['functionResponse'] !== undefined).length;
    if (responses > 0) {
      const calls = previous && previous['role'] === 'model' ? (previous['parts'] as Json[]).filter((p) => p['functionCall'] !== undefined).length : 0;
      if (calls !== responses) return 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.';
    }
    previous = content;
  }
  return undefined;
}

function partError(part: Json, kind: string, role: string, where: string): string | undefined {
  const value = part[kind];
  switch (kind) {
    case 'text':
      return typeof value === 'string' ? undefined : `${where}.text must be a string.`;
    case 'inlineData':
      if (!isObject(value) || typeof value['mimeType'] !== 'string' || typeof value['data'] !== 'string') return `${where}.inline_data needs mime_type and data.`;
      return BASE64.test(value['data']) ? undefined : `Invalid value at '${where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed.`;
    case 'fileData':
      if (!isObject(value) || typeof value['mimeType'] !== 'string' || typeof value['fileUri'] !== 'string') return `${where}.file_data needs mime_type and file_uri.`;
      return /^(gs|https):\/\//.test(value['fileUri']) ? undefined : `${where}.file_data.file_uri: unsupported URI.`;
    case 'functionCall':
      if (role !== 'model') return `${where}: function calls belong to model turns.`;
      if (!isObject(value) || typeof value['name'] !== 'string' || (value['args'] !== undefined && !isObject(value['args']))) return `${where}.function_call needs a name and object args.`;
      return undefined;
    case 'functionResponse':
      if (role !== 'user') return `${where}: function responses belong to user turns.`;
      if (!isObject(value) || typeof value['name'] !== 'string' || !isObject(value['response'])) return `${where}.function_response needs a name and an object response.`;
      return undefined;
    default:
      return undefined;
  }
}

function textsOf(content: unknown): string[] {
  if (!isObject(content) || !Array.isArray(content['parts'])) return [];
  return (content['parts'] as unknown[]).flatMap((p) => (isObject(p) && typeof p['text'] === 'string' ? [p['text']] : []));
}

/** One token per word of every text part of the prompt (at least one). */
function promptTokens(body: Json): number {
  const texts = [...(body['contents'] as unknown[]).flatMap(textsOf), ...textsOf(body['systemInstruction'])];
  return Math.max(1, texts.join(' ').split(/\s+/).filter((w) => w !== '').length);
}

/** The function the model calls, if it calls one: with tools, unless mode NONE, when asked (or forced with ANY). */
function functionToCall(body: Json): { name: string; args: Json } | undefined {
  const declarations = ((body['tools'] as Json[] | undefined) ?? []).flatMap((t) => (t['functionDeclarations'] as Json[] | undefined) ?? []);
  if (declarations.length === 0) return undefined;
  const fcc = (body['toolConfig'] as Json | undefined)?.['functionCallingConfig'] as Json | undefined;
  const mode = fcc?.['mode'] ?? 'AUTO';
  if (mode === 'NONE') return undefined;
  const contents = body['contents'] as Json[];
  const last = contents[contents.length - 1]!;
  if ((last['parts'] as Json[]).some((p) => p['functionResponse'] !== undefined)) return undefined;
  if (mode !== 'ANY' && !/weather/i.test(textsOf(last).join(' '))) return undefined;
  const allowed = fcc?.['allowedFunctionNames'] as string[] | undefined;
  const declaration = declarations.find((d) => allowed === undefined || allowed.includes(d['name'] as string))!;
  const properties = (declaration['parameters'] as Json | undefined)?.['properties'];
  const first = isObject(properties) ? Object.keys(properties)[0] : undefined;
  return { name: declaration['name'] as string, args: first === undefined ? {} : { [first]: 'Paris' } };
}

/** The answer to a generateContent body: whole, and as the events of a stream. */
function answerFor(body: Json, model: string): { whole: Json; events: Json[] } {
  const config = (body['generationConfig'] as Json | undefined) ?? {};
  const n = (config['candidateCount'] as number | undefined) ?? 1;
  const prompt = promptTokens(body);
  const meta = { modelVersion: `${model}-001`, createTime: new Date().toISOString(), responseId: `emu${Date.now().toString(36)}` };
  const call = functionToCall(body);
  const candidates = (parts: Json[], finishReason?: string) =>
    Array.from({ length: n }, (_, index) => ({ content: { role: 'model', parts }, ...(finishReason ? { finishReason } : {}), index }));
  if (call) {
    const usageMetadata = { promptTokenCount: prompt, candidatesTokenCount: 5 * n, totalTokenCount: prompt + 5 * n };
    const answer = { candidates: candidates([{ functionCall: call }], 'STOP'), usageMetadata, ...meta };
    return { whole: answer, events: [answer] };
  }
  const contents = body['contents'] as Json[];
  const response = ((contents[contents.length - 1]!['parts'] as Json[]).find((p) => p['functionResponse'] !== undefined)?.['functionResponse'] as Json | undefined)?.['response'];
  let pieces = response !== undefined ? ['The', ' tool', ' said', `: ${JSON.stringify(response)}`] : [...VertexEmulator.REPLY];
  let finishReason = 'STOP';
  const max = config['maxOutputTokens'] as number | undefined;
  if (max !== undefined && max < pieces.length) {
    pieces = pieces.slice(0, max);
    finishReason = 'MAX_TOKENS';
  }
  const usageMetadata = { promptTokenCount: prompt, candidatesTokenCount: pieces.length * n, totalTokenCount: prompt + pieces.length * n };
  const whole = { candidates: candidates([{ text: pieces.join('') }], finishReason), usageMetadata, ...meta };
  const events = pieces.map((piece, i) => {
    const lastEvent = i === pieces.length - 1;
    return { candidates: candidates([{ text: piece }], lastEvent ? finishReason : undefined), ...(lastEvent ? { usageMetadata } : { usageMetadata: { trafficType: 'ON_DEMAND' } }), ...meta };
  });
  return { whole, events };
}
