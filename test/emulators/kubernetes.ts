import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, createLocalJWKSet, type CryptoKey, type JWK } from 'jose';

/**
 * A Kubernetes API server's service-account token side, on 127.0.0.1: the issuer's OIDC
 * discovery and JWKS (`/.well-known/openid-configuration`, `/openid/v1/jwks`, as kube-apiserver
 * serves them) and `POST /apis/authentication.k8s.io/v1/tokenreviews`, which, like the real one,
 * needs a bearer token of a caller allowed to create TokenReviews (401 without, 403 for others)
 * and answers `status.authenticated` for the reviewed token against the requested audiences.
 * `mint()` issues tokens with the claim shape of projected service-account tokens.
 */
export interface MintOptions {
  namespace: string;
  serviceAccount: string;
  audience?: string | string[];
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  /** Sign with another key (not in the JWKS). */
  foreignKey?: boolean;
}

export class KubernetesEmulator {
  issuer = '';
  url = '';
  /** Bearer tokens allowed to create TokenReviews (the gateway's own SA token). */
  readonly reviewers = new Set<string>();
  /** Service accounts deleted since their tokens were issued: TokenReview refuses them, JWKS cannot know. */
  readonly deleted = new Set<string>();
  tokenReviews = 0;
  readonly reviewBodies: unknown[] = [];
  #server: Server | undefined;
  #key: CryptoKey | undefined;
  #foreign: CryptoKey | undefined;
  #jwk: JWK | undefined;

  async start(): Promise<this> {
    const pair = await generateKeyPair('RS256', { extractable: true });
    this.#key = pair.privateKey;
    this.#jwk = { ...(await exportJWK(pair.publicKey)), kid: 'sa-key-1', alg: 'RS256', use: 'sig' };
    this.#foreign = (await generateKeyPair('RS256')).privateKey;
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const send = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
          return send(200, {
            issuer: this.issuer,
            jwks_uri: `${this.url}/openid/v1/jwks`,
            response_types_supported: ['id_token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
          });
        }
        if (req.method === 'GET' && req.url === '/openid/v1/jwks') return send(200, { keys: [this.#jwk] });
        if (req.method === 'POST' && req.url === '/apis/authentication.k8s.io/v1/tokenreviews') {
          this.tokenReviews++;
          void this.#review(req.headers.authorization, Buffer.concat(chunks)).then(([status, body]) => send(status, body));
          return;
        }
        send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    this.issuer = this.url;
    return this;
  }

  async mint(o: MintOptions): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      'kubernetes.io': {
        namespace: o.namespace,
        pod: { name: `${o.serviceAccount}-pod`, uid: '0c1e5b3a-0000-4000-8000-000000000001' },
        serviceaccount: { name: o.serviceAccount, uid: '5a7c3c1e-0000-4000-8000-000000000002' },
      },
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'sa-key-1' })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${o.namespace}:${o.serviceAccount}`)
      .setAudience(o.audience ?? 'llmproxy')
      .setIssuedAt(now - 10)
      .setNotBefore(now - 10)
      .setExpirationTime(now + (o.expiresIn ?? 3600))
      .sign(o.foreignKey ? this.#foreign! : this.#key!);
  }

  async #review(authorization: string | undefined, raw: Buffer): Promise<[number, unknown]> {
    const caller = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    if (caller === undefined) return [401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }];
    if (!this.reviewers.has(caller)) {
      return [403, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'tokenreviews.authentication.k8s.io is forbidden' }];
    }
    let review: { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
    try {
      review = JSON.parse(raw.toString('utf8')) as typeof review;
    } catch {
      return [400, { kind: 'Status', code: 400, message: 'invalid JSON' }];
    }
    this.reviewBodies.push({ ...review, spec: { ...review.spec, token: '[token]' } });
    if (review.apiVersion !== 'authentication.k8s.io/v1' || review.kind !== 'TokenReview' || typeof review.spec?.token !== 'string') {
      return [400, { kind: 'Status', code: 400, message: 'not a TokenReview' }];
    }
    const audiences = review.spec.audiences ?? [this.issuer];
    const base = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: { audiences } };
    try {
      const { payload } = await jwtVerify(review.spec.token, createLocalJWKSet({ keys: [this.#jwk!] }), { issuer: this.issuer, audience: audiences });
      const sub = String(payload.sub);
      if (this.deleted.has(sub)) throw new Error('service account deleted');
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      const ns = (payload['kubernetes.io'] as { namespace: string }).namespace;
      return [201, {
        ...base,
        status: {
          authenticated: true,
          user: { username: sub, uid: 'uid', groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] },
          audiences: aud.filter((a) => audiences.includes(a as string)),
        },
      }];
    } catch {
      return [201, { ...base, status: { user: {}, error: '[invalid bearer token, token lookup failed]' } }];
    }
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
