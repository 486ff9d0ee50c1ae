import { useState } from 'preact/hooks';
import { admin, describe, type TotpEnrolment, type User } from '../api.js';
import { ConfirmDialog, Empty, ErrorText, Loading, Modal, PageTitle, SecretDialog, StatusBadge, Time, useCan, useLoad } from '../ui.js';

/** Basic-auth users: create, disable/enable, reset password, TOTP enrolment. */
export function UsersPage() {
  const users = useLoad(() => admin<{ data: User[] }>('GET', 'users'), []);
  const canWrite = useCan('llm:admin');
  const list = users.data?.data;
  return (
    <>
      <PageTitle>Users</PageTitle>
      <p class="muted">People who sign in with a user name and password (HTTP Basic), optionally with a TOTP code.</p>
      {canWrite && (
        <div class="toolbar">
          <CreateUser onCreated={users.reload} />
        </div>
      )}
      <ErrorText error={users.error} />
      {users.loading && !list && <Loading what="users" />}
      {list && list.length === 0 && <Empty>No users yet.</Empty>}
      {list && list.length > 0 && (
        <div class="table-wrap" tabIndex={0}>
          <table>
            <caption class="visually-hidden">Users</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">TOTP</th>
                <th scope="col">Password changed</th>
                <th scope="col">Created</th>
                {canWrite && (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {list.map((u) => (
                <tr key={u.name}>
                  <th scope="row">{u.name}</th>
                  <td>{u.role}</td>
                  <td>
                    <StatusBadge status={u.status} />
                  </td>
                  <td>{u.totp === undefined ? '—' : u.totp ? 'enrolled' : 'no'}</td>
                  <td>
                    <Time iso={u.password_changed_at} empty="never" />
                  </td>
                  <td>
                    <Time iso={u.created_at} />
                  </td>
                  {canWrite && (
                    <td>
                      <UserActions u={u} onChanged={users.reload} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [role, setRole] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<{ name: string; password: string } | null>(null);

  function close() {
    setOpen(false);
    setName('');
    setRole('');
    setPassword('');
    setError(null);
  }
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await admin<User & { password?: string }>('POST', 'users', { name: name.trim(), ...(role.trim() ? { role: role.trim() } : {}), ...(password ? { password } : {}) });
      close();
      if (created.password) setShown({ name: created.name, password: created.password });
      onCreated();
    } catch (err) {
      setError(describe(err));
    }
    setBusy(false);
  }
  return (
    <>
      <button type="button" class="primary" onClick={() => setOpen(true)}>
        Create user
      </button>
      {open && (
        <Modal title="Create a user" onClose={close}>
          <form onSubmit={submit}>
            <div class="field">
              <label for="user-name">User name</label>
              <input id="user-name" value={name} required autoComplete="off" onInput={(e) => setName(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="user-role">Role</label>
              <input id="user-role" value={role} list="user-roles" placeholder="developer" aria-describedby="user-role-hint" onInput={(e) => setRole(e.currentTarget.value)} />
              <datalist id="user-roles">
                <option value="developer" />
                <option value="viewer" />
                <option value="admin" />
              </datalist>
              <p class="hint" id="user-role-hint">
                Default developer.
              </p>
            </div>
            <div class="field">
              <label for="user-password">Password</label>
              <input id="user-password" type="password" value={password} autoComplete="new-password" aria-describedby="user-password-hint" onInput={(e) => setPassword(e.currentTarget.value)} />
              <p class="hint" id="user-password-hint">
                12 characters or more. Leave empty to generate one (shown once).
              </p>
            </div>
            <ErrorText error={error} />
            <div class="actions">
              <button type="button" onClick={close}>
                Cancel
              </button>
              <button type="submit" class="primary" disabled={busy}>
                Create
              </button>
            </div>
          </form>
        </Modal>
      )}
      {shown && <SecretDialog title={`Password for ${shown.name}`} label="Generated password" secret={shown.password} onClose={() => setShown(null)} />}
    </>
  );
}

type Dialog = 'disable' | 'enable' | 'password' | 'totp' | 'remove-totp';

function UserActions({ u, onChanged }: { u: User; onChanged: () => void }) {
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [password, setPassword] = useState<string | null>(null);
  const [enrolment, setEnrolment] = useState<TotpEnrolment | null>(null);
  const path = `users/${encodeURIComponent(u.name)}`;
  const close = () => setDialog(null);
  return (
    <span class="row-actions">
      {u.status === 'active' ? (
        <button type="button" onClick={() => setDialog('disable')} aria-label={`Disable user ${u.name}`}>
          Disable
        </button>
      ) : (
        <button type="button" onClick={() => setDialog('enable')} aria-label={`Enable user ${u.name}`}>
          Enable
        </button>
      )}
      <button type="button" onClick={() => setDialog('password')} aria-label={`Reset password of ${u.name}`}>
        Reset password
      </button>
      {u.totp ? (
        <button type="button" onClick={() => setDialog('remove-totp')} aria-label={`Remove TOTP of ${u.name}`}>
          Remove TOTP
        </button>
      ) : (
        <button type="button" onClick={() => setDialog('totp')} aria-label={`Enrol TOTP for ${u.name}`}>
          Enrol TOTP
        </button>
      )}
      {(dialog === 'disable' || dialog === 'enable') && (
        <ConfirmDialog
          title={`${dialog === 'disable' ? 'Disable' : 'Enable'} user ${u.name}?`}
          confirmLabel={dialog === 'disable' ? 'Disable' : 'Enable'}
          danger={dialog === 'disable'}
          onConfirm={async () => {
            await admin('POST', `${path}/${dialog}`);
            onChanged();
          }}
          onClose={close}
        >
          <p>{dialog === 'disable' ? `${u.name} can no longer sign in; their existing sessions end.` : `${u.name} can sign in again.`}</p>
        </ConfirmDialog>
      )}
      {dialog === 'password' && (
        <ConfirmDialog
          title={`Reset the password of ${u.name}?`}
          confirmLabel="Reset password"
          danger
          onConfirm={async () => {
            const answer = await admin<User & { password?: string }>('POST', `${path}/password`, {});
            if (answer.password) setPassword(answer.password);
            onChanged();
          }}
          onClose={close}
        >
          <p>A new password is generated and shown once; the old one stops working.</p>
        </ConfirmDialog>
      )}
      {dialog === 'totp' && (
        <ConfirmDialog
          title={`Enrol TOTP for ${u.name}?`}
          confirmLabel="Enrol"
          onConfirm={async () => {
            setEnrolment(await admin<TotpEnrolment>('POST', `${path}/totp`));
          }}
          onClose={close}
        >
          <p>A new TOTP secret and backup codes are generated and shown once. {u.name} then needs a code to sign in.</p>
        </ConfirmDialog>
      )}
      {dialog === 'remove-totp' && (
        <ConfirmDialog
          title={`Remove TOTP of ${u.name}?`}
          confirmLabel="Remove TOTP"
          danger
          onConfirm={async () => {
            await admin('DELETE', `${path}/totp`);
            onChanged();
          }}
          onClose={close}
        >
          <p>{u.name} signs in with the password alone afterwards.</p>
        </ConfirmDialog>
      )}
      {password && <SecretDialog title={`New password for ${u.name}`} label="Generated password" secret={password} onClose={() => setPassword(null)} />}
      {enrolment && (
        <TotpDialog
          e={enrolment}
          onClose={() => {
            setEnrolment(null);
            onChanged();
          }}
        />
      )}
    </span>
  );
}

/** The enrolment, shown once: QR code, the secret for manual entry, backup codes. */
function TotpDialog({ e, onClose }: { e: TotpEnrolment; onClose: () => void }) {
  // base64 of the SVG's UTF-8 bytes: img-src allows data: URLs, and an <img> runs no script the SVG might hold
  const src = `data:image/svg+xml;base64,${btoa(String.fromCharCode(...new TextEncoder().encode(e.qr_svg)))}`;
  return (
    <Modal title={`TOTP for ${e.user}`} onClose={onClose} wide>
      <p class="warning" role="note">
        <strong>Shown once.</strong> Scan the code now and give the backup codes to {e.user}; they cannot be shown again.
      </p>
      <div class="totp">
        <img src={src} alt={`QR code to add ${e.user} to an authenticator app`} width={200} height={200} />
        <div>
          <div class="field">
            <label for="totp-secret">Secret (for manual entry)</label>
            <input id="totp-secret" class="secret" readOnly value={e.secret} onFocus={(ev) => ev.currentTarget.select()} />
          </div>
          <h3>Backup codes</h3>
          <ul class="codes" aria-label="Backup codes">
            {e.backup_codes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </div>
      </div>
      <div class="actions">
        <button type="button" class="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Modal>
  );
}
