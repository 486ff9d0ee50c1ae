import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The ALB public key endpoint (`https://public-keys.auth.elb.{region}.amazonaws.com/{kid}`) on
 * 127.0.0.1: `GET /{kid}` answers the PEM public key, 403 for an unknown kid (S3 behaviour).
 * `sign()` makes an `x-amzn-oidc-data` value the way ALB does: ES256, `kid`, `signer`, `iss`,
 * `client` and `exp` in the header, and base64url segments *with* `=` padding.
 */
export class AlbKeyEmulator {
  url = '';
  requests = 0;
  readonly #keys = new Map<string, { privateKey: KeyObject; publicPem: string }>();
  #server: Server | undefined;

  addKey(kid: string): void {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.#keys.set(kid, { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      this.requests++;
      const key = this.#keys.get((req.url ?? '/').slice(1));
      if (req.method !== 'GET' || !key) {
        res.writeHead(403, { 'content-type': 'application/xml' });
        return res.end('<Error><Code>AccessDenied</Code></Error>');
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(key.publicPem);
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** `kid` must have been added, or `signWith` names the kid whose private key signs (forgery). */
  sign(o: { kid: string; signer: string; claims: Record<string, unknown>; expiresIn?: number; signWith?: string; alg?: string }): string {
    const exp = Math.floor(Date.now() / 1000) + (o.expiresIn ?? 120);
    const header = { typ: 'JWT', kid: o.kid, alg: o.alg ?? 'ES256', iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test', client: 'client-123', signer: o.signer, exp };
    const padded = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const h = padded(header);
    const p = padded({ ...o.claims, exp, iss: header.iss });
    const signer = createSign('sha256');
    signer.update(`${h}.${p}`);
    const sig = signer.sign({ key: this.#keys.get(o.signWith ?? o.kid)!.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    return `${h}.${p}.${sig}`;
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
