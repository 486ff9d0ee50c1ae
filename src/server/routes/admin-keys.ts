import { z } from 'zod';
import { KeyRequestError, issueKey, rotateKey } from '../../clientauth/api-key/issue.js';
import { keyJson } from '../../clientauth/api-key/view.js';
import { parseDuration } from '../../config-fields/units.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import type { KeyQuery, KeyStatus, Store } from '../../store/types.js';
import { choiceParam, intParam, queryOf, textParam } from './admin-query.js';
import { endpointNames, limit, names } from './admin-fields.js';
import type { AdminAnswer, AdminContext, AdminEndpoint } from './admin-types.js';

/** API keys: list (filtered and paged), create, show, revoke, rotate. */

const durationText = z.string().refine((s) => parseDuration(s) !== undefined, 'must be a duration such as 30d or 24h');

const newKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(128),
  user: z.string().min(1).max(256).nullable().optional(),
  role: z.string().min(1).max(64).optional(),
  instances: names.nullable().optional(),
  models: names.nullable().optional(),
  /** Endpoint scopes (chat, embeddings, models, ...); null or absent: every endpoint. */
  endpoints: endpointNames.nullable().optional(),
  expires_in: durationText.optional(),
  rpm: limit.optional(),
  tpm: limit.optional(),
  budget_usd: z.number().positive().nullable().optional(),
});

const STATUSES: readonly KeyStatus[] = ['active', 'revoked', 'expired'];

/**
 * `GET keys?q=&status=&role=&user=&instance=&stale=&limit=&offset=` as a store query. Without
 * `limit` every match is listed (as before paging existed). `stale=60d`: the active keys created
 * more than 60 days ago (the rotation backlog; `status` is then `active` whatever it says).
 */
function keyQuery(q: Readonly<Record<string, string>>, now: number): KeyQuery {
  const text = textParam(q, 'q');
  const status = choiceParam(q, 'status', STATUSES);
  const role = textParam(q, 'role', 64);
  const user = textParam(q, 'user');
  const instance = textParam(q, 'instance');
  const limit = intParam(q, 'limit', 1, 500);
  const offset = intParam(q, 'offset', 0, Number.MAX_SAFE_INTEGER);
  const staleText = textParam(q, 'stale', 32);
  const staleMs = staleText === undefined ? undefined : parseDuration(staleText);
  if (staleText !== undefined && !(staleMs !== undefined && staleMs > 0)) throw new GatewayError('invalid_request', '"stale" must be a duration such as 60d');
  if (staleMs !== undefined && status !== undefined && status !== 'active') throw new GatewayError('invalid_request', '"stale" lists active keys; it cannot be combined with another "status"');
  return {
    ...(staleMs !== undefined ? { status: 'active' as const, createdBefore: now - staleMs } : {}),
    ...(text !== undefined ? { text } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(role !== undefined ? { role } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(instance !== undefined ? { instance } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(offset !== undefined ? { offset } : {}),
  };
}

async function keyOr404(store: Store, id: string) {
  const record = await store.keys.get(id);
  if (!record) throw new GatewayError('not_found', 'no key with that id');
  return record;
}

function keyFailure(err: unknown): never {
  if (err instanceof KeyRequestError) throw new GatewayError('invalid_request', err.message);
  throw err;
}

export const KEY_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'keys',
    permission: 'admin:read',
    async handle(ctx, _p, { deps }) {
      const now = Date.now();
      const q = keyQuery(queryOf(ctx), now);
      const { records, total } = await deps.store.keys.search({ ...q, now });
      return { body: { data: records.map((k) => keyJson(k, now)), total, limit: q.limit ?? null, offset: q.offset ?? 0 } };
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
          scopes: { instances: b.instances ?? null, models: b.models ?? null, endpoints: b.endpoints ?? null },
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
