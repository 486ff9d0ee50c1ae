/**
 * Talking to the gateway: the console's own session routes (relative to the console's base
 * path) and the admin API (absolute `/admin/v1/...`). The CSRF token lives in this module's
 * memory only — never in web storage — and goes out as `X-CSRF-Token` on every admin call.
 */

export type Permission = 'llm:read' | 'llm:write' | 'llm:admin' | 'admin:read' | 'secrets:read' | 'secrets:write' | 'metrics:read';

export interface SessionInfo {
  principal: { id: string; kind: 'api-key' | 'basic' | 'oidc'; name: string; roles: string[] };
  permissions: Permission[];
  csrf_token: string;
  expires_at: string;
  idle_timeout_seconds: number;
}

export interface SignInOptions {
  sign_in: { api_key: boolean; basic: boolean; oidc: { id: string; label: string }[] };
}

export interface Scopes {
  instances: string[] | null;
  models: string[] | null;
}
export interface Limits {
  rpm: number | null;
  tpm: number | null;
  budget_usd: number | null;
}

export interface Key {
  id: string;
  name: string;
  user: string | null;
  role: string;
  status: 'active' | 'revoked' | 'expired';
  created_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  scopes: Scopes;
  limits: Limits;
  rotated_from: string | null;
}
export interface KeyPage {
  data: Key[];
  total?: number;
  limit?: number;
  offset?: number;
}
/** A new key's answer: the secret is in `key`, shown once. */
export type IssuedKey = Key & { key: string; replaced?: Key };

export interface User {
  name: string;
  role: string;
  status: 'active' | 'disabled';
  has_password: boolean;
  created_at: string | null;
  updated_at: string | null;
  password_changed_at: string | null;
  scopes: Scopes;
  limits: Limits;
  totp?: boolean;
}
export interface TotpEnrolment {
  user: string;
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
  backup_codes: string[];
}

export interface Totals {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}
export interface CredentialState {
  method: string;
  status: string;
  last_refresh: string | null;
  expires_at: string | null;
  last_error: string | null;
}
export interface Lockdown {
  on: boolean;
  source: string | null;
  reason: string | null;
  actor: string | null;
  since: string | null;
  disabled_instances: Record<string, { reason: string | null; actor: string | null; since: string }>;
}
export interface Overview {
  generated_at: string;
  /** Per window, overall and per instance (`instance` null: requests that reached no instance). */
  windows: Record<'1h' | '24h', { total: Totals; instances: (Totals & { instance: string | null })[] }>;
  instances: { name: string; type: string; disabled: boolean; credential: CredentialState }[];
  lockdown: Lockdown;
}

export type UsageBy = 'key' | 'user' | 'instance' | 'model';
export interface UsageRow {
  group: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}
export interface UsageSummary {
  by: UsageBy;
  since: string;
  until: string | null;
  data: UsageRow[];
}
export interface UsagePoint extends Totals {
  time: string;
}
export interface UsageSeries {
  bucket: string;
  since: string;
  until: string | null;
  series: { group: string | null; points: UsagePoint[] }[];
}

export interface AuditEvent {
  /** The store's id (absent from a gateway without audit paging). */
  id?: string | number;
  time: string;
  request_id: string;
  event: string;
  result: 'success' | 'failure' | 'denied' | 'throttled';
  reason: string | null;
  method: string;
  key_id: string | null;
  user: string | null;
  client_address: string;
  http_method: string;
  path: string;
  instance: string | null;
  detail: Record<string, unknown> | null;
}
export interface AuditPage {
  data: AuditEvent[];
  next_cursor?: string | null;
}

export interface InstanceCredential extends CredentialState {
  instance: string;
  type: string;
}
export interface Credentials {
  instances: InstanceCredential[];
  secrets: { reference: string; status: string; last_refresh: string | null; last_error: string | null }[];
}

/** A refused call, with the gateway's plain-words message (safe to show next to the control). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The console's root path (e.g. `/console/`), from this script's own URL: index.html loads
 * `<root>assets/app-<hash>.js`, so the root is the script's parent's parent, whatever
 * `server.console.path` is.
 */
export const BASE = new URL('..', import.meta.url).pathname;

let csrfToken: string | null = null;
let onSignedOut: () => void = () => {};

/** Called when the gateway answers 401 to an admin call: the session is gone. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

export function rememberSession(info: SessionInfo | null): void {
  csrfToken = info?.csrf_token ?? null;
}

async function send<T>(method: string, url: string, body: unknown, signOutOn401: boolean): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiError('The gateway could not be reached. Check the connection and try again.', 0, 'network');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // a proxy's HTML error page: fall through to the generic message
  }
  if (!res.ok) {
    const err = (json as { error?: { message?: string; code?: string } } | undefined)?.error;
    const failure = new ApiError(err?.message ?? `The gateway answered ${res.status} ${res.statusText}.`, res.status, err?.code ?? String(res.status));
    if (res.status === 401 && signOutOn401) {
      csrfToken = null;
      onSignedOut();
    }
    throw failure;
  }
  return json as T;
}

/** An admin API call: `path` is after `/admin/v1/`. */
export function admin<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return send<T>(method, `/admin/v1/${path}`, body, true);
}

/** A call to the console's own routes (`api/session`, `api/info`), relative to its root. */
export function consoleApi<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return send<T>(method, `${BASE}${path}`, body, false);
}

/** `?a=1&b=2` from the defined, non-empty entries. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
