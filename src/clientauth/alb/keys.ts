import { createPublicKey, type KeyObject } from 'node:crypto';
import { request } from 'undici';
import type { Logger } from '../../observability/logger.js';
import { describe, identityProviderUnavailable } from '../oidc/key-set.js';

const KID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_KEYS = 1_000;
/** An unknown kid is asked for again only after this long, so a flood of made-up kids is one fetch each. */
const MISS_TTL_MS = 60_000;

/**
 * ALB signing keys: `${endpoint}/${kid}` answers the PEM public key (ES256) of one key id
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#user-claims-encoding).
 * A key id never changes its key, so found keys are kept; single-flight per kid.
 */
export class AlbKeys {
  readonly #endpoint: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #found = new Map<string, KeyObject>();
  readonly #missing = new Map<string, number>();
  readonly #pending = new Map<string, Promise<KeyObject | undefined>>();

  constructor(endpoint: string, timeoutMs: number, logger: Logger, now: () => number = Date.now) {
    this.#endpoint = endpoint.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
    this.#now = now;
  }

  /** The key, undefined when the endpoint does not know `kid`; rejects (503) when it cannot be reached. */
  get(kid: string): Promise<KeyObject | undefined> {
    if (!KID.test(kid)) return Promise.resolve(undefined);
    const found = this.#found.get(kid);
    if (found) return Promise.resolve(found);
    const missUntil = this.#missing.get(kid);
    if (missUntil !== undefined && missUntil > this.#now()) return Promise.resolve(undefined);
    let p = this.#pending.get(kid);
    if (!p) {
      p = this.#fetch(kid).finally(() => this.#pending.delete(kid));
      this.#pending.set(kid, p);
    }
    return p;
  }

  async #fetch(kid: string): Promise<KeyObject | undefined> {
    let pem: string;
    try {
      const res = await request(`${this.#endpoint}/${kid}`, { method: 'GET', signal: AbortSignal.timeout(this.#timeoutMs) });
      if (res.statusCode === 404 || res.statusCode === 403) {
        // S3-backed: an unknown object answers 403 or 404.
        await res.body.dump();
        if (this.#missing.size >= MAX_KEYS) this.#missing.clear();
        this.#missing.set(kid, this.#now() + MISS_TTL_MS);
        return undefined;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`key endpoint answered HTTP ${res.statusCode}`);
      }
      pem = await res.body.text();
    } catch (err) {
      this.#logger.warn({ endpoint: this.#endpoint, err: describe(err) }, 'ALB public key endpoint unavailable');
      throw identityProviderUnavailable(err);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      this.#logger.warn({ endpoint: this.#endpoint, err: describe(err) }, 'ALB public key endpoint answered something that is not a public key');
      throw identityProviderUnavailable(err);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return undefined;
    if (this.#found.size >= MAX_KEYS) this.#found.clear();
    this.#found.set(kid, key);
    return key;
  }
}
