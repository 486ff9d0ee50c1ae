import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { Endpoint } from '../config-fields/fields.js';
import { credentialUnavailable } from '../credentials/cache.js';
import type { CachedCredential } from '../credentials/types.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ChatTranslatorFactory, EmbeddingsTranslatorFactory } from '../protocol/translator.js';
import { upstreamFailure } from '../upstream/errors.js';
import type { UpstreamSignal } from '../upstream/abort.js';
import { createUpstreamPool, requestUpstream } from '../upstream/pool.js';
import type { Timeouts, UpstreamRequest } from '../upstream/types.js';
import type { InstanceLimits } from './instance-schema.js';
import type { PathRule } from './transparent-path.js';
import type { DirectApis, ProbeRequest, ProviderDefinition, ProviderParts } from './types.js';
import { UsageObserver } from './usage.js';

export interface InstanceSettings {
  name: string;
  provider: ProviderDefinition;
  endpoint: Endpoint;
  isDefault: boolean;
  extraRules: readonly PathRule[];
  timeouts: Timeouts;
  bodyLimit: number;
  /** `instances.X.limits`: what every caller of the instance shares (governance enforces them). */
  limits?: InstanceLimits | undefined;
  /** `server.stream_line_limit`: every stream decoder made for this instance gets it (default DEFAULT_STREAM_LINE_LIMIT). */
  streamLineLimit?: number | undefined;
  /** The instance's `headers`, sent on every upstream request (see ConfiguredHeader). */
  headers?: readonly ConfiguredHeader[];
}

/**
 * One of an instance's `headers`: a lower-case name and its value now (a literal, or a secret
 * reference's current value, re-read by the SecretResolver).
 */
export interface ConfiguredHeader {
  readonly name: string;
  value(): string;
}

/** One origin of an instance: where its requests go and the pool they go on. */
interface Upstream {
  endpoint: Endpoint;
  pool: Dispatcher;
}

/** How {@link Instance.send} is told about one exchange besides its answer. */
export interface SendOptions {
  /** Aborts the exchange (the client left): `send` then resolves to undefined. */
  signal: UpstreamSignal;
  /**
   * Called once the provider answered for good (the retry included), with the milliseconds
   * since sending and the answer's status; also when that answer is a 401 that `send` then
   * turns into an error.
   */
  onAnswer?(upstreamMs: number, status: number): void;
}

/**
 * A configured instance at run time: its upstream pool, credential and rules, and `send`, the
 * one way a request reaches its provider. Built once at startup; read-only on the request path.
 */
export class Instance {
  readonly name: string;
  readonly type: string;
  readonly provider: ProviderDefinition;
  readonly endpoint: Endpoint;
  readonly region: string;
  readonly isDefault: boolean;
  readonly rules: readonly PathRule[];
  readonly timeouts: Timeouts;
  readonly bodyLimit: number;
  /** `instances.X.limits`; undefined when the instance sets none. */
  readonly limits: InstanceLimits | undefined;
  readonly streamLineLimit: number | undefined;
  readonly credential: CachedCredential;
  /** Protocol mode's chat translator factory; undefined when the provider has none yet. */
  readonly chat: ChatTranslatorFactory | undefined;
  /** Protocol mode's embeddings translator factory; undefined when the provider has none. */
  readonly embeddings: EmbeddingsTranslatorFactory | undefined;
  /** Protocol mode's direct paths (client protocols the provider speaks itself); empty when none. */
  readonly direct: DirectApis;
  readonly pool: Dispatcher;
  /** The credential probe (ProviderParts.probe, else the provider's); undefined when the provider has none. */
  readonly probe: ProbeRequest | undefined;
  readonly #parts: ProviderParts;
  readonly #headers: readonly ConfiguredHeader[];
  /** The main upstream, where a request without a `target` goes. */
  readonly #main: Upstream;
  /** Further upstreams by name (Bedrock's control plane), each with its own pool. */
  readonly #upstreams: ReadonlyMap<string, Upstream>;

  constructor(settings: InstanceSettings, parts: ProviderParts) {
    this.name = settings.name;
    this.provider = settings.provider;
    this.type = settings.provider.type;
    this.endpoint = settings.endpoint;
    this.region = parts.region ?? '';
    this.isDefault = settings.isDefault;
    this.rules = [...(parts.transparentRules ?? settings.provider.transparentRules), ...settings.extraRules];
    this.timeouts = settings.timeouts;
    this.bodyLimit = settings.bodyLimit;
    this.limits = settings.limits;
    this.streamLineLimit = settings.streamLineLimit;
    this.credential = parts.credential;
    this.chat = withStreamLineLimit(parts.chat ?? settings.provider.chat, settings.streamLineLimit);
    this.embeddings = parts.embeddings ?? settings.provider.embeddings;
    this.direct = parts.direct ?? settings.provider.direct ?? {};
    const declared = settings.provider.probe;
    this.probe = parts.probe ?? (declared === undefined || 'none' in declared ? undefined : declared);
    this.#parts = parts;
    this.#headers = settings.headers ?? [];
    this.pool = createUpstreamPool(this.endpoint.origin, settings.timeouts);
    this.#main = { endpoint: this.endpoint, pool: this.pool };
    this.#upstreams = new Map(
      Object.entries(parts.upstreams ?? {}).map(([target, endpoint]) => [target, { endpoint, pool: createUpstreamPool(endpoint.origin, settings.timeouts) }]),
    );
  }

  #upstream(target: string): Upstream {
    const upstream = this.#upstreams.get(target);
    if (!upstream) throw new Error(`instance ${this.name} has no upstream "${target}"`);
    return upstream;
  }

  /**
   * The upstream request for a call in any mode: base path + native path, the provider's headers
   * and the instance's configured `headers` added (over the client's own of the same name), sent
   * to the upstream the provider picks for `segments` (the checked native path). Unsigned:
   * `send` signs it, so a signature (SigV4, OCI) covers the configured headers too.
   */
  transparent(method: string, nativePathAndQuery: string, segments: readonly string[], headers: Record<string, string>, body: Buffer | null): UpstreamRequest {
    const extra = this.#parts.headers;
    if (extra) for (const name in extra) headers[name] = extra[name]!;
    for (const h of this.#headers) headers[h.name] = h.value();
    const target = this.provider.upstreamFor?.(segments);
    const basePath = target === undefined ? this.endpoint.basePath : this.#upstream(target).endpoint.basePath;
    return { method, path: basePath + nativePathAndQuery, headers, body, target };
  }

  /** Transparent mode: the checked native path as the provider forwards it (ProviderParts.expandNativePath), else as sent. */
  nativeSegments(segments: readonly string[]): readonly string[] {
    return this.#parts.expandNativePath?.(segments) ?? segments;
  }

  /** Transparent mode: the client's body after the provider's check (ProviderParts.transparentBody). */
  transparentBody(method: string, segments: readonly string[], body: Buffer | null): Buffer | null {
    const check = this.#parts.transparentBody;
    return check === undefined ? body : check(method, segments, body);
  }

  /**
   * Sends `req` (unsigned) to its upstream with the instance's credential applied, credential
   * problems handled here, once for every route:
   * - a stale credential (the provider's `staleCredential` says so) is invalidated and the
   *   request signed afresh and sent once more; stale again is 503 `credential_unavailable`
   *   when the refresh itself failed, else 502 `upstream_credential_rejected`;
   * - a 401 means the provider refused the gateway's credential, not the client's: 502
   *   `upstream_credential_rejected`, the credential invalidated, the body not passed on
   *   (providers echo part of the rejected key).
   * Any other answer is returned as is, error statuses included. Undefined when `signal`
   * aborted (the client left); a failure to reach the upstream is `upstreamFailure`'s error.
   *
   * @example
   * const answer = await instance.send(request, { signal: abort.signal, onAnswer: (ms) => (upstreamMs = ms) });
   */
  async send(req: UpstreamRequest, options: SendOptions): Promise<Dispatcher.ResponseData | undefined> {
    const { signal } = options;
    const upstream = req.target === undefined ? this.#main : this.#upstream(req.target);
    const signed = await this.#signed(req, upstream.endpoint);
    // Measured from here: a credential fetch before the first attempt is not the provider's time.
    const sentAt = performance.now();
    let answer = await this.#exchange(upstream.pool, signed, signal);
    if (answer === undefined) return undefined;
    const stale = this.provider.staleCredential;
    if (stale?.(answer.statusCode, answer.headers)) {
      // Expired token or a signature the provider no longer accepts: once, with a fresh credential.
      answer.body.resume();
      this.credential.invalidate();
      answer = await this.#exchange(upstream.pool, await this.#signed(req, upstream.endpoint), signal);
      if (answer === undefined) return undefined;
      if (stale(answer.statusCode, answer.headers)) {
        answer.body.resume();
        // The refresh failed (its endpoint is down) and the cache retried with the credential the
        // provider had just refused: the gateway has no usable credential, which is a 503, not a
        // provider refusing a fresh one.
        if (this.credential.state.lastError !== undefined) throw credentialUnavailable(this.credential.state.method);
        throw new GatewayError('upstream_credential_rejected', `instance ${this.name}: the provider rejected the gateway's credential after a refresh; an operator must check it`);
      }
    }
    options.onAnswer?.(performance.now() - sentAt, answer.statusCode);
    if (answer.statusCode === 401) {
      // Its body is not passed on: providers echo part of the rejected key ("Incorrect API key provided: sk-...abcd").
      answer.body.resume();
      this.credential.invalidate();
      throw new GatewayError('upstream_credential_rejected', `instance ${this.name}: the provider rejected the gateway's credential; an operator must check it`);
    }
    return answer;
  }

  /** A signed copy of `req`, with the credential as it is now (from memory while fresh). */
  async #signed(req: UpstreamRequest, endpoint: Endpoint): Promise<UpstreamRequest> {
    return this.#parts.sign(req, await this.credential.get(), endpoint);
  }

  /** One exchange on `pool`; undefined when `signal` aborted (the client left). */
  async #exchange(pool: Dispatcher, signed: UpstreamRequest, signal: UpstreamSignal): Promise<Dispatcher.ResponseData | undefined> {
    try {
      return await requestUpstream(pool, {
        method: signed.method as Dispatcher.HttpMethod,
        path: signed.path,
        headers: signed.headers,
        body: signed.body,
        signal,
      });
    } catch (err) {
      if (signal.aborted) return undefined;
      throw upstreamFailure(this.name, err);
    }
  }

  usageObserver(contentType: string | undefined): UsageObserver | undefined {
    return UsageObserver.for(this.provider.usage, contentType, { lineLimit: this.streamLineLimit });
  }

  async close(): Promise<void> {
    await this.pool.close();
    await Promise.all([...this.#upstreams.values()].map((u) => u.pool.close()));
    await this.#parts.close?.();
  }
}

/**
 * The factory with `streamLineLimit` set in every translator's options, so each request's
 * translator builds its stream decoder with the configured limit without the routes knowing.
 */
function withStreamLineLimit(factory: ChatTranslatorFactory | undefined, limit: number | undefined): ChatTranslatorFactory | undefined {
  if (factory === undefined || limit === undefined) return factory;
  return (options) => factory({ ...options, streamLineLimit: limit });
}
