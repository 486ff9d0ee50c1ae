import { createHash, timingSafeEqual } from 'node:crypto';

/** The session cookie: `__Host-` on TLS, so only this origin over HTTPS can set or read it. */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-llmproxy_console' : 'llmproxy_console';
}

/** The short-lived cookie that carries an OIDC sign-in's state, nonce and PKCE verifier to the callback. */
export const LOGIN_COOKIE = 'llmproxy_console_login';

/** The first value of cookie `name` in a `Cookie` header (RFC 6265 §5.4), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  secure: boolean;
  sameSite: 'Strict' | 'Lax';
}

/** A `Set-Cookie` value; always HttpOnly (no script reads a console cookie). */
export function cookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${value}; Path=${o.path}; Max-Age=${o.maxAge}; HttpOnly; SameSite=${o.sameSite}${o.secure ? '; Secure' : ''}`;
}

/**
 * The CSRF token of a console session: derived from the session's secret, so only a page that
 * read it from `GET api/session` (same origin only) can send it, and nothing more is stored.
 */
export function csrfToken(sessionSecret: string): string {
  return createHash('sha256').update('llmproxy-console-csrf\0').update(sessionSecret).digest('base64url');
}

/** Constant-time check of a presented CSRF token. */
export function csrfMatches(presented: string | undefined, sessionSecret: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(csrfToken(sessionSecret));
  return a.length === b.length && timingSafeEqual(a, b);
}
