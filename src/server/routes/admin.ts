import { GatewayError } from '../../errors/gateway-error.js';
import { readBody } from '../../middleware/body-limit.js';
import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { RouteSpec } from '../../request/types.js';
import { AUDIT_ENDPOINTS } from './admin-audit.js';
import { CREDENTIAL_ENDPOINTS } from './admin-credentials.js';
import { GOVERNANCE_ENDPOINTS } from './admin-governance.js';
import { KEY_ENDPOINTS } from './admin-keys.js';
import { OVERVIEW_ENDPOINTS } from './admin-overview.js';
import { USER_ENDPOINTS } from './admin-users.js';
import { CONFIG_ENDPOINTS } from './admin-config.js';
import type { AdminContext, AdminRouteDeps } from './admin-types.js';

const PREFIX = '/admin/v1/';
const BODY_LIMIT = 64 * 1024;

/**
 * `/admin/v1/...`: keys, users, usage, audit, lockdown and credential health. Every endpoint
 * declares its permission (`admin:read` to read, `llm:admin` to change, `secrets:read` for
 * credential health, `secrets:write` to refresh a credential now); every change is audited as an
 * `admin` event with what it changed. Admin routes are never locked down, so an operator can
 * always lift a lockdown.
 */
export function adminRoutes(deps: AdminRouteDeps): RouteSpec[] {
  const endpoints = [...KEY_ENDPOINTS, ...USER_ENDPOINTS, ...GOVERNANCE_ENDPOINTS, ...AUDIT_ENDPOINTS, ...CREDENTIAL_ENDPOINTS, ...OVERVIEW_ENDPOINTS, ...CONFIG_ENDPOINTS].map((e) => ({ ...e, segments: e.path.split('/') }));
  const admin: AdminContext = {
    deps,
    async change(ctx, action, detail, result = 'success', options) {
      const event = { ...auditEvent(ctx, result, action), event: 'admin', detail, ...(options?.path !== undefined ? { path: options.path } : {}) };
      deps.audit.record(event);
      await deps.audit.flush();
      deps.logger.info({ request_id: ctx.id, action, actor: ctx.principal?.id, target: detail['target'] }, 'admin change');
    },
    body(ctx, schema) {
      let parsed: unknown = {};
      if (ctx.body !== null && ctx.body.length > 0) {
        try {
          parsed = JSON.parse(ctx.body.toString('utf8'));
        } catch {
          throw new GatewayError('invalid_request', 'the request body is not valid JSON');
        }
      }
      const result = schema.safeParse(parsed);
      if (!result.success) {
        const issue = result.error.issues[0]!;
        throw new GatewayError('invalid_request', `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
      }
      return result.data;
    },
  };

  async function dispatch(ctx: RequestContext): Promise<void> {
    const segments = ctx.path.slice(PREFIX.length).split('/').map(decodeSegment);
    let allowed: string[] = [];
    for (const e of endpoints) {
      const params = matchSegments(e.segments, segments);
      if (params === undefined) continue;
      if (e.method !== ctx.method) {
        allowed.push(e.method);
        continue;
      }
      allowed = [];
      if (!deps.roles.grants(ctx.principal!.roles, e.permission)) {
        deps.audit.record(auditEvent(ctx, 'denied', 'permission_denied'));
        throw new GatewayError('permission_denied', `your role does not grant ${e.permission}`);
      }
      const answer = await e.handle(ctx, params, admin);
      const [text, headers] = 'text' in answer ? [answer.text, answer.headers] : [JSON.stringify(answer.body), { 'content-type': 'application/json' }];
      ctx.res.writeHead(answer.status ?? 200, { ...headers, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      ctx.res.end(text);
      return;
    }
    if (allowed.length > 0) throw new GatewayError('method_not_allowed', `${ctx.method} is not allowed here`, { headers: { allow: allowed.join(', ') } });
    throw new GatewayError('not_found', 'no such admin endpoint');
  }

  return [{ name: 'admin', path: PREFIX, prefix: true, mode: 'ops', middleware: [deps.authenticate, readBody({ serverLimit: BODY_LIMIT, requestTimeoutMs: deps.requestTimeoutMs }), dispatch] }];
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new GatewayError('invalid_path', 'the path has a malformed percent-encoding');
  }
}

function matchSegments(pattern: readonly string[], actual: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) {
      if (actual[i] === '') return undefined;
      params[p.slice(1)] = actual[i]!;
    } else if (p !== actual[i]) return undefined;
  }
  return params;
}
