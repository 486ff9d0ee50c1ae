import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../../errors/gateway-error.js';
import { auditEvent } from '../../middleware/audit.js';
import type { RequestContext } from '../../middleware/context.js';
import type { Chain, Middleware } from '../../middleware/types.js';
import { hasPermission } from '../../clientauth/rbac.js';
import { instanceAllowed, modelAllowed } from '../../clientauth/scopes.js';
import { compose } from '../compose.js';
import type { AuditTrail } from '../../observability/audit-trail.js';
import type { InstanceDirectory } from '../../providers/directory.js';
import type { Instance } from '../../providers/instance.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type ChatTranslator } from '../../protocol/translator.js';
import { upstreamFailure } from '../../upstream/errors.js';
import { exchange } from '../forward.js';
import type { RouteSpec } from '../router.js';

/** Largest provider answer read whole (non-streaming answers and error bodies). */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface ProtocolRouteDeps {
  instances: InstanceDirectory;
  audit: AuditTrail;
  /** alias → `instance/model` (config `model_aliases`). */
  aliases: Readonly<Record<string, string>>;
  authenticate: Middleware;
  readBody: Middleware;
  authorize: Middleware;
}

/** Per-request protocol state, kept beside the context. */
interface Call {
  body: ChatRequest;
  model: string;
}
const calls = new WeakMap<RequestContext, Call>();

/**
 * Protocol mode, chat: `POST /openai/{instance}/chat/completions` (the body's `model` is the
 * provider's model id) and `POST /v1/chat/completions` (the model is an alias from
 * `model_aliases`, or `instance/model`). The request is translated to the provider's API and the
 * answer (streams included) back to OpenAI's.
 */
export function protocolChatRoutes(deps: ProtocolRouteDeps): RouteSpec[] {
  const chat = [deps.authenticate, deps.readBody, parseChat, resolveTarget(deps), deps.authorize, translateChat];
  const models = [deps.authenticate, listModels(deps)];
  const perInstance = { chat: compose(chat), models: compose(models) };
  return [
    { name: 'openai', path: '/openai/', prefix: true, methods: ['GET', 'POST'], mode: 'protocol', middleware: [namedInstance(perInstance)] },
    { name: 'v1-chat', path: '/v1/chat/completions', methods: ['POST'], mode: 'protocol', middleware: chat },
    { name: 'v1-models', path: '/v1/models', methods: ['GET'], mode: 'protocol', middleware: models },
  ];
}

/** `/openai/{instance}/chat/completions` and `/openai/{instance}/models`: the instance from the path. */
function namedInstance(chains: { chat: Chain; models: Chain }): Middleware {
  return async function openaiInstanceRoute(ctx) {
    const m = /^\/openai\/([^/]+)\/(chat\/completions|models)$/.exec(ctx.path);
    const op = m?.[2] === 'models' ? (ctx.method === 'GET' ? chains.models : undefined) : m && ctx.method === 'POST' ? chains.chat : undefined;
    if (!m || !op) throw new GatewayError('not_found', `no route for ${ctx.method} ${ctx.path.slice(0, 200)}`);
    ctx.instanceName = m[1]!;
    await op(ctx);
  };
}

/**
 * `GET /v1/models` and `/openai/{instance}/models`: the model aliases of the configuration (for
 * one instance, those that point at it), as OpenAI's model list, limited to what the caller's
 * key may use.
 */
function listModels(deps: ProtocolRouteDeps): Middleware {
  return async function listAliasModels(ctx) {
    const scopes = ctx.principal!.scopes;
    if (!hasPermission(ctx.principal!.roles, 'llm:read')) throw new GatewayError('permission_denied', 'your role does not grant llm:read');
    const only = ctx.instanceName === '' ? undefined : deps.instances.resolve(ctx.instanceName);
    if (ctx.instanceName !== '' && !only) throw new GatewayError('unknown_instance', `no instance or provider type named "${ctx.instanceName.slice(0, 64)}"`);
    const data = Object.entries(deps.aliases)
      .map(([alias, target]) => ({ alias, instance: target.slice(0, target.indexOf('/')), model: target.slice(target.indexOf('/') + 1) }))
      .filter((a) => (only === undefined || a.instance === only.name) && instanceAllowed(scopes, a.instance) && modelAllowed(scopes, a.model))
      .map((a) => ({ id: a.alias, object: 'model', created: 0, owned_by: a.instance }));
    const text = JSON.stringify({ object: 'list', data });
    ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': ctx.id });
    ctx.res.end(text);
  };
}

async function parseChat(ctx: RequestContext, next: () => Promise<void>): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(ctx.body?.toString('utf8') ?? '');
  } catch {
    throw new GatewayError('invalid_request', 'the request body is not valid JSON');
  }
  const b = body as ChatRequest;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  if (typeof b.model !== 'string' || b.model === '') throw new GatewayError('invalid_request', '"model" is required');
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw new GatewayError('invalid_request', '"messages" must be a non-empty array');
  calls.set(ctx, { body: b, model: b.model });
  await next();
}

/** The instance and the provider model: from the path, or for /v1 from the alias or `instance/model`. */
function resolveTarget(deps: ProtocolRouteDeps): Middleware {
  return async function resolveProtocolTarget(ctx, next) {
    const call = calls.get(ctx)!;
    const denied = (err: GatewayError) => {
      deps.audit.record(auditEvent(ctx, 'denied', err.code));
      return err;
    };
    if (ctx.instanceName === '') {
      const target = Object.hasOwn(deps.aliases, call.body.model) ? deps.aliases[call.body.model]! : call.body.model;
      const slash = target.indexOf('/');
      if (slash <= 0 || deps.instances.resolve(target.slice(0, slash)) === undefined) {
        throw denied(new GatewayError('unknown_model', `model "${call.body.model.slice(0, 100)}" is neither an alias nor "instance/model"`));
      }
      ctx.instanceName = target.slice(0, slash);
      call.model = target.slice(slash + 1);
    }
    const instance = deps.instances.resolve(ctx.instanceName);
    if (!instance) throw denied(new GatewayError('unknown_instance', `no instance or provider type named "${ctx.instanceName.slice(0, 64)}"`));
    if (!instance.chat) {
      throw denied(new GatewayError('invalid_request', `instance "${instance.name}" (${instance.type}) does not offer the OpenAI protocol yet; use /transparent/${instance.name}/...`));
    }
    ctx.instance = instance;
    // Key scopes apply to the provider's model id (what runs), whatever alias named it.
    ctx.model = call.model;
    await next();
  };
}

async function translateChat(ctx: RequestContext): Promise<void> {
  const instance = ctx.instance!;
  const { body, model } = calls.get(ctx)!;
  const stream = body.stream === true;
  const id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
  const translator = instance.chat!({ model, id, created: Math.floor(Date.now() / 1000), stream, includeUsage: body.stream_options?.include_usage === true });
  const native = translator.request(body);
  const headers: Record<string, string> = { ...native.headers, 'content-length': String(native.body.length) };
  const request = instance.transparent('POST', native.path, [], headers, native.body);
  const answer = await exchange(ctx, instance, await instance.authorize(request));
  if (answer === undefined) return;
  if (answer.statusCode >= 300) throw providerError(instance, answer, translator, await readAll(answer.body));

  const extra: Record<string, string> = { 'x-request-id': ctx.id };
  if (native.dropped.length > 0) extra['x-llmproxy-dropped-params'] = native.dropped.join(', ');
  if (!stream) {
    const completion = translator.response(await readAll(answer.body));
    noteUsage(ctx, translator, model);
    const text = JSON.stringify(completion);
    ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
    ctx.res.end(text);
    return;
  }
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
  try {
    await relay(answer.body, ctx, translator);
  } catch (err) {
    if (ctx.abort!.signal.aborted) return;
    // Headers are sent: the failure travels as an SSE error object, then the stream ends.
    const failure = err instanceof GatewayError ? err : err instanceof StreamIncomplete ? new GatewayError('upstream_stream_incomplete', `the provider stream failed: ${err.message}`) : upstreamFailure(instance.name, err);
    ctx.errorCode = failure.code;
    ctx.res.end(`data: ${JSON.stringify({ error: { message: failure.message, type: 'api_error', code: failure.code, param: null } })}\n\n`);
    return;
  } finally {
    noteUsage(ctx, translator, model);
  }
}

/** Translates upstream bytes to OpenAI chunks as they arrive, pausing the upstream while the client is not reading. */
function relay(body: Readable, ctx: RequestContext, translator: ChatTranslator): Promise<void> {
  const { res } = ctx;
  const write = (chunks: ChatCompletionChunk[]): boolean => {
    let ok = true;
    for (const c of chunks) ok = res.write(`data: ${JSON.stringify(c)}\n\n`);
    return ok;
  };
  return new Promise<void>((resolve, reject) => {
    const resume = () => body.resume();
    body.on('data', (chunk: Buffer) => {
      let ok: boolean;
      try {
        ok = write(translator.push(chunk));
      } catch (err) {
        body.destroy();
        reject(err);
        return;
      }
      if (!ok) {
        body.pause();
        res.once('drain', resume);
      }
    });
    body.once('end', () => {
      try {
        write(translator.end());
      } catch (err) {
        reject(err);
        return;
      }
      res.end('data: [DONE]\n\n');
      resolve();
    });
    body.once('error', reject);
  });
}

/** A provider error as an OpenAI error object; its own body cannot be passed on in another API. */
function providerError(instance: Instance, answer: Dispatcher.ResponseData, translator: ChatTranslator, body: Buffer): GatewayError {
  const message = `${instance.name}: ${translator.errorMessage(body) ?? `the provider answered ${answer.statusCode}`}`.slice(0, 2000);
  const status = answer.statusCode;
  if (status === 429) {
    const retryAfter = Number(answer.headers['retry-after']);
    return new GatewayError('upstream_rate_limited', message, Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter } : {});
  }
  if (status === 403) {
    return new GatewayError('upstream_credential_rejected', `instance ${instance.name}: the provider refused the gateway's credential (403); an operator must check it`);
  }
  if (status === 404) return new GatewayError('upstream_not_found', message);
  if (status >= 400 && status < 500) return new GatewayError('upstream_bad_request', message);
  return new GatewayError('upstream_error', message);
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      throw new GatewayError('upstream_error', 'the provider answer is too large to translate');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function noteUsage(ctx: RequestContext, translator: ChatTranslator, model: string): void {
  const usage = translator.usage();
  if (usage) ctx.usage = { model, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
}
