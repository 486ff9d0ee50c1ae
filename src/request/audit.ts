import type { AuditResult, AuditEvent } from '../store/types.js';
import type { RequestContext } from './context.js';

/** The audit event for the authentication or authorization decision taken on `ctx`. */
export function auditEvent(ctx: RequestContext, result: AuditResult, reason: string | null, keyId: string | null = ctx.principal?.keyId ?? null): AuditEvent {
  ctx.authResult = result;
  ctx.authReason = reason;
  return {
    time: Date.now(),
    requestId: ctx.id,
    event: 'auth',
    result,
    reason,
    method: ctx.authMethod || 'none',
    keyId,
    user: ctx.principal?.user ?? null,
    clientAddress: ctx.clientAddress,
    httpMethod: ctx.method,
    path: ctx.path.length > 512 ? ctx.path.slice(0, 512) : ctx.path,
    instance: ctx.instance?.name ?? (ctx.instanceName || null),
  };
}
