import { isIP } from 'node:net';
import type { Principal } from '../request/principal.js';
import type { Authenticator } from './authenticator.js';
import { compileScopes } from './scopes.js';

/**
 * `auth.mode: none` (or `AUTH_ENABLED=false`): local development without credentials. Every
 * request is the local developer, an admin with no scopes or limits, so the admin API and the
 * console work as they would for the bootstrap key. Refused at startup unless the gateway listens
 * only on a loopback address (`assertLoopbackOnly`), logged as a warning at start, audited with
 * method `none`, and every response says so in `X-LLMProxy-Auth: none`.
 */
export const LOCAL_DEV_PRINCIPAL: Principal = {
  id: 'local-dev',
  kind: 'local',
  user: 'local-dev',
  roles: ['admin'],
  scopes: compileScopes({ instances: null, models: null }),
  limits: { rpm: null, tpm: null, budgetUsd: null },
};

export const AUTH_MODE_HEADER = 'x-llmproxy-auth';

/** Claims every request and makes it the local developer's. */
export function noAuthAuthenticator(): Authenticator {
  return {
    method: 'none',
    claims: () => true,
    async authenticate(ctx) {
      ctx.res.setHeader(AUTH_MODE_HEADER, 'none');
      return { ok: true, principal: LOCAL_DEV_PRINCIPAL };
    },
  };
}

/**
 * Whether `host` is a loopback address: 127.0.0.0/8, ::1 or the IPv4-mapped ::ffff:127.x. Names
 * (`localhost`) are not accepted: what they resolve to is up to the resolver, and the check must
 * not be talked round by an /etc/hosts entry.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    const lower = h.toLowerCase();
    return lower === '::1' || lower === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(lower);
  }
  return false;
}
