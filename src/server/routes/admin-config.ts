import type { AdminEndpoint } from './admin-types.js';

/**
 * `POST config/reload`: re-reads the config file as SIGHUP does; audited as a `config.reload`
 * event naming the admin (the change is the instance names added, removed and changed). 200
 * with what changed, or 422 with why the file was refused (the running configuration stays).
 */
export const CONFIG_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'POST',
    path: 'config/reload',
    permission: 'llm:admin',
    async handle(ctx, _p, { deps }) {
      const principal = ctx.principal!;
      const result = await deps.reload({ by: 'admin', actor: principal.id, requestId: ctx.id, clientAddress: ctx.clientAddress, ...(principal.keyId !== undefined ? { keyId: principal.keyId } : {}) });
      if (!result.ok) return { status: 422, body: { ok: false, error: { message: result.error, type: 'invalid_request_error', code: 'config_rejected' } } };
      return {
        body: { ok: true, added: result.added, removed: result.removed, changed: result.changed, aliases_changed: result.aliasesChanged, restart_required: result.restartRequired },
      };
    },
  },
];
