import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Emulator, type Exchange } from './base.js';
import { ociError, verifyOciRequest } from './oci.js';

/**
 * OCI identity emulators for instance and resource principals:
 * - {@link InstanceMetadataEmulator}: the instance metadata service (`/opc/v2/...`), which
 *   answers only with `Authorization: Bearer Oracle`, serving the instance's identity
 *   certificate, key and intermediate certificate and its region;
 * - {@link OciAuthEmulator}: the auth service's X.509 federation endpoint (`POST /v1/x509`),
 *   checking what the real one checks and minting security tokens (JWTs whose `jwk` claim is
 *   the session public key) that {@link OciEmulator.trustSessionTokens} then accepts;
 * - {@link createInstancePki}: a test CA, an intermediate and an instance certificate (subject
 *   `OU=opc-instance:…`, `OU=opc-tenant:…`), made with the `openssl` CLI at test time since
 *   node:crypto cannot issue certificates.
 */

/** The PEMs an instance's metadata service hands out, plus the root they chain to. */
export interface InstanceIdentity {
  rootPem: string;
  intermediatePem: string;
  certPem: string;
  /** The instance key, PKCS#1 as the metadata service serves it. */
  keyPem: string;
  tenancy: string;
  instance: string;
}

/** Issues a root CA, an intermediate and an instance certificate with `openssl` (run in a temp folder). */
export function createInstancePki(tenancy: string, instance: string, compartment: string, options: { rootPem?: string; rootKeyPem?: string; validDays?: number } = {}): InstanceIdentity & { rootKeyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-oci-pki-'));
  try {
    const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const days = String(options.validDays ?? 2);
    let rootKeyPem = options.rootKeyPem;
    if (options.rootPem === undefined || rootKeyPem === undefined) {
      rootKeyPem = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
      writeFileSync(join(dir, 'root.key'), rootKeyPem);
      openssl('req', '-x509', '-new', '-key', 'root.key', '-subj', '/CN=Test OCI Identity Root', '-days', days, '-out', 'root.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    } else {
      writeFileSync(join(dir, 'root.key'), rootKeyPem);
      writeFileSync(join(dir, 'root.pem'), options.rootPem);
    }
    writeFileSync(join(dir, 'inter.key'), pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
    writeFileSync(join(dir, 'inter.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    openssl('req', '-new', '-key', 'inter.key', '-subj', '/CN=PKISVC Identity Intermediate test', '-out', 'inter.csr');
    openssl('x509', '-req', '-in', 'inter.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', days, '-extfile', 'inter.ext', '-out', 'inter.pem');
    const leaf = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    writeFileSync(join(dir, 'leaf.key'), pem(leaf));
    writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    const subject = `/CN=${instance}/OU=opc-certtype:instance/OU=opc-compartment:${compartment}/OU=opc-instance:${instance}/OU=opc-tenant:${tenancy}`;
    openssl('req', '-new', '-key', 'leaf.key', '-subj', subject, '-out', 'leaf.csr');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', days, '-extfile', 'leaf.ext', '-out', 'leaf.pem');
    return {
      rootPem: readFileSync(join(dir, 'root.pem'), 'utf8'),
      rootKeyPem,
      intermediatePem: readFileSync(join(dir, 'inter.pem'), 'utf8'),
      certPem: readFileSync(join(dir, 'leaf.pem'), 'utf8'),
      keyPem: leaf.export({ type: 'pkcs1', format: 'pem' }).toString(),
      tenancy,
      instance,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How an emulated endpoint is down: answering 503, or resetting every connection. */
export type DownMode = false | 'unavailable' | 'reset';

/**
 * The instance metadata service v2 under `/opc/v2`: `identity/cert.pem`, `identity/key.pem`,
 * `identity/intermediate.pem`, `instance/region`. Every call needs `Authorization: Bearer
 * Oracle` (401 otherwise), as IMDS v2 does; `identity` can be replaced to rotate certificates.
 */
export class InstanceMetadataEmulator extends Emulator {
  identity: InstanceIdentity;
  region: string;
  #down: DownMode = false;

  constructor(identity: InstanceIdentity, region = 'us-chicago-1') {
    super([]);
    this.identity = identity;
    this.region = region;
  }

  /** The base URL a gateway config names as `metadata_url`. */
  get metadataUrl(): string {
    return `${this.url}/opc/v2`;
  }

  setDown(mode: DownMode): void {
    this.#down = mode;
  }

  protected authenticate(ex: Exchange) {
    if (ex.req.headers.authorization !== 'Bearer Oracle') return { status: 401, body: { code: 'NotAuthenticated', message: 'Authorization header is missing or invalid.' } };
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    if (this.#down === 'reset') {
      ex.req.socket.destroy();
      return;
    }
    if (this.#down === 'unavailable') return this.json(ex, 503, ociError('ServiceUnavailable', 'The metadata service is unavailable.'));
    const texts: Record<string, string> = {
      '/opc/v2/identity/cert.pem': this.identity.certPem,
      '/opc/v2/identity/key.pem': this.identity.keyPem,
      '/opc/v2/identity/intermediate.pem': this.identity.intermediatePem,
      '/opc/v2/instance/region': this.region,
    };
    const text = ex.record.method === 'GET' ? texts[ex.record.path] : undefined;
    if (text === undefined) return this.json(ex, 404, ociError('NotFound', `${ex.record.method} ${ex.record.path} not found`));
    ex.res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    ex.res.end(text);
  }
}

/** Signs a JWT with RS256 (OCI's security tokens are such JWTs). */
export function signJwt(claims: Record<string, unknown>, key: KeyObject): string {
  const head = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'asw' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
}

/**
 * The auth service's X.509 federation endpoint, `POST /v1/x509`. Before minting a token it checks,
 * as the real service does, that:
 * - the request is OCI-signed (`verifyOciRequest`) with `keyId = {tenancy}/fed-x509/{fingerprint}`
 *   by the key of the certificate in the body, the fingerprint being the certificate's SHA-1
 *   (SHA-256 when the body says `fingerprintAlgorithm: "SHA256"`), hex with colons, any case,
 *   and the tenancy the one in the certificate subject (`OU=opc-tenant:`);
 * - the certificate is current and chains through `intermediateCertificates` to the trusted root;
 * - `purpose` is `DEFAULT` and `publicKey` an RSA SubjectPublicKeyInfo.
 * The token is a JWT signed by {@link issuerPublicKey}'s key, living `ttlSeconds`, whose `jwk`
 * claim is the session public key. Failures are 401 `NotAuthenticated` / 400 `InvalidParameter`.
 */
export class OciAuthEmulator extends Emulator {
  readonly #issuer = generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly #root: X509Certificate;
  ttlSeconds = 3600;
  /** Successful federations. */
  exchanges = 0;
  /** Every token minted, newest last. */
  readonly minted: string[] = [];
  /** Allowed clock skew, ms. */
  skewMs = 5 * 60_000;
  #down: DownMode = false;

  constructor(rootPem: string) {
    super([]);
    this.#root = new X509Certificate(rootPem);
  }

  /** What {@link OciEmulator.trustSessionTokens} needs to accept this service's tokens. */
  get issuerPublicKey(): KeyObject {
    return this.#issuer.publicKey;
  }

  /** Mints a token as this service would (tests use it for resource principal RPSTs). */
  mint(claims: Record<string, unknown>, sessionPublicKey: KeyObject, ttlSeconds = this.ttlSeconds): string {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({ iss: 'authService.oracle.com', aud: 'oci', iat: now, exp: now + ttlSeconds, jti: randomBytes(8).toString('hex'), ...claims, jwk: { ...sessionPublicKey.export({ format: 'jwk' }), kid: 'sessionKey', use: 'sig', alg: 'RS256' } }, this.#issuer.privateKey);
    this.minted.push(token);
    return token;
  }

  setDown(mode: DownMode): void {
    this.#down = mode;
  }

  override reset(): void {
    super.reset();
    this.exchanges = 0;
    this.#down = false;
  }

  protected authenticate(): undefined {
    return undefined; // the signing key comes with the body: checked in route
  }

  protected async route(ex: Exchange): Promise<void> {
    if (this.#down === 'reset') {
      ex.req.socket.destroy();
      return;
    }
    if (this.#down === 'unavailable') return this.json(ex, 503, ociError('ServiceUnavailable', 'The auth service is unavailable.'));
    if (ex.record.method !== 'POST' || ex.record.path !== '/v1/x509') return this.json(ex, 404, ociError('NotAuthorizedOrNotFound', `${ex.record.method} ${ex.record.path} not found`));
    const body = ex.json;
    const invalid = (message: string) => this.json(ex, 400, ociError('InvalidParameter', message));
    if (!body || typeof body['certificate'] !== 'string' || typeof body['publicKey'] !== 'string') return invalid('certificate and publicKey are required.');
    if (body['purpose'] !== 'DEFAULT') return invalid('purpose must be DEFAULT.');
    const intermediates = body['intermediateCertificates'];
    if (!Array.isArray(intermediates) || intermediates.some((c) => typeof c !== 'string')) return invalid('intermediateCertificates must be an array of certificates.');
    let leaf: X509Certificate;
    let chain: X509Certificate[];
    let sessionPublicKey: KeyObject;
    try {
      leaf = new X509Certificate(Buffer.from(body['certificate'], 'base64'));
      chain = (intermediates as string[]).map((c) => new X509Certificate(Buffer.from(c, 'base64')));
      sessionPublicKey = createPublicKey({ key: Buffer.from(body['publicKey'], 'base64'), format: 'der', type: 'spki' });
    } catch {
      return invalid('A certificate or the public key cannot be decoded.');
    }
    if (sessionPublicKey.asymmetricKeyType !== 'rsa') return invalid('publicKey must be an RSA key.');
    const subject = subjectValues(leaf);
    const sha256 = body['fingerprintAlgorithm'] === 'SHA256';
    const refused = verifyOciRequest(ex, (keyId) => {
      const [tenancy, kind, fingerprint, ...rest] = keyId.split('/');
      if (kind !== 'fed-x509' || rest.length > 0 || tenancy !== subject.tenancy) return undefined;
      const expected = sha256 ? leaf.fingerprint256 : leaf.fingerprint;
      return fingerprint?.toUpperCase() === expected ? leaf.publicKey : undefined;
    }, this.skewMs);
    if (refused) return this.json(ex, refused.status, refused.body);
    const now = Date.now();
    const current = (c: X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
    const path = [leaf, ...chain, this.#root];
    for (let i = 0; i + 1 < path.length; i++) {
      const [cert, issuer] = [path[i]!, path[i + 1]!];
      if (!current(cert) || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return this.json(ex, 401, ociError('NotAuthenticated', 'The certificate is not trusted.'));
    }
    this.exchanges++;
    const token = this.mint({ sub: subject.instance, tenant: subject.tenancy, ptype: 'instance', opc_instance: subject.instance }, sessionPublicKey);
    return this.json(ex, 200, { token });
  }
}

/** `opc-tenant:` and `opc-instance:` from a certificate subject's OUs. */
function subjectValues(cert: X509Certificate): { tenancy: string | undefined; instance: string | undefined } {
  const ous = cert.subject.split('\n').filter((l) => l.startsWith('OU=')).map((l) => l.slice(3));
  const value = (prefix: string) => ous.find((o) => o.startsWith(prefix))?.slice(prefix.length);
  return { tenancy: value('opc-tenant:'), instance: value('opc-instance:') };
}
