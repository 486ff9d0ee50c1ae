import { z } from 'zod';
import { authenticate } from '../clientauth/authenticate.js';
import type { Authenticator } from '../clientauth/authenticator.js';
import type { OidcIssuerConfig } from '../clientauth/oidc/config.js';
import type { RoleTable } from '../clientauth/rbac.js';
import type { SessionAuthenticator } from '../clientauth/session/authenticator.js';
import { hashSessionSecret, newSessionToken, parseSessionToken } from '../clientauth/session/token.js';
import type { FailedAttemptThrottle } from '../clientauth/throttle.js';
import { GatewayError } from '../errors/gateway-error.js';
import { readBody } from '../middleware/body-limit.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { auditEvent } from '../request/audit.js';
import type { RequestContext } from '../request/context.js';
import type { Principal } from '../request/principal.js';
import type { Middleware, RouteSpec } from '../request/types.js';
import { sequence } from '../server/compose.js';
import type { AuditTrail } from '../store/audit-trail.js';
import type { NewSession, SessionStore } from '../store/identity-types.js';
import { CLIENT_CREDENTIAL_HEADERS } from '../upstream/headers.js';
import { headerValue } from '../util/http.js';
import { loadConsoleAssets, type Asset, type ConsoleAssets } from './assets.js';
import type { ConsoleConfig } from './config.js';
import { cookie, csrfToken, LOGIN_COOKIE, readCookie, sessionCookieName } from './cookies.js';
import { ConsoleOidc, LOGIN_TTL_SECONDS, OidcLoginError } from './oidc-login.js';
import { consoleAuthenticator, isSecure, requestOrigin, sessionCookie } from './session.js';

/** Every console answer: no script but our own files, no framing, no referrer, no sniffing. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

export interface ConsoleDeps {
  config: ConsoleConfig;
  /** `auth.oidc`: issuers with a `console` client get a sign-in button. */
  oidc: readonly OidcIssuerConfig[];
  /** Which sign-in forms to offer. */
  signInWith: { apiKey: boolean; basic: boolean };
  /** Every client-auth kind's authenticators and the steps after them (TOTP), as on any route. */
  authenticators: readonly Authenticator[];
  after: readonly Middleware[];
  sessions: SessionAuthenticator;
  sessionStore: SessionStore;
  roles: RoleTable;
  throttle: FailedAttemptThrottle;
  audit: AuditTrail;
  metrics: Metrics;
  logger: Logger;
  scrubber: SecretScrubber;
  baseDir: string;
  trustedProxy: (address: string) => boolean;
  requestTimeoutMs: number;
  /** The built console (tests pass their own); read from dist/console/ when absent. */
  assets?: ConsoleAssets | undefined;
  now?: () => number;
}

export interface Console {
  routes: RouteSpec[];
  /** The session cookie as a credential on the admin API (and the console's own API). */
  authenticator: Authenticator;
}

const totp = z.string().trim().min(1).max(64).optional();
const signInBody = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('api_key'), key: z.string().trim().min(1).max(512), totp }),
  z.strictObject({ method: z.literal('basic'), user: z.string().min(1).max(256), password: z.string().min(1).max(1024), totp }),
]);

/** The console needs a role that reads the admin API (viewer, admin, or a custom role with admin:read). */
const CONSOLE_PERMISSION = 'admin:read';

/**
 * The admin console at `server.console.path`: the built single-page app, and its own small API
 * (`api/info`, `api/session` to sign in, see and end a session, `api/oidc/start|callback`). The
 * pages call the admin API itself with the session cookie and the CSRF token.
 *
 * A sign-in form is turned into the credential headers the gateway already accepts (a key as
 * `Authorization: Bearer`, a user and password as Basic, a code as `X-TOTP-Code`) and decided by
 * the same authenticators and TOTP step as any request: the same throttle, audit and refusals.
 */
export function buildConsole(deps: ConsoleDeps): Console {
  const base = deps.config.path;
  const now = deps.now ?? Date.now;
  const assets = deps.assets ?? loadConsoleAssets();
  if (assets === undefined) deps.logger.warn({ path: base }, 'the console is enabled but not built (dist/console/ is missing): run "npm run build"');
  const oidc = new ConsoleOidc(deps.oidc, deps);
  const authenticator = consoleAuthenticator({
    sessions: deps.sessions,
    idleTimeoutMs: deps.config.idle_timeout,
    prefixes: ['/admin/v1/', `${base}api/`],
    trustedProxy: deps.trustedProxy,
    audit: deps.audit,
    logger: deps.logger,
    now,
  });
  const authStep = { throttle: deps.throttle, audit: deps.audit, metrics: deps.metrics };
  const withSession = authenticate({ authenticators: [authenticator], ...authStep });
  const signIn = sequence([authenticate({ authenticators: deps.authenticators, ...authStep }), ...deps.after]);

  const secureOf = (ctx: RequestContext) => isSecure(ctx, deps.trustedProxy);

  function send(ctx: RequestContext, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    ctx.res.writeHead(status, {
      ...CONSOLE_HEADERS,
      ...(text ? { 'content-type': 'application/json' } : {}),
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    });
    ctx.res.end(text);
  }

  function redirect(ctx: RequestContext, location: string, cookies: string[] = []): void {
    ctx.res.writeHead(302, { ...CONSOLE_HEADERS, location, 'cache-control': 'no-store', 'content-length': 0, ...(cookies.length ? { 'set-cookie': cookies } : {}) });
    ctx.res.end();
  }

  function sessionInfo(principal: Principal, token: string, expiresAt: number) {
    return {
      principal: { id: principal.id, kind: principal.kind, name: principal.user ?? principal.id, roles: [...principal.roles] },
      permissions: deps.roles.permissions(principal.roles),
      csrf_token: csrfToken(parseSessionToken(token)!.secret),
      expires_at: new Date(expiresAt).toISOString(),
      idle_timeout_seconds: Math.round(deps.config.idle_timeout / 1000),
    };
  }

  /** Makes a console session for `principal` and answers with its cookie (JSON, or a redirect after OIDC). */
  async function startSession(ctx: RequestContext, principal: Principal): Promise<{ token: string; expiresAt: number; setCookie: string }> {
    if (!deps.roles.grants(principal.roles, CONSOLE_PERMISSION)) {
      deps.audit.record(auditEvent(ctx, 'denied', 'console_not_permitted'));
      throw new GatewayError('permission_denied', 'This identity cannot use the console: it needs a role that reads the admin API (viewer or admin).');
    }
    const at = now();
    const expiresAt = at + deps.config.absolute_timeout;
    const { token, id, secret } = newSessionToken();
    const subject: Pick<NewSession, 'keyId' | 'user' | 'principal'> =
      principal.kind === 'api-key'
        ? { keyId: principal.keyId ?? null, user: null, principal: null }
        : principal.kind === 'basic'
          ? { keyId: null, user: principal.user, principal: null }
          : { keyId: null, user: null, principal: { id: principal.id, user: principal.user ?? principal.id, roles: [...principal.roles] } };
    try {
      await deps.sessionStore.create({ id, kind: 'console', secretHash: hashSessionSecret(secret), ...subject, createdAt: at, expiresAt });
    } catch (err) {
      throw new GatewayError('store_unavailable', 'the session store is unavailable; try again shortly', { cause: err });
    }
    deps.audit.record(auditEvent(ctx, 'success', 'console_sign_in'));
    deps.logger.info({ request_id: ctx.id, session: id, principal: principal.id, expires_at: new Date(expiresAt).toISOString() }, 'console session started');
    const secure = secureOf(ctx);
    const setCookie = cookie(sessionCookieName(secure), token, { path: '/', maxAge: Math.round(deps.config.absolute_timeout / 1000), secure, sameSite: 'Strict' });
    return { token, expiresAt, setCookie };
  }

  async function postSession(ctx: RequestContext): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(ctx.body?.toString('utf8') || '{}');
    } catch {
      throw new GatewayError('invalid_request', 'the request body is not valid JSON');
    }
    const result = signInBody.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new GatewayError('invalid_request', `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
    }
    const b = result.data;
    if ((b.method === 'api_key' && !deps.signInWith.apiKey) || (b.method === 'basic' && !deps.signInWith.basic)) {
      throw new GatewayError('invalid_request', `method: sign-in with ${b.method === 'api_key' ? 'an API key' : 'a user and password'} is not enabled`);
    }
    // The form becomes the headers every route reads; nothing the browser sent besides it counts.
    const headers = ctx.req.headers;
    for (const h of [...CLIENT_CREDENTIAL_HEADERS, 'x-totp-code', 'cookie']) delete headers[h];
    headers['authorization'] = b.method === 'api_key' ? `Bearer ${b.key}` : `Basic ${Buffer.from(`${b.user}:${b.password}`, 'utf8').toString('base64')}`;
    if (b.totp !== undefined) headers['x-totp-code'] = b.totp;
    await signIn(ctx, async () => {
      const principal = ctx.principal!;
      if (principal.kind !== (b.method === 'api_key' ? 'api-key' : 'basic') || ctx.authMethod === 'session') {
        throw new GatewayError('invalid_request', 'key: sign in with an API key, not a session token');
      }
      const s = await startSession(ctx, principal);
      send(ctx, 200, sessionInfo(principal, s.token, s.expiresAt), { 'set-cookie': s.setCookie });
    });
  }

  async function getSession(ctx: RequestContext): Promise<void> {
    // No cookie is not a failed sign-in: the page asks on every load whether it is signed in.
    if (sessionCookie(ctx, secureOf(ctx)) === undefined) throw new GatewayError('unauthorized', 'Not signed in.');
    await withSession(ctx, async () => {
      const token = sessionCookie(ctx, secureOf(ctx))!;
      const record = await deps.sessionStore.get(parseSessionToken(token)!.id);
      send(ctx, 200, sessionInfo(ctx.principal!, token, record!.expiresAt));
    });
  }

  async function deleteSession(ctx: RequestContext): Promise<void> {
    const secure = secureOf(ctx);
    const clear = cookie(sessionCookieName(secure), '', { path: '/', maxAge: 0, secure, sameSite: 'Strict' });
    if (sessionCookie(ctx, secure) === undefined) return send(ctx, 204, undefined, { 'set-cookie': clear });
    await withSession(ctx, async () => {
      const { id } = parseSessionToken(sessionCookie(ctx, secure)!)!;
      try {
        await deps.sessionStore.revoke(id, now());
      } catch (err) {
        throw new GatewayError('store_unavailable', 'the session store is unavailable; try again shortly', { cause: err });
      }
      deps.sessions.clearSessions();
      deps.audit.record(auditEvent(ctx, 'success', 'console_sign_out'));
      send(ctx, 204, undefined, { 'set-cookie': clear });
    });
  }

  const loginCookiePath = `${base}api/oidc/`;
  const callbackUrl = (ctx: RequestContext) => `${requestOrigin(ctx, secureOf(ctx), deps.trustedProxy)}${base}api/oidc/callback`;

  async function oidcStart(ctx: RequestContext): Promise<void> {
    const provider = new URLSearchParams(ctx.query.slice(1)).get('provider') ?? '';
    try {
      const { location, cookie: pending } = await oidc.start(provider, callbackUrl(ctx));
      const secure = secureOf(ctx);
      // Lax: the identity provider's redirect back is a cross-site navigation.
      redirect(ctx, location, [cookie(LOGIN_COOKIE, pending, { path: loginCookiePath, maxAge: LOGIN_TTL_SECONDS, secure, sameSite: 'Lax' })]);
    } catch (err) {
      if (err instanceof OidcLoginError) return redirect(ctx, `${base}#/sign-in?error=${encodeURIComponent(err.message)}`);
      throw err;
    }
  }

  async function oidcCallback(ctx: RequestContext): Promise<void> {
    const secure = secureOf(ctx);
    const clearLogin = cookie(LOGIN_COOKIE, '', { path: loginCookiePath, maxAge: 0, secure, sameSite: 'Lax' });
    ctx.authMethod = 'oidc';
    let principal: Principal;
    try {
      principal = await oidc.finish(new URLSearchParams(ctx.query.slice(1)), readCookie(headerValue(ctx.req.headers, 'cookie'), LOGIN_COOKIE));
    } catch (err) {
      if (!(err instanceof OidcLoginError || (err instanceof GatewayError && err.code === 'identity_provider_unavailable'))) throw err;
      const message = err instanceof OidcLoginError ? err.message : 'The identity provider could not be reached; try again shortly.';
      deps.metrics.authAttempts.labels('oidc', 'failure').inc();
      deps.audit.record(auditEvent(ctx, 'failure', err instanceof OidcLoginError ? err.reason : 'identity_provider_unavailable'));
      return redirect(ctx, `${base}#/sign-in?error=${encodeURIComponent(message)}`, [clearLogin]);
    }
    ctx.principal = principal;
    deps.metrics.authAttempts.labels('oidc', 'success').inc();
    try {
      const s = await startSession(ctx, principal);
      redirect(ctx, `${base}#/`, [clearLogin, s.setCookie]);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'permission_denied') throw err;
      redirect(ctx, `${base}#/sign-in?error=${encodeURIComponent(err.message)}`, [clearLogin]);
    }
  }

  function serveAsset(ctx: RequestContext, file: Asset | undefined, immutable: boolean): void {
    if (file === undefined) throw new GatewayError('not_found', 'no such console file');
    const gzip = file.gzip !== undefined && /\bgzip\b/.test(headerValue(ctx.req.headers, 'accept-encoding') ?? '');
    const body = gzip ? file.gzip! : file.body;
    const cacheControl = immutable ? 'public, max-age=31536000, immutable' : 'no-cache';
    const headers: Record<string, string | number> = {
      ...CONSOLE_HEADERS,
      'content-type': file.type,
      'content-length': body.length,
      'cache-control': cacheControl,
      etag: file.etag,
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    };
    if (headerValue(ctx.req.headers, 'if-none-match') === file.etag) {
      ctx.res.writeHead(304, { ...CONSOLE_HEADERS, etag: file.etag, 'cache-control': cacheControl });
      ctx.res.end();
      return;
    }
    ctx.res.writeHead(200, headers);
    ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
  }

  const API: Record<string, Partial<Record<string, (ctx: RequestContext) => Promise<void>>>> = {
    info: {
      GET: async (ctx) =>
        send(ctx, 200, { sign_in: { api_key: deps.signInWith.apiKey, basic: deps.signInWith.basic, oidc: oidc.providers() } }),
    },
    session: { GET: getSession, POST: postSession, DELETE: deleteSession },
    'oidc/start': { GET: oidcStart },
    'oidc/callback': { GET: oidcCallback },
  };

  async function dispatch(ctx: RequestContext): Promise<void> {
    const rest = ctx.path.slice(base.length);
    if (rest.startsWith('api/')) {
      const endpoint = API[rest.slice(4)];
      if (endpoint === undefined) throw new GatewayError('not_found', 'no such console endpoint');
      const handle = endpoint[ctx.method];
      if (handle === undefined) throw new GatewayError('method_not_allowed', `${ctx.method} is not allowed here`, { headers: { allow: Object.keys(endpoint).join(', ') } });
      return handle(ctx);
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new GatewayError('method_not_allowed', `${ctx.method} is not allowed here`, { headers: { allow: 'GET, HEAD' } });
    if (assets === undefined) throw new GatewayError('not_found', 'the console is not built on this gateway: run "npm run build"');
    if (rest.startsWith('assets/')) return serveAsset(ctx, assets.files.get(rest.slice(7)), true);
    // Every other path is a page of the app (deep links); a path naming a file that is not there is a 404.
    if (rest.slice(rest.lastIndexOf('/') + 1).includes('.')) throw new GatewayError('not_found', 'no such console file');
    return serveAsset(ctx, assets.index, false);
  }

  const bare = base.slice(0, -1);
  return {
    authenticator,
    routes: [
      { name: 'console', path: base, prefix: true, mode: 'ops', methods: ['GET', 'HEAD', 'POST', 'DELETE'], middleware: [readBody({ serverLimit: 16 * 1024, requestTimeoutMs: deps.requestTimeoutMs }), dispatch] },
      { name: 'console', path: bare, mode: 'ops', methods: ['GET', 'HEAD'], middleware: [async (ctx) => redirect(ctx, base)] },
    ],
  };
}
