import { randomUUID } from 'node:crypto';
import { Emulator, type Exchange } from './base.js';

/**
 * IBM Cloud Secrets Manager emulator: `GET /api/v2/secrets/{id}`
 * (https://cloud.ibm.com/apidocs/secrets-manager/secrets-manager-v2#get-secret), answering the
 * secret as v2 does: its metadata (`id`, `secret_type`, `versions_total`...) beside the fields of
 * its type (`payload` of `arbitrary`, `api_key` of `iam_credentials`, `username` and
 * `password` of `username_password`, `data` of `kv`). The caller must send
 * `Authorization: Bearer <IAM access token>`: pass this emulator's `acceptedKeys` as the
 * `validTokens` of {@link IbmIamEmulator}, so only tokens IAM minted (and has not let expire)
 * are accepted; others are 401. Tokens in `forbiddenTokens` (no SecretsReader role) are 403;
 * an unknown id is 404. Errors are IBM's `{errors: [{code, message}], status_code, trace}`.
 * `down` drops every connection.
 */
export class IbmSecretsManagerEmulator extends Emulator {
  readonly forbiddenTokens = new Set<string>();
  down = false;
  /** Good reads, by id. */
  readonly reads: Record<string, number> = {};
  readonly #secrets = new Map<string, { type: string; fields: Record<string, unknown>; versions: number }>();

  constructor() {
    super([]);
  }

  /** Stores a secret (a new version when `id` exists); returns its id. */
  put(type: 'arbitrary' | 'iam_credentials' | 'username_password' | 'kv' | 'imported_cert', fields: Record<string, unknown>, id: string = randomUUID()): string {
    const previous = this.#secrets.get(id);
    this.#secrets.set(id, { type, fields, versions: (previous?.versions ?? 0) + 1 });
    return id;
  }

  protected authenticate(ex: Exchange): { status: number; body: unknown } | undefined {
    if (this.down) {
      ex.req.socket.destroy();
      return undefined;
    }
    const auth = String(ex.req.headers.authorization ?? '');
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!this.acceptedKeys.has(token)) return ibmError(401, 'unauthorized', 'Unauthorized: the IAM access token is not valid');
    if (this.forbiddenTokens.has(token)) return ibmError(403, 'forbidden', 'Forbidden: the caller has no access to the secret');
    return undefined;
  }

  protected async route(ex: Exchange): Promise<void> {
    if (this.down) return;
    const m = /^\/api\/v2\/secrets\/([^/]+)$/.exec(ex.record.path);
    if (ex.record.method !== 'GET' || !m) return this.json(ex, 404, ibmError(404, 'not_found', 'Not found').body);
    const secret = this.#secrets.get(m[1]!);
    if (!secret) return this.json(ex, 404, ibmError(404, 'not_found', `Secret with id ${m[1]} not found`).body);
    this.reads[m[1]!] = (this.reads[m[1]!] ?? 0) + 1;
    const now = new Date().toISOString();
    return this.json(ex, 200, {
      id: m[1],
      name: `secret-${m[1]!.slice(0, 8)}`,
      secret_type: secret.type,
      secret_group_id: 'default',
      state: 1,
      state_description: 'active',
      versions_total: secret.versions,
      created_at: now,
      updated_at: now,
      crn: `crn:v1:bluemix:public:secrets-manager:eu-de:a/emulator:instance:secret:${m[1]}`,
      ...secret.fields,
    });
  }
}

function ibmError(status: number, code: string, message: string): { status: number; body: unknown } {
  return { status, body: { errors: [{ code, message }], status_code: status, trace: randomUUID() } };
}
