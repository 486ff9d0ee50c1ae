import { randomBytes, randomUUID } from 'node:crypto';
import { Emulator, type Exchange } from './base.js';

/** How IAM is down: answering 503, or resetting every connection. */
export type IamDownMode = false | 'unavailable' | 'reset';

export interface IamOptions {
  /** API keys IAM knows. */
  apiKeys?: string[];
  /** Trusted profiles: profile id → the compute-resource tokens allowed to assume it. */
  profiles?: Record<string, string[]>;
  /**
   * Where minted access tokens are registered while they live (and removed when they expire):
   * pass a provider emulator's `acceptedKeys` (e.g. {@link WatsonxEmulator}) so it accepts them.
   */
  validTokens?: Set<string>;
}

/**
 * IBM Cloud IAM emulator: `POST /identity/token` (form-encoded) with the API-key grant
 * (`urn:ibm:params:oauth:grant-type:apikey`, `apikey`) and the compute-resource grant
 * (`urn:ibm:params:oauth:grant-type:cr-token`, `cr_token` plus `profile_id`). Answers IAM's JSON
 * `{access_token, refresh_token, token_type: "Bearer", expires_in, expiration, scope}` with
 * tokens living `ttlSeconds`; failures are IAM's `{errorCode, errorMessage, context}` with its
 * codes (BXNIM0415E unknown API key, BXNIM0109E unknown grant type...). Minted tokens are put in
 * `validTokens` until they expire. `setDown()` takes it down; `exchanges` counts good answers.
 */
export class IbmIamEmulator extends Emulator {
  readonly apiKeys: Set<string>;
  readonly profiles: Map<string, Set<string>>;
  readonly validTokens: Set<string>;
  ttlSeconds = 3600;
  /** Successful exchanges by grant. */
  exchanges = { api_key: 0, cr_token: 0 };
  /** Every token minted, newest last. */
  readonly minted: string[] = [];
  #down: IamDownMode = false;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: IamOptions = {}) {
    super([]);
    this.apiKeys = new Set(options.apiKeys ?? []);
    this.profiles = new Map(Object.entries(options.profiles ?? {}).map(([id, tokens]) => [id, new Set(tokens)]));
    this.validTokens = options.validTokens ?? new Set();
  }

  setDown(mode: IamDownMode): void {
    this.#down = mode;
  }

  /** Failed and successful requests to `/identity/token`. */
  get calls(): number {
    return this.requests.filter((r) => r.path === '/identity/token').length;
  }

  override reset(): void {
    super.reset();
    this.exchanges = { api_key: 0, cr_token: 0 };
    this.#down = false;
  }

  override async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    await super.close();
  }

  protected authenticate(): undefined {
    return undefined; // the grant itself is the credential
  }

  protected async route(ex: Exchange): Promise<void> {
    if (this.#down === 'reset') {
      ex.req.socket.destroy();
      return;
    }
    if (this.#down === 'unavailable') return this.json(ex, 503, iamError('BXNIM0001E', 'The service is temporarily unavailable.'));
    const { method, path } = ex.record;
    if (method !== 'POST' || path !== '/identity/token') return this.json(ex, 404, iamError('BXNIM0404E', 'Not found.'));
    if (!String(ex.req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return this.json(ex, 400, iamError('BXNIM0107E', 'Unsupported content type. Expected application/x-www-form-urlencoded.'));
    }
    const form = new URLSearchParams(ex.record.body.toString('utf8'));
    const grant = form.get('grant_type');
    switch (grant) {
      case 'urn:ibm:params:oauth:grant-type:apikey': {
        const key = form.get('apikey');
        if (!key) return this.json(ex, 400, iamError('BXNIM0109E', 'Property missing or empty. Property name(s): apikey'));
        if (!this.apiKeys.has(key)) return this.json(ex, 400, iamError('BXNIM0415E', 'Provided API key could not be found.'));
        this.exchanges.api_key++;
        return this.#token(ex);
      }
      case 'urn:ibm:params:oauth:grant-type:cr-token': {
        const cr = form.get('cr_token');
        const profile = form.get('profile_id');
        if (!cr || !profile) return this.json(ex, 400, iamError('BXNIM0109E', 'Property missing or empty. Property name(s): cr_token, profile_id'));
        const allowed = this.profiles.get(profile);
        if (!allowed) return this.json(ex, 400, iamError('BXNIM0111E', 'The profile could not be found.'));
        if (!allowed.has(cr)) return this.json(ex, 400, iamError('BXNIM0463E', 'The compute resource token does not match any trust relationship of the profile.'));
        this.exchanges.cr_token++;
        return this.#token(ex);
      }
      default:
        return this.json(ex, 400, iamError('BXNIM0109E', `Unsupported grant type: ${grant ?? '(none)'}`));
    }
  }

  #token(ex: Exchange): Promise<void> {
    const token = `eyJraWQiOiJpYW0tZW11bGF0b3IifQ.${randomBytes(24).toString('base64url')}`;
    const ttl = this.ttlSeconds;
    this.validTokens.add(token);
    this.minted.push(token);
    const timer = setTimeout(() => {
      this.validTokens.delete(token);
      this.#timers.delete(timer);
    }, ttl * 1000);
    timer.unref();
    this.#timers.add(timer);
    const now = Math.floor(Date.now() / 1000);
    return this.json(ex, 200, { access_token: token, refresh_token: 'not_supported', ims_user_id: 1234567, token_type: 'Bearer', expires_in: ttl, expiration: now + ttl, scope: 'ibm openid' });
  }
}

/** IAM's error body. */
export function iamError(errorCode: string, errorMessage: string) {
  return { errorCode, errorMessage, context: { requestId: randomUUID(), requestType: 'incoming.Identity_Token', userAgent: 'llmproxy', url: 'https://iam.cloud.ibm.com', instanceId: 'iamid-emulator', threadId: '1', host: 'iam-emulator', startTime: new Date().toUTCString(), endTime: new Date().toUTCString(), elapsedTime: '1', locale: 'en_US', clusterName: 'iam-emulator' } };
}
