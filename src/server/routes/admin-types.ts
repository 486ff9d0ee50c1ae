import type { z } from 'zod';
import type { ApiKeyVerifier } from '../../clientauth/api-key/verifier.js';
import type { Permission, RoleTable } from '../../clientauth/rbac.js';
import type { TotpSecretBox } from '../../clientauth/totp/secret-box.js';
import type { Governance } from '../../governance/index.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { InstanceDirectory } from '../../providers/directory.js';
import type { RequestContext } from '../../request/context.js';
import type { Middleware } from '../../request/types.js';
import type { SecretResolver } from '../../secrets/resolver.js';
import type { AuditDetail, AuditResult, Store } from '../../store/types.js';

export interface AdminRouteDeps {
  /** `server.request_timeout`: the longest an admin request body may take to arrive. */
  requestTimeoutMs: number;
  store: Store;
  instances: InstanceDirectory;
  /** The current secret resolver (a config reload replaces it). */
  secrets: () => SecretResolver;
  audit: AuditTrail;
  roles: RoleTable;
  /** Authentication (any client-auth kind, second factor included); never locked down. */
  authenticate: Middleware;
  verifier: ApiKeyVerifier;
  /** Seals TOTP secrets enrolled through the admin API (clientauth's, from `auth.totp.encryption_key`). */
  totpBox: TotpSecretBox | undefined;
  governance: Governance;
  /** Re-reads the config file (the app's reload, as SIGHUP does), naming who asked. */
  reload: (trigger: { by: 'admin'; actor: string; keyId?: string; requestId: string; clientAddress: string }) => Promise<
    { ok: true; added: string[]; removed: string[]; changed: string[]; aliasesChanged: boolean; restartRequired: string[] } | { ok: false; error: string }
  >;
  /** `privacy.pseudonymise`: the keyed pseudonym that replaces a purged user's name (store/pseudonym.ts); absent: purged rows are deleted. */
  pseudonym?: ((name: string) => string) | undefined;
  logger: Logger;
  metrics: Metrics;
}

/** One admin endpoint: `path` segments after /admin/v1/, `:name` binds a parameter. */
export interface AdminEndpoint {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  permission: Permission;
  handle(ctx: RequestContext, params: Readonly<Record<string, string>>, admin: AdminContext): Promise<AdminAnswer>;
}

/** A JSON body, or a text answer with its own headers (content-type, content-disposition): a CSV export. */
export type AdminAnswer = { status?: number; body: unknown } | { status?: number; text: string; headers: Record<string, string> };

/** What endpoints use besides the request: the deps and a way to audit a change. */
export interface AdminContext {
  deps: AdminRouteDeps;
  /**
   * Records an admin change (who: the principal; what: `action` on `target`; before/after without
   * secrets; `result` default success) and writes it through. `options.path` replaces the request
   * path in the event (a purged user's name must not stay in it).
   */
  change(ctx: RequestContext, action: string, detail: AuditDetail, result?: AuditResult, options?: { path?: string }): Promise<void>;
  /** The JSON body, parsed with `schema`; a clear 400 naming the field otherwise. */
  body<T extends z.ZodType>(ctx: RequestContext, schema: T): z.output<T>;
}
