import type { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { SecretResolver } from '../secrets/resolver.js';
import type { FetchListener, RefreshPolicy } from './cache.js';
import type { CachedCredential, Credential } from './types.js';

/**
 * What every credential kind is given to build one instance's credential (a provider's
 * `ProviderContext` plus the instance it builds for). A kind that needs more (AWS's region)
 * declares it as its `Extra` context.
 */
export interface CredentialKindContext {
  /** The instance, named in the log line of a failed fetch. */
  instance: string;
  /** The provider type: the `provider` label of `llmproxy_credential_refresh_total`. */
  provider: string;
  secrets: SecretResolver;
  /** Values a kind fetches itself (tokens, temporary keys) are registered here, so logs mask them. */
  scrubber: SecretScrubber;
  logger: Logger;
  metrics: Metrics;
  /** The config file's folder: relative token and key files resolve against it. */
  baseDir: string;
  /** Overrides of the refresh policy of fetched credentials (the instance's `credential_refresh_window`; tests). */
  policy?: Partial<RefreshPolicy>;
  /** Told when a fetched credential starts failing or recovers (the audit trail). */
  onHealth?: CredentialHealthListener;
}

/**
 * A fetched credential's health changed: `ok: false` when a fetch failed after the last one
 * succeeded (later failing retries are not reported again), `ok: true` when one succeeds again.
 * `error` names no secret (sources keep values out of their messages).
 */
export type CredentialHealthListener = (change: { instance: string; provider: string; method: string; ok: boolean; error?: string }) => void;

/** One `authentication.type` value a kind handles. */
export interface CredentialType {
  /** The block's schema (a strict object discriminated by `type`); providers put it in their union. */
  readonly schema: z.ZodType;
  /**
   * True when the credential is fetched from an endpoint (STS, IMDS, a token endpoint): it has
   * `prime()`, counts its fetches in `llmproxy_credential_refresh_total` and is refreshed before
   * expiry. False when it is made from secret values, which the secret layer refreshes.
   */
  readonly fetches: boolean;
}

/** A built credential, with what must be released at shutdown (refresh timers, fetches in flight). */
export interface BuiltCredential<C extends Credential = Credential> {
  credential: CachedCredential<C>;
  close?(): void;
}

/**
 * A credential kind: one folder under `credentials/`, one line in `registry.ts`. It owns the
 * `authentication` blocks it handles and how a block becomes a `CachedCredential`. The method
 * reported in `CredentialState.method` (metrics, `config check`) is the block's `type`.
 * Providers choose which kinds they accept by naming the kind's `types` in their schema and
 * calling its `build`.
 *
 * A kind's module declares it with `satisfies`, so providers calling its `build` keep the
 * precise credential type it returns.
 *
 * @example
 * export const ibmKind = {
 *   name: 'ibm',
 *   types: { api_key: { schema: ibmApiKeyAuth, fetches: true }, trusted_profile: { schema: ibmTrustedProfileAuth, fetches: true } },
 *   build(auth: IbmIamAuth, ctx: CredentialKindContext) { ... },
 * } satisfies CredentialKind<IbmIamAuth, unknown, BearerCredential>;
 */
export interface CredentialKind<Auth extends { type: string } = never, Extra = unknown, C extends Credential = Credential> {
  /** The kind's folder name, e.g. `aws`. */
  readonly name: string;
  /** The `authentication.type` values the kind handles. */
  readonly types: Readonly<Record<Auth['type'], CredentialType>>;
  build(auth: Auth, ctx: CredentialKindContext & Extra): BuiltCredential<C>;
}

/** What the registry holds of a kind: everything but the types of its `build`. */
export interface RegisteredCredentialKind {
  readonly name: string;
  readonly types: Readonly<Record<string, CredentialType>>;
}

/**
 * The context a provider gives a kind for one instance: its own context, the instance's name,
 * and its `credential_refresh_window` when set.
 */
export function kindContext(
  base: Omit<CredentialKindContext, 'instance' | 'provider' | 'policy' | 'onHealth'> & { onCredentialHealth?: CredentialHealthListener | undefined },
  instance: string,
  provider: string,
  refreshWindowMs: number | undefined,
): CredentialKindContext {
  const { secrets, scrubber, logger, metrics, baseDir, onCredentialHealth } = base;
  return {
    instance,
    provider,
    secrets,
    scrubber,
    logger,
    metrics,
    baseDir,
    ...(refreshWindowMs !== undefined ? { policy: { refreshWindowMs } } : {}),
    ...(onCredentialHealth !== undefined ? { onHealth: onCredentialHealth } : {}),
  };
}

/**
 * The listener every fetching kind gives its `RefreshingCredential`: each fetch counted in
 * `llmproxy_credential_refresh_total{provider,method,status}`, and a failed one logged with the
 * instance (the error names no secret: sources keep values out of their messages). A change of
 * health (failing after a success, succeeding after a failure) goes to `ctx.onHealth`; a first
 * fetch that fails is not a change (startup and reloads refuse such an instance themselves).
 */
export function fetchListener(ctx: Pick<CredentialKindContext, 'instance' | 'provider' | 'metrics' | 'logger' | 'onHealth'>): FetchListener {
  let health: 'unknown' | 'ok' | 'failing' = 'unknown';
  return ({ method, ok, error }) => {
    ctx.metrics.credentialRefresh.inc({ provider: ctx.provider, method, status: ok ? 'success' : 'failure' });
    if (!ok) ctx.logger.warn({ instance: ctx.instance, method, error }, 'provider credential fetch failed');
    const was = health;
    health = ok ? 'ok' : was === 'unknown' ? 'unknown' : 'failing';
    if ((was === 'ok' && !ok) || (was === 'failing' && ok)) {
      ctx.onHealth?.({ instance: ctx.instance, provider: ctx.provider, method, ok, ...(error !== undefined ? { error } : {}) });
    }
  };
}
