/** Creating, revoking and rotating keys: shared by the key list and the key detail page. */
import { useState } from 'preact/hooks';
import { admin, ApiError, describe, type IssuedKey, type Key } from '../api.js';
import { ConfirmDialog, ErrorText, listOf, Modal, SecretDialog, useCan } from '../ui.js';

/** A one-time secret on screen; dropped (DOM and state) when its dialog closes. */
interface Shown {
  title: string;
  secret: string;
  id: string;
  name: string;
}

function ShownSecret({ shown, onClose }: { shown: Shown; onClose: () => void }) {
  return (
    <SecretDialog
      title={shown.title}
      label="API key"
      secret={shown.secret}
      note={
        <p>
          Key <strong>{shown.name}</strong> (<code>{shown.id}</code>). Clients send it as <code>Authorization: Bearer …</code> or <code>x-api-key</code>.
        </p>
      }
      onClose={onClose}
    />
  );
}

/** Revoke and Rotate buttons for one key (absent without llm:admin or when the key is not active). */
export function KeyActions({ k, onChanged }: { k: Key; onChanged: () => void }) {
  const canWrite = useCan('llm:admin');
  const [dialog, setDialog] = useState<'revoke' | 'rotate' | null>(null);
  const [shown, setShown] = useState<Shown | null>(null);
  const [overlap, setOverlap] = useState('24h');
  if (!canWrite) return null;
  return (
    <>
      {k.status === 'active' && (
        <span class="row-actions">
          <button type="button" onClick={() => setDialog('rotate')} aria-label={`Rotate key ${k.name}`}>
            Rotate
          </button>
          <button type="button" class="danger" onClick={() => setDialog('revoke')} aria-label={`Revoke key ${k.name}`}>
            Revoke
          </button>
        </span>
      )}
      {dialog === 'revoke' && (
        <ConfirmDialog
          title={`Revoke key ${k.name}?`}
          confirmLabel="Revoke"
          danger
          onConfirm={async () => {
            await admin<Key>('POST', `keys/${encodeURIComponent(k.id)}/revoke`);
            onChanged();
          }}
          onClose={() => setDialog(null)}
        >
          <p>
            Clients using <code>{k.id}</code> are refused from now on. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
      {dialog === 'rotate' && (
        <ConfirmDialog
          title={`Rotate key ${k.name}?`}
          confirmLabel="Rotate"
          onConfirm={async () => {
            const issued = await admin<IssuedKey>('POST', `keys/${encodeURIComponent(k.id)}/rotate`, overlap.trim() ? { overlap: overlap.trim() } : {});
            // the list reloads when the secret's dialog closes: reloading now could unmount this row, and the dialog with it
            setShown({ title: 'Your rotated API key', secret: issued.key, id: issued.id, name: issued.name });
          }}
          onClose={() => setDialog(null)}
        >
          <p>A new key with the same name, role, scopes and limits replaces this one. The old key keeps working during the overlap, then stops.</p>
          <div class="field">
            <label for="rotate-overlap">Overlap</label>
            <input id="rotate-overlap" value={overlap} placeholder="24h" aria-describedby="rotate-overlap-hint" onInput={(e) => setOverlap(e.currentTarget.value)} />
            <p class="hint" id="rotate-overlap-hint">
              How long the old key stays valid, e.g. 0s, 1h, 24h, 7d.
            </p>
          </div>
        </ConfirmDialog>
      )}
      {shown && (
        <ShownSecret
          shown={shown}
          onClose={() => {
            setShown(null);
            onChanged();
          }}
        />
      )}
    </>
  );
}

const FIELDS = ['name', 'user', 'role', 'instances', 'models', 'rpm', 'tpm', 'budget_usd', 'expires_in'] as const;
type FieldName = (typeof FIELDS)[number];

/**
 * The control an API error belongs to: a body error names the field first (`rpm: must be ...`,
 * `instances.0: ...`); an unknown role is said in words.
 */
function fieldOf(message: string): FieldName | null {
  const f = message.split(/[:.]/)[0]!.trim() as FieldName;
  if (FIELDS.includes(f)) return f;
  return message.startsWith('unknown role') ? 'role' : null;
}

/** "Create key" and its form; the new secret is shown once afterwards. */
export function CreateKey({ onCreated }: { onCreated: () => void }) {
  const canWrite = useCan('llm:admin');
  const [open, setOpen] = useState(false);
  const [shown, setShown] = useState<Shown | null>(null);
  if (!canWrite) return null;
  return (
    <>
      <button type="button" class="primary" onClick={() => setOpen(true)}>
        Create key
      </button>
      {open && (
        <CreateKeyDialog
          onClose={() => setOpen(false)}
          onCreated={(issued) => {
            setOpen(false);
            setShown({ title: 'Your new API key', secret: issued.key, id: issued.id, name: issued.name });
            onCreated();
          }}
        />
      )}
      {shown && <ShownSecret shown={shown} onClose={() => setShown(null)} />}
    </>
  );
}

function CreateKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (k: IssuedKey) => void }) {
  const [v, setV] = useState<Record<FieldName, string>>({ name: '', user: '', role: '', instances: '', models: '', rpm: '', tpm: '', budget_usd: '', expires_in: '' });
  const [error, setError] = useState<{ field: FieldName | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (f: FieldName) => (e: { currentTarget: HTMLInputElement }) => setV({ ...v, [f]: e.currentTarget.value });

  async function submit(e: Event) {
    e.preventDefault();
    setError(null);
    const number = (f: FieldName) => (v[f].trim() === '' ? undefined : Number(v[f]));
    const body = {
      name: v.name.trim(),
      ...(v.user.trim() ? { user: v.user.trim() } : {}),
      ...(v.role.trim() ? { role: v.role.trim() } : {}),
      ...(listOf(v.instances) ? { instances: listOf(v.instances) } : {}),
      ...(listOf(v.models) ? { models: listOf(v.models) } : {}),
      ...(number('rpm') !== undefined ? { rpm: number('rpm') } : {}),
      ...(number('tpm') !== undefined ? { tpm: number('tpm') } : {}),
      ...(number('budget_usd') !== undefined ? { budget_usd: number('budget_usd') } : {}),
      ...(v.expires_in.trim() ? { expires_in: v.expires_in.trim() } : {}),
    };
    setBusy(true);
    try {
      onCreated(await admin<IssuedKey>('POST', 'keys', body));
    } catch (err) {
      const message = describe(err);
      setError({ field: err instanceof ApiError ? fieldOf(message) : null, message });
      setBusy(false);
    }
  }

  const field = (f: FieldName, label: string, opts: { type?: 'text' | 'number'; hint?: string; required?: boolean; placeholder?: string; list?: string; step?: string } = {}) => {
    const id = `key-${f}`;
    const described = [opts.hint ? `${id}-hint` : '', error?.field === f ? `${id}-error` : ''].filter(Boolean).join(' ');
    return (
      <div class="field">
        <label for={id}>{label}</label>
        <input
          id={id}
          type={opts.type ?? 'text'}
          value={v[f]}
          required={opts.required}
          placeholder={opts.placeholder}
          list={opts.list}
          step={opts.step}
          min={opts.type === 'number' ? '0' : undefined}
          aria-invalid={error?.field === f ? true : undefined}
          aria-describedby={described || undefined}
          onInput={set(f)}
        />
        {opts.hint && (
          <p class="hint" id={`${id}-hint`}>
            {opts.hint}
          </p>
        )}
        {error?.field === f && <ErrorText error={error.message} id={`${id}-error`} />}
      </div>
    );
  };

  return (
    <Modal title="Create an API key" onClose={onClose} wide>
      <form onSubmit={submit}>
        <div class="grid">
          {field('name', 'Name', { required: true })}
          {field('user', 'User', { hint: 'Optional: who the key belongs to (usage and budgets by user).' })}
          {field('role', 'Role', { list: 'key-roles', placeholder: 'developer', hint: 'admin, developer, viewer or a custom role; default developer.' })}
          <datalist id="key-roles">
            <option value="developer" />
            <option value="viewer" />
            <option value="admin" />
          </datalist>
          {field('instances', 'Instances', { hint: 'Comma-separated; empty: every instance.' })}
          {field('models', 'Models', { hint: 'Comma-separated; empty: every model.' })}
          {field('rpm', 'Requests per minute', { type: 'number', step: '1', hint: 'Empty: no limit.' })}
          {field('tpm', 'Tokens per minute', { type: 'number', step: '1', hint: 'Empty: no limit.' })}
          {field('budget_usd', 'Budget (USD)', { type: 'number', step: '0.01', hint: 'Empty: no budget.' })}
          {field('expires_in', 'Expires in', { placeholder: '30d', hint: 'A duration such as 24h, 30d or 365d; empty: never.' })}
        </div>
        {error && error.field === null && <ErrorText error={error.message} />}
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Create
          </button>
        </div>
      </form>
    </Modal>
  );
}
