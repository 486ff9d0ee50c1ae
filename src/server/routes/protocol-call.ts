import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError, UNKNOWN_INSTANCE_MESSAGE } from '../../errors/gateway-error.js';
import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { Middleware } from '../../request/types.js';
import type { RoleTable } from '../../clientauth/rbac.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { Logger } from '../../observability/logger.js';
import type { StoredResponses } from '../../store/stored-responses.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import type { InstanceDirectory } from '../../providers/directory.js';
import type { EndpointName } from '../../providers/endpoint-names.js';
import type { Instance } from '../../providers/instance.js';
import { DEFAULT_JSON_DEPTH_LIMIT, parseClientJson } from '../../protocol/json.js';
import { StreamIncomplete, type NativeRequest } from '../../protocol/translator.js';
import { errorCode, upstreamFailure } from '../../upstream/errors.js';
import { openaiErrorMessage } from '../../providers/openai-compatible/chat.js';
import { exchange } from '../forward.js';

/**
 * What every protocol-mode operation (chat completions, embeddings) shares: the JSON body and
 * its target (instance and provider model), the provider error as an OpenAI error, reading a
 * whole answer.
 */

/** Names the request parameters the provider has no equivalent for and the gateway left out. */
export const DROPPED_HEADER = 'x-llmproxy-dropped-params';

/** Largest provider answer read whole (non-streaming answers and error bodies). */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** A parsed protocol request: its body and the provider model it resolves to. */
export interface ProtocolCall<B extends { model: string } = { model: string }> {
  body: B;
  /** The provider's model id: the body's `model` until resolveTarget resolves an alias. */
  model: string;
}

/** One protocol operation: how its body is checked, and which instances offer it. */
export interface ProtocolOperation<B extends { model: string }> {
  /** The endpoint scope the operation is (key and user `--endpoints`). */
  readonly endpoint: EndpointName;
  /**
   * Checks a JSON object body against the operation's schema (its `model` is already checked);
   * throws GatewayError('invalid_request') naming the field in `param`.
   */
  check(body: Record<string, unknown> & { model: string }): B;
  /** Why `instance` cannot serve this operation, or undefined when it can. */
  unsupported(instance: Instance): string | undefined;
}

/**
 * Parses the body as a JSON object with a `model`, checks it as `op` says, and keeps it for the
 * chain. A body nested deeper than `jsonDepthLimit` (`server.json_depth_limit`) is refused
 * before it is parsed: what follows parsing (serialising, walking it) would not survive it.
 */
export function parseCall<B extends { model: string }>(op: ProtocolOperation<B>, jsonDepthLimit: number = DEFAULT_JSON_DEPTH_LIMIT): Middleware {
  return async function parseProtocolBody(ctx, next) {
    ctx.endpoint = op.endpoint;
    const body = parseClientJson(ctx.body, jsonDepthLimit);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
    const b = body as Record<string, unknown>;
    if (typeof b['model'] !== 'string' || b['model'] === '') throw new GatewayError('invalid_request', '"model" is required', { param: 'model' });
    const checked = op.check(b as Record<string, unknown> & { model: string });
    ctx.call = { body: checked, model: checked.model } satisfies ProtocolCall;
    return next();
  };
}

/** The call parseCall kept; `B` is the body type of the operation whose chain this is. */
export function callOf<B extends { model: string }>(ctx: RequestContext): ProtocolCall<B> {
  return ctx.call as ProtocolCall<B>;
}

/**
 * alias → `instance/model` (config `model_aliases`), read per request: a config reload assigns
 * `current` and new requests see the new table.
 */
export interface AliasTable {
  current: Readonly<Record<string, string>>;
}

export interface TargetDeps {
  /** `server.json_depth_limit`, for parseCall; DEFAULT_JSON_DEPTH_LIMIT when absent. */
  jsonDepthLimit?: number;
  instances: InstanceDirectory;
  audit: AuditTrail;
  aliases: AliasTable;
  /**
   * LLM_DEFAULT_PROVIDER: the instance (name or provider type) a `/v1` model that is neither an
   * alias nor `instance/model` goes to, taken whole as the provider's model id.
   */
  defaultInstance?: string | undefined;
}

/** What the protocol-mode routes are built from. */
export interface ProtocolRouteDeps extends TargetDeps {
  scrubber: SecretScrubber;
  roles: RoleTable;
  authenticate: Middleware;
  readBody: Middleware;
  authorize: Middleware;
  /** Where a failed provider model-list fetch is reported. */
  logger: Logger;
  /** The gateway's stored Responses API responses. */
  responses: StoredResponses;
}

/**
 * The instance and the provider model: from the path, or for /v1 from the alias, else
 * `instance/model`, else (with LLM_DEFAULT_PROVIDER) the default instance and the name as sent.
 */
export function resolveTarget(deps: TargetDeps, op: ProtocolOperation<{ model: string }>): Middleware {
  return async function resolveProtocolTarget(ctx, next) {
    const call = ctx.call as ProtocolCall;
    const denied = (err: GatewayError) => {
      deps.audit.record(auditEvent(ctx, 'denied', err.code));
      return err;
    };
    if (ctx.instanceName === '') {
      const aliases = deps.aliases.current;
      const aliased = Object.hasOwn(aliases, call.body.model);
      const target = aliased ? aliases[call.body.model]! : call.body.model;
      const slash = target.indexOf('/');
      if (slash > 0 && deps.instances.resolve(target.slice(0, slash)) !== undefined) {
        ctx.instanceName = target.slice(0, slash);
        call.model = target.slice(slash + 1);
      } else if (!aliased && deps.defaultInstance !== undefined) {
        // A bare name (or one whose prefix is no instance, such as `meta-llama/...`), as the provider names it.
        ctx.instanceName = deps.defaultInstance;
        call.model = target;
      } else {
        throw denied(new GatewayError('unknown_model', `model "${call.body.model.slice(0, 100)}" is neither an alias nor "instance/model"`));
      }
    }
    const instance = deps.instances.resolve(ctx.instanceName);
    if (!instance) throw denied(new GatewayError('unknown_instance', UNKNOWN_INSTANCE_MESSAGE));
    const unsupported = op.unsupported(instance);
    if (unsupported !== undefined) throw denied(new GatewayError('invalid_request', unsupported));
    ctx.instance = instance;
    // Key scopes apply to the provider's model id (what runs), whatever alias named it.
    ctx.model = call.model;
    return next();
  };
}

/** A provider error as an OpenAI error object; its own body cannot be passed on in another API. */
export function providerError(instance: Instance, answer: Dispatcher.ResponseData, translator: { errorMessage(body: Buffer): string | undefined }, body: Buffer): GatewayError {
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

/**
 * The reader of `instance`'s error bodies for `model`, for a direct path that has no translator
 * of its own: the provider's chat translator knows its error shape; OpenAI's is the fallback.
 */
export function errorReader(instance: Instance, model: string): { errorMessage(body: Buffer): string | undefined } {
  const translator = instance.chat?.({ model, id: 'error', created: 0, stream: false, includeUsage: false });
  return { errorMessage: (body) => translator?.errorMessage(body) ?? openaiErrorMessage(body) };
}

/**
 * A whole provider answer (non-streaming answers and error bodies). An answer cut off mid-body
 * (reset, closed early) is the upstream's failure, 502 `upstream_error` (504 when it stalled),
 * never an internal error; `instance` names it in the message.
 */
export async function readAll(body: Readable, instance = 'the provider'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) {
        body.destroy();
        throw new GatewayError('upstream_error', 'the provider answer is too large to translate');
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const failure = upstreamFailure(instance, err);
    if (failure.code === 'upstream_timeout') throw failure;
    throw new GatewayError('upstream_error', `instance ${instance}: the provider's answer was cut off (${errorCode(err)})`, { cause: err });
  }
  return Buffer.concat(chunks, size);
}

/**
 * Reads a successful answer whole and translates it with `translate` (a translator's
 * `response`). Translators read answers defensively and throw GatewayErrors; should one still
 * throw anything else on an answer nobody foresaw, that is the provider's odd answer, a 502,
 * not a 500 (the cause is kept for the log).
 *
 * @example
 * const completion = await translateAnswer(instance, answer.body, (bytes) => translator.response(bytes));
 */
export async function translateAnswer<T>(instance: Instance, body: Readable, translate: (answer: Buffer) => T): Promise<T> {
  const bytes = await readAll(body, instance.name);
  try {
    return translate(bytes);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('upstream_error', `instance ${instance.name}: the provider's answer could not be translated`, { cause: err });
  }
}

/** A JSON answer to the client. */
export function sendJson(ctx: RequestContext, value: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': ctx.id, ...extra });
  ctx.res.end(text);
}

/**
 * Sends a translator's native request to the instance, which signs it (see `exchange`). The
 * path's segments pick the provider's upstream, as in transparent mode (Bedrock's Responses API is
 * on another host than its runtime).
 */
export function sendNative(ctx: RequestContext, instance: Instance, native: NativeRequest): Promise<Dispatcher.ResponseData | undefined> {
  const headers: Record<string, string> = { ...native.headers, 'content-length': String(native.body.length) };
  const query = native.path.indexOf('?');
  const segments = instance.provider.upstreamFor === undefined ? [] : (query < 0 ? native.path : native.path.slice(0, query)).split('/').filter((s) => s !== '');
  const request = instance.transparent('POST', native.path, segments, headers, native.body);
  return exchange(ctx, instance, request);
}

/** One streaming translation: upstream bytes in, the client's frames out (text or the bytes themselves; possibly empty). */
export interface FrameRelay {
  push(chunk: Buffer): string | Uint8Array;
  /** The upstream ended: the last frames; throws (StreamIncomplete) when it ended early. */
  end(): string;
}

/**
 * Relays a provider stream to the client through `frames` as the bytes arrive, pausing the
 * upstream while the client is not reading. `beforeEnd` runs (and is awaited) before the
 * response ends: the response's 'close' (which does the accounting) may fire before this promise
 * settles, and a stored response must be findable once the client has the last event.
 */
export function relayStream(body: Readable, ctx: RequestContext, frames: FrameRelay, beforeEnd?: () => void | Promise<void>): Promise<void> {
  const { res } = ctx;
  return new Promise<void>((resolve, reject) => {
    const resume = () => body.resume();
    body.on('data', (chunk: Buffer) => {
      let text: string | Uint8Array;
      try {
        text = frames.push(chunk);
      } catch (err) {
        body.destroy();
        reject(err);
        return;
      }
      if (text.length !== 0 && !res.write(text)) {
        body.pause();
        res.once('drain', resume);
      }
    });
    body.once('end', () => {
      let text: string;
      try {
        text = frames.end();
      } catch (err) {
        reject(err);
        return;
      }
      const finish = () => {
        res.end(text);
        resolve();
      };
      let pending: void | Promise<void>;
      try {
        pending = beforeEnd?.();
      } catch (err) {
        reject(err);
        return;
      }
      if (pending instanceof Promise) pending.then(finish, reject);
      else finish();
    });
    body.once('error', reject);
  });
}

/**
 * What a stream that failed after its headers were sent tells the client, as a GatewayError
 * (recorded as the request's error code); undefined when the client left, as nobody is listening.
 */
export function streamFailure(ctx: RequestContext, instance: Instance, err: unknown): GatewayError | undefined {
  if (ctx.abort!.signal.aborted) return undefined;
  const failure =
    err instanceof GatewayError ? err : err instanceof StreamIncomplete ? new GatewayError('upstream_stream_incomplete', `the provider stream failed: ${err.message}`) : upstreamFailure(instance.name, err);
  ctx.errorCode = failure.code;
  return failure;
}
