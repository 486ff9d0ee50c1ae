import { GatewayError } from '../../errors/gateway-error.js';
import type { Instance } from '../../providers/instance.js';
import type { AdminEndpoint } from './admin-types.js';

/** How soon an instance's credential may be refreshed again on request: a client cannot make the gateway hammer a credential endpoint. */
export const FORCED_REFRESH_COOLDOWN_MS = 5_000;

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/**
 * One instance's provider credential as the admin API shows it (never a value): `GET
 * /admin/v1/credentials`, its refresh and the overview share this shape. A credential past its
 * expiry is `expired` even before a refresh failed.
 */
export function credentialJson(i: Instance, now = Date.now()) {
  const s = i.credential.state;
  const expired = s.expiresAt !== undefined && s.expiresAt <= now;
  return {
    instance: i.name,
    type: i.type,
    method: s.method,
    status: expired ? ('expired' as const) : s.status,
    last_refresh: iso(s.lastRefreshAt),
    expires_at: iso(s.expiresAt),
    last_error: s.lastError ?? null,
  };
}

/**
 * When each credential was last refreshed on request, by credential object (a config reload
 * builds new ones, which start afresh). Per gateway process.
 */
const lastForced = new WeakMap<object, number>();

/** Credential health (`secrets:read`) and "refresh now" (`secrets:write`). */
export const CREDENTIAL_ENDPOINTS: AdminEndpoint[] = [
  {
    method: 'GET',
    path: 'credentials',
    permission: 'secrets:read',
    async handle(_ctx, _p, { deps }) {
      const now = Date.now();
      return {
        body: {
          instances: deps.instances.all.map((i) => credentialJson(i, now)),
          secrets: deps.secrets().handles.map((h) => ({
            reference: h.ref.raw,
            status: h.status,
            last_refresh: iso(h.lastRefreshAt),
            last_error: h.lastError ?? null,
          })),
        },
      };
    },
  },
  {
    method: 'POST',
    path: 'credentials/:instance/refresh',
    permission: 'secrets:write',
    async handle(ctx, { instance: name }, admin) {
      const instance = admin.deps.instances.all.find((i) => i.name === name);
      if (!instance) throw new GatewayError('not_found', 'no instance with that name');
      const credential = instance.credential;
      if (credential.refresh === undefined) throw new GatewayError('invalid_request', `the credential of instance "${instance.name}" is fixed for the life of the process and cannot be refreshed`);
      const now = Date.now();
      const last = lastForced.get(credential);
      if (last !== undefined && now - last < FORCED_REFRESH_COOLDOWN_MS) {
        const wait = Math.ceil((last + FORCED_REFRESH_COOLDOWN_MS - now) / 1000);
        throw new GatewayError('rate_limited', `the credential of instance "${instance.name}" was refreshed moments ago; try again in ${wait} s`, { retryAfter: wait });
      }
      lastForced.set(credential, now);
      const before = credentialJson(instance);
      let ok = true;
      try {
        await credential.refresh();
      } catch {
        // What failed is in the credential's state (last_error), which the answer and the audit event carry.
        ok = false;
      }
      const after = credentialJson(instance);
      await admin.change(ctx, 'credential.refresh', { target: instance.name, before, after }, ok ? 'success' : 'failure');
      return { body: after };
    },
  },
];
