import { z } from 'zod';
import { generatePassword, hashPassword, passwordProblem } from '../../clientauth/basic/password.js';
import { USER_NAME, userJson } from '../../clientauth/basic/view.js';
import { DEFAULT_ROLE } from '../../clientauth/rbac.js';
import { enrolTotp, enrolmentJson } from '../../clientauth/totp/enrol.js';
import { totpQrCode } from '../../clientauth/totp/qr.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import { IdentityConflictError, type UserRecord } from '../../store/identity-types.js';
import type { Store } from '../../store/types.js';
import { endpointNames, limit, names } from './admin-fields.js';
import type { AdminAnswer, AdminContext, AdminEndpoint } from './admin-types.js';
import { deleteUser, erasureJson } from '../../store/erase-user.js';
import { choiceParam, queryOf } from './admin-query.js';

const password = z.string().refine((p) => passwordProblem(p) === undefined, { message: 'must be 12 to 1024 characters' });

const newUserBody = z.strictObject({
  name: z.string().regex(USER_NAME, 'must be 1-64 letters, digits, ".", "_", "@", "+" or "-", starting with a letter or digit'),
  role: z.string().min(1).max(64).optional(),
  /** Absent: a password is generated and returned once. */
  password: password.optional(),
  instances: names.nullable().optional(),
  models: names.nullable().optional(),
  /** Endpoint scopes (chat, embeddings, models, ...); null or absent: every endpoint. */
  endpoints: endpointNames.nullable().optional(),
  rpm: limit.optional(),
  tpm: limit.optional(),
  budget_usd: z.number().positive().nullable().optional(),
});

async function userOr404(store: Store, name: string) {
  const record = await store.identity.users.get(name);
  if (!record) throw new GatewayError('not_found', 'no user with that name');
  return record;
}

/** A user as the admin API shows it: its public JSON and whether it is enrolled for TOTP. */
async function userView(store: Store, u: UserRecord) {
  return { ...userJson(u), totp: (await store.identity.totp.get(`user:${u.name}`)) !== undefined };
}

/**
 * Basic-auth users: the admin API's `llmproxy users` and `llmproxy totp` for users. Passwords,
 * TOTP secrets and backup codes are shown once and never stored in clear, audited or logged.
 */
export const USER_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'users',
    permission: 'admin:read',
    async handle(_ctx, _p, { deps }) {
      const [users, enrolled] = await Promise.all([deps.store.identity.users.list(), deps.store.identity.totp.subjects('user')]);
      const totp = new Set<string>(enrolled);
      return { body: { data: users.map((u) => ({ ...userJson(u), totp: totp.has(`user:${u.name}`) })) } };
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
          scopes: { instances: b.instances ?? null, models: b.models ?? null, ...(b.endpoints ? { endpoints: [...new Set(b.endpoints)] } : {}) },
          limits: { rpm: b.rpm ?? null, tpm: b.tpm ?? null, budgetUsd: b.budget_usd ?? null },
        });
      } catch (err) {
        if (err instanceof IdentityConflictError) throw new GatewayError('invalid_request', `a user named "${b.name}" exists`);
        throw err;
      }
      const after = userJson(record);
      await admin.change(ctx, 'user.create', { target: record.name, after });
      return { status: 201, body: { ...(await userView(admin.deps.store, record)), ...(generated ? { password: generated } : {}) } };
    },
  },
  {
    method: 'GET',
    path: 'users/:name',
    permission: 'admin:read',
    async handle(_ctx, { name }, { deps }) {
      return { body: await userView(deps.store, await userOr404(deps.store, name!)) };
    },
  },
  {
    method: 'POST',
    path: 'users/:name/totp',
    permission: 'llm:admin',
    async handle(ctx, { name }, admin) {
      const b = admin.body(ctx, z.strictObject({ required: z.boolean().optional(), replace: z.boolean().optional() }));
      const { store, totpBox, logger } = admin.deps;
      const before = await userView(store, await userOr404(store, name!));
      if (totpBox === undefined) throw new GatewayError('internal_error', 'TOTP is not set up in this gateway');
      if (before.totp && b.replace !== true) {
        throw new GatewayError('invalid_request', `user ${name!} is already enrolled; send "replace": true to replace the secret and backup codes (the old ones stop working)`, { param: 'replace' });
      }
      if (!totpBox.encrypts) logger.warn({ request_id: ctx.id, target: name }, 'auth.totp.encryption_key is not configured; the TOTP secret is stored unencrypted');
      const enrolled = await enrolTotp(store.identity.totp, totpBox, `user:${name!}`, name!, b.required ?? true);
      const after = { ...before, totp: true };
      await admin.change(ctx, before.totp ? 'user.totp.replace' : 'user.totp.enrol', { target: name, before, after, required: enrolled.record.required });
      return { status: 201, body: { user: name, ...enrolmentJson(enrolled), qr_svg: await totpQrCode(enrolled.otpauthUri, 'svg') } };
    },
  },
  {
    method: 'DELETE',
    path: 'users/:name/totp',
    permission: 'llm:admin',
    async handle(ctx, { name }, admin) {
      const { store } = admin.deps;
      const record = await userOr404(store, name!);
      const before = await userView(store, record);
      if (!(await store.identity.totp.remove(`user:${name!}`))) throw new GatewayError('not_found', `user ${name!} is not enrolled for TOTP`);
      const after = { ...before, totp: false };
      await admin.change(ctx, 'user.totp.remove', { target: name, before, after });
      return { body: after };
    },
  },
  {
    method: 'DELETE',
    path: 'users/:name',
    permission: 'llm:admin',
    async handle(ctx, { name }, admin) {
      const purge = choiceParam(queryOf(ctx), 'purge', ['true', 'false']) === 'true';
      const { store, audit, governance, verifier, pseudonym } = admin.deps;
      const before = await userView(store, await userOr404(store, name!));
      // Rows still buffered in this process would otherwise reach the store after the purge, under the name.
      if (purge) await Promise.all([audit.flush(), governance.flushUsage()]);
      const erased = await deleteUser(store, name!, { purge, pseudonym });
      if (!erased) throw new GatewayError('not_found', 'no user with that name');
      for (const id of erased.keysRevoked) verifier.invalidate(id);
      const summary = erasureJson(erased);
      // A purge under a pseudonym keeps no trace of the name, the deletion's own event included.
      await admin.change(
        ctx,
        'user.delete',
        { target: erased.pseudonym ?? name, ...summary, ...(erased.pseudonym === null ? { before } : {}) },
        'success',
        erased.pseudonym === null ? {} : { path: `/admin/v1/users/${erased.pseudonym}` },
      );
      return { body: { user: erased.pseudonym ?? name, deleted: true, ...summary } };
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
      return { body: { ...(await userView(admin.deps.store, record)), ...(generated ? { password: generated } : {}) } };
    },
  },
];

async function setDisabled(ctx: RequestContext, name: string, disabled: boolean, admin: AdminContext): Promise<AdminAnswer> {
  const before = userJson(await userOr404(admin.deps.store, name));
  const record = await admin.deps.store.identity.users.setDisabled(name, disabled, Date.now());
  if (!record) throw new GatewayError('not_found', 'no user with that name');
  const after = userJson(record);
  await admin.change(ctx, disabled ? 'user.disable' : 'user.enable', { target: name, before, after });
  return { body: await userView(admin.deps.store, record) };
}
