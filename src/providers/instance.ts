import type { Dispatcher } from 'undici';
import type { Endpoint } from '../config-fields/fields.js';
import type { CachedCredential, Credential } from '../credentials/types.js';
import type { ChatTranslatorFactory, EmbeddingsTranslatorFactory } from '../protocol/translator.js';
import { createUpstreamPool } from '../upstream/pool.js';
import type { Timeouts, UpstreamRequest } from '../upstream/types.js';
import type { PathRule } from './transparent-path.js';
import type { ProviderDefinition, ProviderParts } from './types.js';
import { UsageObserver } from './usage.js';

export interface InstanceSettings {
  name: string;
  provider: ProviderDefinition;
  endpoint: Endpoint;
  isDefault: boolean;
  extraRules: readonly PathRule[];
  timeouts: Timeouts;
  bodyLimit: number;
  /** `server.stream_line_limit`: every stream decoder made for this instance gets it (default DEFAULT_STREAM_LINE_LIMIT). */
  streamLineLimit?: number | undefined;
}

/**
 * A configured instance at run time: its upstream pool, credential and rules. Built once at
 * startup; read-only on the request path.
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
  readonly streamLineLimit: number | undefined;
  readonly credential: CachedCredential;
  /** Protocol mode's chat translator factory; undefined when the provider has none yet. */
  readonly chat: ChatTranslatorFactory | undefined;
  /** Protocol mode's embeddings translator factory; undefined when the provider has none. */
  readonly embeddings: EmbeddingsTranslatorFactory | undefined;
  readonly pool: Dispatcher;
  readonly #parts: ProviderParts;
  /** Further upstreams by name (Bedrock's control plane), each with its own pool. */
  readonly #upstreams: ReadonlyMap<string, { endpoint: Endpoint; pool: Dispatcher }>;

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
    this.streamLineLimit = settings.streamLineLimit;
    this.credential = parts.credential;
    this.chat = withStreamLineLimit(parts.chat ?? settings.provider.chat, settings.streamLineLimit);
    this.embeddings = parts.embeddings ?? settings.provider.embeddings;
    this.#parts = parts;
    this.pool = createUpstreamPool(this.endpoint.origin, settings.timeouts);
    this.#upstreams = new Map(
      Object.entries(parts.upstreams ?? {}).map(([target, endpoint]) => [target, { endpoint, pool: createUpstreamPool(endpoint.origin, settings.timeouts) }]),
    );
  }

  /** The pool a request goes to: the main one unless the request names another upstream. */
  poolFor(req: UpstreamRequest): Dispatcher {
    return req.target === undefined ? this.pool : this.#upstream(req.target).pool;
  }

  #upstream(target: string): { endpoint: Endpoint; pool: Dispatcher } {
    const upstream = this.#upstreams.get(target);
    if (!upstream) throw new Error(`instance ${this.name} has no upstream "${target}"`);
    return upstream;
  }

  /**
   * The upstream request for a transparent call: base path + native path, provider headers
   * added, sent to the upstream the provider picks for `segments` (the checked native path).
   */
  transparent(method: string, nativePathAndQuery: string, segments: readonly string[], headers: Record<string, string>, body: Buffer | null): UpstreamRequest {
    const extra = this.#parts.headers;
    if (extra) for (const name in extra) headers[name] = extra[name]!;
    const target = this.provider.upstreamFor?.(segments);
    const basePath = target === undefined ? this.endpoint.basePath : this.#upstream(target).endpoint.basePath;
    return { method, path: basePath + nativePathAndQuery, headers, body, target };
  }

  /** Transparent mode: the client's body after the provider's check (ProviderParts.transparentBody). */
  transparentBody(method: string, segments: readonly string[], body: Buffer | null): Buffer | null {
    const check = this.#parts.transparentBody;
    return check === undefined ? body : check(method, segments, body);
  }

  /** Applies the instance's credential; answers from memory while the credential is fresh. */
  async authorize(req: UpstreamRequest): Promise<UpstreamRequest> {
    const credential: Credential = await this.credential.get();
    return this.#parts.sign(req, credential, req.target === undefined ? this.endpoint : this.#upstream(req.target).endpoint);
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
