import { z } from 'zod';
import { KeyRequestError, issueKey, rotateKey } from '../../clientauth/api-key/issue.js';
import { keyJson } from '../../clientauth/api-key/view.js';
import { parseDuration } from '../../config-fields/units.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { readBody } from '../../middleware/body-limit.js';
import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { RouteSpec } from '../../request/types.js';
import type { AuditResult, Store } from '../../store/types.js';
import { CREDENTIAL_ENDPOINTS } from './admin-credentials.js';
import { GOVERNANCE_ENDPOINTS } from './admin-governance.js';
import { OVERVIEW_ENDPOINTS } from './admin-overview.js';
import { queryOf, sinceOf } from './admin-query.js';
import { USER_ENDPOINTS } from './admin-users.js';
import type { AdminAnswer, AdminContext, AdminEndpoint, AdminRouteDeps } from './admin-types.js';

const PREFIX = '/admin/v1/';
const BODY_LIMIT = 64 * 1024;

/**
 * `/admin/v1/...`: keys, users, usage, audit, lockdown and credential health. Every endpoint
 * declares its permission (`admin:read` to read, `llm:admin` to change, `secrets:read` for
 * credential health, `secrets:write` to refresh a credential now); every change is audited as an `admin` event with what it changed. Admin routes are never locked down, so
 * an operator can always lift a lockdown.
 */
export function adminRoutes(deps: AdminRouteDeps): RouteSpec[] {
  const endpoints = [...KEY_ENDPOINTS, ...USER_ENDPOINTS, ...GOVERNANCE_ENDPOINTS, ...AUDIT_ENDPOINTS, ...CREDENTIAL_ENDPOINTS, ...OVERVIEW_ENDPOINTS].map((e) => ({ ...e, segments: e.path.split('/') }));
  const admin: AdminContext = {
    deps,
    async change(ctx, action, detail, result = 'success') {
      const event = { ...auditEvent(ctx, result, action), event: 'admin', detail };
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

const durationText = z.string().refine((s) => parseDuration(s) !== undefined, 'must be a duration such as 30d or 24h');
const names = z.array(z.string().min(1).max(256)).min(1).max(100);
const limit = z.number().int().positive().nullable();

const newKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(128),
  user: z.string().min(1).max(256).nullable().optional(),
  role: z.string().min(1).max(64).optional(),
  instances: names.nullable().optional(),
  models: names.nullable().optional(),
  expires_in: durationText.optional(),
  rpm: limit.optional(),
  tpm: limit.optional(),
  budget_usd: z.number().positive().nullable().optional(),
});

async function keyOr404(store: Store, id: string) {
  const record = await store.keys.get(id);
  if (!record) throw new GatewayError('not_found', 'no key with that id');
  return record;
}

function keyFailure(err: unknown): never {
  if (err instanceof KeyRequestError) throw new GatewayError('invalid_request', err.message);
  throw err;
}

const KEY_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'keys',
    permission: 'admin:read',
    async handle(_ctx, _p, { deps }) {
      return { body: { data: (await deps.store.keys.list()).map((k) => keyJson(k)) } };
    },
  },
  {
    method: 'POST',
    path: 'keys',
    permission: 'llm:admin',
    async handle(ctx, _p, admin) {
      const b = admin.body(ctx, newKeyBody);
      const issued = await issueKey(
        admin.deps.store.keys,
        {
          name: b.name,
          user: b.user ?? null,
          ...(b.role !== undefined ? { role: b.role } : {}),
          scopes: { instances: b.instances ?? null, models: b.models ?? null },
          limits: { rpm: b.rpm ?? null, tpm: b.tpm ?? null, budgetUsd: b.budget_usd ?? null },
          expiresAt: b.expires_in === undefined ? null : Date.now() + parseDuration(b.expires_in)!,
        },
        admin.deps.roles,
      ).catch(keyFailure);
      const after = keyJson(issued.record);
      await admin.change(ctx, 'key.create', { target: issued.record.id, after });
      return { status: 201, body: { ...after, key: issued.key } };
    },
  },
  {
    method: 'GET',
    path: 'keys/:id',
    permission: 'admin:read',
    async handle(_ctx, { id }, { deps }) {
      return { body: keyJson(await keyOr404(deps.store, id!)) };
    },
  },
  {
    method: 'POST',
    path: 'keys/:id/revoke',
    permission: 'llm:admin',
    handle: revoke,
  },
  {
    method: 'DELETE',
    path: 'keys/:id',
    permission: 'llm:admin',
    handle: revoke,
  },
  {
    method: 'POST',
    path: 'keys/:id/rotate',
    permission: 'llm:admin',
    async handle(ctx, { id }, admin) {
      const b = admin.body(ctx, z.strictObject({ overlap: durationText.optional() }));
      const before = keyJson(await keyOr404(admin.deps.store, id!));
      const rotated = await rotateKey(admin.deps.store.keys, id!, parseDuration(b.overlap ?? '0s')!).catch(keyFailure);
      admin.deps.verifier.invalidate(id!);
      const after = keyJson(rotated.record);
      await admin.change(ctx, 'key.rotate', { target: id, before, after: keyJson(rotated.old), replacement: after });
      return { status: 201, body: { ...after, key: rotated.key, replaced: keyJson(rotated.old) } };
    },
  },
];

async function revoke(ctx: RequestContext, { id }: Readonly<Record<string, string>>, admin: AdminContext): Promise<AdminAnswer> {
  const before = keyJson(await keyOr404(admin.deps.store, id!));
  const record = await admin.deps.store.keys.revoke(id!, Date.now());
  admin.deps.verifier.invalidate(id!);
  const after = keyJson(record!);
  await admin.change(ctx, 'key.revoke', { target: id, before, after });
  return { body: after };
}

const RESULTS: readonly AuditResult[] = ['success', 'failure', 'denied', 'throttled'];

const AUDIT_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'audit',
    permission: 'admin:read',
    async handle(ctx, _p, { deps }) {
      const q = queryOf(ctx);
      const limitText = q['limit'] ?? '100';
      const max = Number(limitText);
      if (!/^\d+$/.test(limitText) || max < 1 || max > 1000) throw new GatewayError('invalid_request', '"limit" must be an integer from 1 to 1000');
      if (q['result'] !== undefined && !RESULTS.includes(q['result'] as AuditResult)) {
        throw new GatewayError('invalid_request', `"result" must be one of ${RESULTS.join(', ')}`);
      }
      await deps.audit.flush();
      const events = await deps.store.audit.query({
        limit: max,
        ...(sinceOf(q['since']) !== undefined ? { since: sinceOf(q['since'])! } : {}),
        ...(q['key_id'] ? { keyId: q['key_id'] } : {}),
        ...(q['event'] ? { event: q['event'] } : {}),
        ...(q['result'] ? { result: q['result'] as AuditResult } : {}),
      });
      return {
        body: {
          data: events.map((e) => ({
            time: new Date(e.time).toISOString(),
            request_id: e.requestId,
            event: e.event,
            result: e.result,
            reason: e.reason,
            method: e.method,
            key_id: e.keyId,
            user: e.user,
            client_address: e.clientAddress,
            http_method: e.httpMethod,
            path: e.path,
            instance: e.instance,
            detail: e.detail ?? null,
          })),
        },
      };
    },
  },
];
