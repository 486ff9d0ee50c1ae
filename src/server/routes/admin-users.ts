import { z } from 'zod';
import { generatePassword, hashPassword, passwordProblem } from '../../clientauth/basic/password.js';
import { USER_NAME, userJson } from '../../clientauth/basic/view.js';
import { DEFAULT_ROLE } from '../../clientauth/rbac.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import { IdentityConflictError } from '../../store/identity-types.js';
import type { Store } from '../../store/types.js';
import type { AdminAnswer, AdminContext, AdminEndpoint } from './admin-types.js';

const names = z.array(z.string().min(1).max(256)).min(1).max(100);
const limit = z.number().int().positive().nullable();
const password = z.string().refine((p) => passwordProblem(p) === undefined, { message: 'must be 12 to 1024 characters' });

const newUserBody = z.strictObject({
  name: z.string().regex(USER_NAME, 'must be 1-64 letters, digits, ".", "_", "@", "+" or "-", starting with a letter or digit'),
  role: z.string().min(1).max(64).optional(),
  /** Absent: a password is generated and returned once. */
  password: password.optional(),
  instances: names.nullable().optional(),
  models: names.nullable().optional(),
  rpm: limit.optional(),
  tpm: limit.optional(),
  budget_usd: z.number().positive().nullable().optional(),
});

async function userOr404(store: Store, name: string) {
  const record = await store.identity.users.get(name);
  if (!record) throw new GatewayError('not_found', 'no user with that name');
  return record;
}

/** Basic-auth users: the admin API's `llmproxy users`. Passwords are shown once (generated) and never stored in clear. */
export const USER_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'users',
    permission: 'admin:read',
    async handle(_ctx, _p, { deps }) {
      return { body: { data: (await deps.store.identity.users.list()).map(userJson) } };
    },
  },
  {
    method: 'POST',
    path: 'users',
    permission: 'llm:admin',
    async handle(ctx, _p, admin) {
      const b = admin.body(ctx, newUserBody);
      const role = b.role ?? DEFAULT_ROLE;
      if (!admin.deps.roles.isKnown(role)) throw new GatewayError('invalid_request', `unknown role "${role}" (known: ${admin.deps.roles.names.join(', ')})`);
      const generated = b.password === undefined ? generatePassword() : undefined;
      let record;
      try {
        record = await admin.deps.store.identity.users.create({
          name: b.name,
          role,
          passwordHash: await hashPassword(b.password ?? generated!),
          scopes: { instances: b.instances ?? null, models: b.models ?? null },
          limits: { rpm: b.rpm ?? null, tpm: b.tpm ?? null, budgetUsd: b.budget_usd ?? null },
        });
      } catch (err) {
        if (err instanceof IdentityConflictError) throw new GatewayError('invalid_request', `a user named "${b.name}" exists`);
        throw err;
      }
      const after = userJson(record);
      await admin.change(ctx, 'user.create', { target: record.name, after });
      return { status: 201, body: { ...after, ...(generated ? { password: generated } : {}) } };
    },
  },
  {
    method: 'GET',
    path: 'users/:name',
    permission: 'admin:read',
    async handle(_ctx, { name }, { deps }) {
      return { body: userJson(await userOr404(deps.store, name!)) };
    },
  },
  { method: 'POST', path: 'users/:name/disable', permission: 'llm:admin', handle: (ctx, p, admin) => setDisabled(ctx, p['name']!, true, admin) },
  { method: 'POST', path: 'users/:name/enable', permission: 'llm:admin', handle: (ctx, p, admin) => setDisabled(ctx, p['name']!, false, admin) },
  {
    method: 'POST',
    path: 'users/:name/password',
    permission: 'llm:admin',
    async handle(ctx, { name }, admin) {
      const b = admin.body(ctx, z.strictObject({ password: password.optional() }));
      const before = userJson(await userOr404(admin.deps.store, name!));
      const generated = b.password === undefined ? generatePassword() : undefined;
      const record = await admin.deps.store.identity.users.setPassword(name!, await hashPassword(b.password ?? generated!), Date.now());
      if (!record) throw new GatewayError('not_found', 'no user with that name');
      const after = userJson(record);
      await admin.change(ctx, 'user.password', { target: name, before, after });
      return { body: { ...after, ...(generated ? { password: generated } : {}) } };
    },
  },
];

async function setDisabled(ctx: RequestContext, name: string, disabled: boolean, admin: AdminContext): Promise<AdminAnswer> {
  const before = userJson(await userOr404(admin.deps.store, name));
  const record = await admin.deps.store.identity.users.setDisabled(name, disabled, Date.now());
  if (!record) throw new GatewayError('not_found', 'no user with that name');
  const after = userJson(record);
  await admin.change(ctx, disabled ? 'user.disable' : 'user.enable', { target: name, before, after });
  return { body: after };
}
