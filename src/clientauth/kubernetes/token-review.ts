import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { identityProviderUnavailable, describe } from '../oidc/key-set.js';
import type { Logger } from '../../observability/logger.js';

export type ReviewResult = { authenticated: true; username: string } | { authenticated: false; reason: string };

export interface TokenReviewerOptions {
  apiServer: string;
  audiences: readonly string[];
  /** The gateway's own service-account token, re-read at most once a minute (kubelet rotates it). */
  tokenFile: string;
  caFile: string | undefined;
  cacheMs: number;
  timeoutMs: number;
  logger: Logger;
  now?: () => number;
}

const IN_CLUSTER_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
const TOKEN_FILE_TTL_MS = 60_000;
const MAX_CACHED_REVIEWS = 10_000;

/**
 * Asks the Kubernetes API server whether a token is valid (TokenReview,
 * https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-review-v1/).
 * Unlike local JWKS verification this also refuses tokens of deleted pods and service accounts.
 * Positive answers are reused for `cacheMs` (never past the token's `exp`), keyed by a SHA-256 of
 * the token so no token is kept in memory. Failures to reach the API server, or the API server
 * refusing the gateway's own token, are 503s, never 401s.
 */
export class TokenReviewer {
  readonly #o: TokenReviewerOptions;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #url: string;
  readonly #cache = new Map<string, { username: string; until: number }>();
  #ownToken: { value: string; readAt: number } | undefined;

  constructor(options: TokenReviewerOptions) {
    this.#o = options;
    this.#url = `${options.apiServer.replace(/\/+$/, '')}/apis/authentication.k8s.io/v1/tokenreviews`;
    const caFile = options.caFile ?? (options.apiServer.startsWith('https:') && existsSync(IN_CLUSTER_CA) ? IN_CLUSTER_CA : undefined);
    this.#dispatcher = caFile ? new Agent({ connect: { ca: readFileSync(caFile) } }) : undefined;
  }

  /** `expSeconds`: the token's (unverified) `exp`, bounding how long a positive answer is reused. */
  async review(token: string, expSeconds: number | undefined): Promise<ReviewResult> {
    const now = this.#o.now?.() ?? Date.now();
    const cacheKey = createHash('sha256').update(token).digest('base64url');
    const hit = this.#cache.get(cacheKey);
    if (hit && hit.until > now) return { authenticated: true, username: hit.username };
    if (hit) this.#cache.delete(cacheKey);

    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: this.#o.audiences } });
    let status: Record<string, unknown> | undefined;
    try {
      const res = await request(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#ownTokenValue(now)}`, 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
      if (res.statusCode !== 200 && res.statusCode !== 201) {
        await res.body.dump();
        // 401/403 here means the gateway's own token or RBAC (system:auth-delegator) is wrong.
        throw new Error(`TokenReview answered HTTP ${res.statusCode}`);
      }
      const doc = (await res.body.json()) as { status?: Record<string, unknown> };
      status = doc.status;
    } catch (err) {
      this.#o.logger.warn({ apiServer: this.#o.apiServer, err: describe(err) }, 'kubernetes TokenReview failed');
      throw identityProviderUnavailable(err);
    }
    if (status?.['authenticated'] !== true) return { authenticated: false, reason: 'token_review_refused' };
    const user = status['user'] as { username?: unknown } | undefined;
    if (typeof user?.username !== 'string') return { authenticated: false, reason: 'token_review_refused' };
    // The API server echoes the audiences the token was valid for; none of ours means not for us.
    const audiences = status['audiences'];
    if (Array.isArray(audiences) && !audiences.some((a) => this.#o.audiences.includes(a as string))) {
      return { authenticated: false, reason: 'wrong_audience' };
    }
    const until = Math.min(now + this.#o.cacheMs, expSeconds === undefined ? now : expSeconds * 1000);
    if (until > now) {
      if (this.#cache.size >= MAX_CACHED_REVIEWS) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(cacheKey, { username: user.username, until });
    }
    return { authenticated: true, username: user.username };
  }

  #ownTokenValue(now: number): string {
    if (this.#ownToken === undefined || now - this.#ownToken.readAt > TOKEN_FILE_TTL_MS) {
      this.#ownToken = { value: readFileSync(this.#o.tokenFile, 'utf8').trim(), readAt: now };
    }
    return this.#ownToken.value;
  }

  async close(): Promise<void> {
    await this.#dispatcher?.close();
  }
}
