/**
 * Connection URLs of networked stores (PostgreSQL, Redis) carry a password, so they are treated
 * as secrets: read from a secret reference, registered with the log scrubber, and cut out of
 * every error message a driver produces before it leaves the store.
 */

/** The parts of `url` that must never appear in text: the URL itself, its password, its userinfo. */
export function urlSecrets(url: string): string[] {
  const out = new Set<string>([url]);
  try {
    const u = new URL(url);
    if (u.password) {
      out.add(u.password);
      out.add(decodeURIComponent(u.password));
      out.add(`${u.username}:${u.password}`);
    }
  } catch {
    // Not parseable: the whole text is all we can hide; the driver will refuse it anyway.
  }
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** `url` with its password replaced by `***`, for a log line naming the server. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable connection URL)';
  }
}

/** Removes every part of `secrets` from `text`. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
  return out;
}

/**
 * An error from a store driver with every trace of the connection URL removed from its message
 * and stack. Returns a new Error (the original may hold the URL in fields a logger serialises),
 * keeping the driver's `code` (e.g. `ECONNREFUSED`, `23505`) so callers can still branch on it.
 */
export function scrubError(err: unknown, secrets: readonly string[], context?: string): Error {
  const raw = err instanceof Error ? err.message : String(err);
  const message = scrubText(context ? `${context}: ${raw}` : raw, secrets);
  const out = new Error(message) as Error & { code?: string };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') out.code = code;
  if (err instanceof Error && err.stack) out.stack = scrubText(`${out.name}: ${message}\n${err.stack.split('\n').slice(1).join('\n')}`, secrets);
  return out;
}
