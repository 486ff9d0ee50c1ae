import { randomBytes } from 'node:crypto';
import { crc32c } from '../../src/secrets/gcp-sm.js';
import { Emulator, type Exchange } from './base.js';
import { GOOGLE_TOKENS } from './google-oauth.js';

/**
 * Google Secret Manager emulator: `GET /v1/projects/{p}[/locations/{l}]/secrets/{s}/versions/{v}:access`
 * (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access).
 * The caller must send `Authorization: Bearer <token>` with a live token of {@link GOOGLE_TOKENS},
 * which only the Google token emulators mint (`google-oauth.ts` for service account keys,
 * `gce-metadata.ts` for the metadata server): an unknown or expired token is 401
 * UNAUTHENTICATED, a token in `forbiddenTokens` (a principal without
 * roles/secretmanager.secretAccessor) 403 PERMISSION_DENIED, an unknown secret or version 404
 * NOT_FOUND, a disabled version 400 FAILED_PRECONDITION, all in Google's `{error: {code,
 * message, status}}` shape. `latest` is the newest enabled version. Payloads come back base64
 * with their `dataCrc32c`. `down` drops every connection.
 */
export class GcpSecretManagerEmulator extends Emulator {
  /** Tokens refused with 403 (their principal lacks secretAccessor). */
  readonly forbiddenTokens = new Set<string>();
  /** While true, every connection is dropped. */
  down = false;
  /** Good reads, by secret. */
  readonly reads: Record<string, number> = {};
  /** `projects/p/secrets/s` (or with `locations/l`) → versions, oldest first. */
  readonly #secrets = new Map<string, Array<{ data: Buffer; enabled: boolean }>>();
  /** Send a wrong dataCrc32c (a corrupted answer). */
  corrupt = false;

  constructor() {
    super([]);
  }

  /** Adds a new version of `secret` (`projects/p/secrets/s`); returns its number. */
  add(secret: string, value: string | Buffer): number {
    const versions = this.#secrets.get(secret) ?? [];
    versions.push({ data: Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'), enabled: true });
    this.#secrets.set(secret, versions);
    return versions.length;
  }

  disable(secret: string, version: number): void {
    this.#secrets.get(secret)![version - 1]!.enabled = false;
  }

  protected authenticate(ex: Exchange): { status: number; body: unknown } | undefined {
    if (this.down) {
      ex.req.socket.destroy();
      return undefined;
    }
    const auth = String(ex.req.headers.authorization ?? '');
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const expiresAt = GOOGLE_TOKENS.get(token);
    if (expiresAt === undefined || expiresAt <= Date.now()) {
      return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    if (this.forbiddenTokens.has(token)) return googleError(403, 'PERMISSION_DENIED', "Permission 'secretmanager.versions.access' denied for resource (or it may not exist).");
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    if (this.down) return;
    const m = /^\/v1\/(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)\/versions\/([^/:]+):access$/.exec(ex.record.path);
    if (ex.record.method !== 'GET' || !m) return this.json(ex, 404, googleError(404, 'NOT_FOUND', 'The requested URL was not found on this server.').body);
    const [, secret, version] = m;
    const versions = this.#secrets.get(secret!);
    if (!versions) return this.json(ex, 404, googleError(404, 'NOT_FOUND', `Secret [${secret}] not found or has no versions.`).body);
    let number: number;
    if (version === 'latest') {
      number = versions.map((v, i) => (v.enabled ? i + 1 : 0)).filter((n) => n > 0).pop() ?? 0;
    } else {
      number = /^[1-9][0-9]*$/.test(version!) ? Number(version) : 0;
    }
    const found = versions[number - 1];
    if (!found) return this.json(ex, 404, googleError(404, 'NOT_FOUND', `Secret Version [${secret}/versions/${version}] not found.`).body);
    if (!found.enabled) return this.json(ex, 400, googleError(400, 'FAILED_PRECONDITION', `Secret Version [${secret}/versions/${number}] is in DISABLED state.`).body);
    this.reads[secret!] = (this.reads[secret!] ?? 0) + 1;
    const crc = this.corrupt ? (crc32c(found.data) + 1) >>> 0 : crc32c(found.data);
    return this.json(ex, 200, { name: `${secret}/versions/${number}`, payload: { data: found.data.toString('base64'), dataCrc32c: String(crc) } });
  }

  protected override responseHeaders(): Record<string, string> {
    return { 'x-goog-request-id': randomBytes(8).toString('hex') };
  }
}

function googleError(code: number, status: string, message: string): { status: number; body: unknown } {
  return { status: code, body: { error: { code, message, status } } };
}
