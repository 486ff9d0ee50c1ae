/** Small shared pieces: data loading, times, errors, dialogs, number formats. */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useId, useRef, useState } from 'preact/hooks';
import { describe, type Permission, type SessionInfo } from './api.js';

export const Session = createContext<SessionInfo | null>(null);

/** Whether the signed-in principal holds `permission` (write controls are absent otherwise). */
export function useCan(permission: Permission): boolean {
  return useContext(Session)?.permissions.includes(permission) ?? false;
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; a late answer to an older request is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | null; loading: boolean }>({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (err: unknown) => mine === seq.current && setState((s) => ({ data: s.data, error: describe(err), loading: false })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

const toMinute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const toSecond = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A time in the browser's zone (to the minute, or the second); the exact UTC ISO time on hover. */
export function Time({ iso, empty = '—', seconds = false }: { iso: string | null | undefined; empty?: string; seconds?: boolean }) {
  if (!iso) return <span>{empty}</span>;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return <span>{iso}</span>;
  const utc = d.toISOString();
  return (
    <time dateTime={utc} title={`${utc} (UTC)`}>
      {(seconds ? toSecond : toMinute).format(d)}
    </time>
  );
}

/** "in 3h 12m" / "expired 5m ago", ticking every second. */
export function Countdown({ iso }: { iso: string | null }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (!iso) return <span>no expiry</span>;
  const ms = new Date(iso).getTime() - now;
  const text = ms >= 0 ? `in ${span(ms)}` : `expired ${span(-ms)} ago`;
  return (
    <span class={ms < 0 ? 'bad' : ms < 10 * 60_000 ? 'warn' : undefined}>
      {text} (<Time iso={iso} />)
    </span>
  );
}

function span(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** An API error in plain words, announced to screen readers, next to the control it belongs to. */
export function ErrorText({ error, id }: { error: string | null | undefined; id?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" id={id}>
      {error}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** The page's one <h1>; focused after navigation so a screen reader announces the new page. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement?.closest('nav')) ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

/**
 * A modal <dialog> (showModal: the browser traps focus and Escape closes it). Focus moves to
 * the first control inside, and goes back to what had it when the dialog closes.
 */
export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current!;
    const before = document.activeElement as HTMLElement | null;
    dialog.showModal();
    const first = dialog.querySelector<HTMLElement>('[autofocus], input, select, textarea, button');
    first?.focus();
    return () => {
      if (dialog.open) dialog.close();
      if (before && document.contains(before)) before.focus();
    };
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={titleId} class={wide ? 'wide' : undefined} onClose={onClose}>
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

/**
 * "Are you sure?" for a change, optionally asking for a reason. `onConfirm` may fail: its
 * message is shown in the dialog, which stays open.
 */
export function ConfirmDialog(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  reason?: 'required' | 'optional';
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
}) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const reasonId = useId();
  const errorId = useId();
  async function submit(e: Event) {
    e.preventDefault();
    if (props.reason === 'required' && reason.trim() === '') {
      setError('Give a reason: it is recorded in the audit log.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm(reason.trim());
      props.onClose();
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  }
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form onSubmit={submit}>
        <div class="dialog-body">{props.children}</div>
        {props.reason && (
          <div class="field">
            <label for={reasonId}>Reason{props.reason === 'required' ? '' : ' (optional)'}</label>
            <input
              id={reasonId}
              value={reason}
              maxLength={500}
              aria-required={props.reason === 'required'}
              aria-invalid={error !== null && reason.trim() === '' ? true : undefined}
              aria-describedby={error ? errorId : undefined}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </div>
        )}
        <ErrorText error={error} id={errorId} />
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? 'danger' : 'primary'} disabled={busy}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/**
 * A secret shown once (a new API key, a generated password): with a copy button and a
 * warning. The caller holds the secret in state only while this is open and drops it on close,
 * so it leaves both the DOM and the app's memory.
 */
export function SecretDialog({ title, label, secret, note, onClose }: { title: string; label: string; secret: string; note?: ComponentChildren; onClose: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const fieldId = useId();
  async function copy() {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Copying failed: select the text and copy it by hand.');
    }
  }
  return (
    <Modal title={title} onClose={onClose}>
      <p class="warning" role="note">
        <strong>Copy it now.</strong> This is the only time it is shown: the gateway keeps only a hash and cannot show it again.
      </p>
      {note}
      <div class="field">
        <label for={fieldId}>{label}</label>
        <input id={fieldId} class="secret" readOnly value={secret} autoComplete="off" spellcheck={false} onFocus={(e) => e.currentTarget.select()} />
      </div>
      <p role="status" aria-live="polite" class="muted">
        {copied ?? ''}
      </p>
      <div class="actions">
        <button type="button" class="primary" onClick={copy}>
          Copy
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const usd = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : integer.format(n);
}
export function money(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : usd.format(n);
}

/** `a, b ,c` → ['a','b','c']; empty → null (no restriction). */
export function listOf(text: string): string[] | null {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

export function StatusBadge({ status }: { status: string }) {
  const tone = ['active', 'ok', 'valid', 'success', 'off', 'enabled', 'fresh'].includes(status) ? 'good' : ['revoked', 'expired', 'failed', 'error', 'disabled', 'denied', 'failure', 'on'].includes(status) ? 'bad' : 'neutral';
  return <span class={`badge ${tone}`}>{status}</span>;
}
