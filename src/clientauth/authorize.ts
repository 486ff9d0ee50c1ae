import { GatewayError } from '../errors/gateway-error.js';
import { auditEvent } from '../request/audit.js';
import type { RequestContext } from '../request/context.js';
import type { Middleware } from '../request/types.js';
import type { AuditTrail } from '../store/audit-trail.js';
import { inferencePermission, type Permission, type RoleTable } from './rbac.js';
import type { EndpointName } from '../providers/endpoint-names.js';
import type { Principal } from '../request/principal.js';
import { endpointAllowed, instanceAllowed, modelAllowed } from './scopes.js';

/**
 * Authorization of an inference request: the role must grant `llm:read` (GET) or `llm:write`,
 * the instance must be in the key's scopes, so must the endpoint (`ctx.endpoint`; a transparent
 * path its provider does not map is refused to a key with endpoint scopes), and so must the model (named by the path, else by the
 * JSON body's `model`; for a path's model, one of the provider's `scopeAliases` for it will do)
 * when the key restricts models. The decision, allowed or denied, is audited here.
 */
export function authorizeInference(audit: AuditTrail, roles: RoleTable): Middleware {
  return function authorizeInferenceRequest(ctx, next) {
    const denial = inferenceDenial(ctx, roles);
    if (denial) {
      audit.record(auditEvent(ctx, 'denied', denial.code));
      throw denial;
    }
    audit.record(auditEvent(ctx, 'success', null));
    return next();
  };
}

function inferenceDenial(ctx: RequestContext, roles: RoleTable): GatewayError | undefined {
  const principal = ctx.principal!;
  const instance = ctx.instance!;
  const permission = inferencePermission(ctx.method);
  if (!roles.grants(principal.roles, permission)) {
    return new GatewayError('permission_denied', `your role does not grant ${permission}`);
  }
  if (!instanceAllowed(principal.scopes, instance.name)) {
    return new GatewayError('instance_not_in_scope', `your key may not use instance "${instance.name}"`);
  }
  const endpointDenial = endpointDenialOf(principal, ctx.endpoint, ctx);
  if (endpointDenial) return endpointDenial;
  if (principal.scopes.models !== null && (ctx.model !== undefined || (ctx.body !== null && ctx.body.length > 0))) {
    // A model named by the path (Bedrock) is the one the provider runs; else the body's `model`.
    const model = ctx.model ?? modelOf(ctx.body!, instance.provider.bodyModelField ?? 'model');
    if (model instanceof GatewayError) return model;
    if (model !== undefined && !modelAllowed(principal.scopes, model) && !aliasAllowed(ctx, model)) {
      return new GatewayError('model_not_in_scope', `your key may not use model "${model.length > 100 ? `${model.slice(0, 100)}...` : model}"`);
    }
  }
  return undefined;
}

/** 403 `endpoint_not_in_scope` when the principal's endpoint scopes do not allow `endpoint` (undefined: an unmapped native path). */
export function endpointDenialOf(principal: Principal, endpoint: EndpointName | undefined, ctx: { method: string; nativePath: string }): GatewayError | undefined {
  if (endpointAllowed(principal.scopes, endpoint)) return undefined;
  const allowed = [...principal.scopes.endpoints!].join(', ') || 'none';
  return new GatewayError(
    'endpoint_not_in_scope',
    endpoint !== undefined
      ? `your key may not call the "${endpoint}" endpoint (its endpoints: ${allowed})`
      : `${ctx.method} ${ctx.nativePath.slice(0, 200)} is not mapped to an endpoint, and your key may call only its endpoints (${allowed})`,
  );
}

/** True when a model named by the path is in scope under one of the provider's `scopeAliases` for it. */
function aliasAllowed(ctx: RequestContext, model: string): boolean {
  if (ctx.model !== model) return false;
  const aliases = ctx.instance!.provider.scopeAliases?.(ctx.nativeSegments, model) ?? [];
  return aliases.some((alias) => modelAllowed(ctx.principal!.scopes, alias));
}

/** The model a JSON body names at `field` (a dotted path), undefined if none; parsed only for model-scoped keys. */
function modelOf(body: Buffer, field: string): string | undefined | GatewayError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return new GatewayError('invalid_request', 'the request body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  let model: unknown = parsed;
  for (const key of field.split('.')) model = model !== null && typeof model === 'object' ? (model as Record<string, unknown>)[key] : undefined;
  if (model === undefined) return undefined;
  return typeof model === 'string' ? model : new GatewayError('invalid_request', `"${field}" must be a string`);
}

/**
 * A fixed permission for a route without an instance (e.g. /metrics when it requires auth), and
 * with `endpoint`, the endpoint scope the route is (the stored responses: `responses`).
 */
export function requirePermission(permission: Permission, audit: AuditTrail, roles: RoleTable, endpoint?: EndpointName): Middleware {
  return async function requireRoutePermission(ctx, next) {
    if (!roles.grants(ctx.principal!.roles, permission)) {
      audit.record(auditEvent(ctx, 'denied', 'permission_denied'));
      throw new GatewayError('permission_denied', `your role does not grant ${permission}`);
    }
    if (endpoint !== undefined) {
      ctx.endpoint = endpoint;
      const denial = endpointDenialOf(ctx.principal!, endpoint, ctx);
      if (denial) {
        audit.record(auditEvent(ctx, 'denied', denial.code));
        throw denial;
      }
    }
    audit.record(auditEvent(ctx, 'success', null));
    return next();
  };
}
