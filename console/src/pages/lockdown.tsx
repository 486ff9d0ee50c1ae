import { useState } from 'preact/hooks';
import { admin, ApiError, type Credentials, type Lockdown, type Overview } from '../api.js';
import { ConfirmDialog, Empty, ErrorText, Loading, PageTitle, StatusBadge, Time, useCan, useLoad } from '../ui.js';

/** The emergency brake: all inference off, or one instance off; each change needs a reason and a confirmation. */
export function LockdownPage() {
  const state = useLoad(() => admin<Lockdown>('GET', 'lockdown'), []);
  // every configured instance, not only the disabled ones the lockdown state lists
  const overview = useLoad(async () => {
    try {
      return (await admin<Overview>('GET', 'overview')).instances.map((i) => i.name);
    } catch (err) {
      // a gateway without the overview endpoint: the credential list names the instances too
      if (err instanceof ApiError && err.status === 404) return (await admin<Credentials>('GET', 'credentials')).instances.map((i) => i.instance);
      throw err;
    }
  }, []);
  const canWrite = useCan('llm:admin');
  const [dialog, setDialog] = useState<{ kind: 'global'; on: boolean } | { kind: 'instance'; name: string; disabled: boolean } | null>(null);
  const l = state.data;
  const names = [...new Set([...(overview.data ?? []), ...Object.keys(l?.disabled_instances ?? {})])].sort();
  const close = () => setDialog(null);
  const changed = () => {
    state.reload();
    overview.reload();
  };

  return (
    <>
      <PageTitle>Lockdown</PageTitle>
      <ErrorText error={state.error} />
      {state.loading && !l && <Loading what="the lockdown state" />}
      {l && (
        <section aria-labelledby="global-title" class={`card ${l.on ? 'alarm' : ''}`}>
          <h2 id="global-title">Global lockdown</h2>
          <p role="status">
            <StatusBadge status={l.on ? 'on' : 'off'} />{' '}
            {l.on ? (
              <>
                Lockdown is <strong>on</strong>: every inference request is refused. Since <Time iso={l.since} />
                {l.actor ? `, by ${l.actor}` : ''}
                {l.source ? ` (${l.source})` : ''}
                {l.reason ? `. Reason: ${l.reason}` : ''}.
              </>
            ) : (
              <>Lockdown is off: inference requests are served.</>
            )}
          </p>
          {canWrite && (
            <button type="button" class={l.on ? 'primary' : 'danger'} onClick={() => setDialog({ kind: 'global', on: !l.on })}>
              {l.on ? 'Turn lockdown off' : 'Turn lockdown on'}
            </button>
          )}
        </section>
      )}
      {l && (
        <section aria-labelledby="instances-lock-title">
          <h2 id="instances-lock-title">Instances</h2>
          <ErrorText error={overview.error} />
          {overview.loading && !overview.data && <Loading what="instances" />}
          {overview.data && names.length === 0 && <Empty>No provider instances are configured.</Empty>}
          {names.length > 0 && (
            <div class="table-wrap" tabIndex={0}>
              <table>
                <caption class="visually-hidden">Instance switches</caption>
                <thead>
                  <tr>
                    <th scope="col">Instance</th>
                    <th scope="col">State</th>
                    <th scope="col">Reason</th>
                    <th scope="col">By</th>
                    <th scope="col">Since</th>
                    {canWrite && (
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {names.map((name) => {
                    const d = l.disabled_instances[name];
                    return (
                      <tr key={name}>
                        <th scope="row">{name}</th>
                        <td>
                          <StatusBadge status={d ? 'disabled' : 'enabled'} />
                        </td>
                        <td class="wrap">{d?.reason ?? '—'}</td>
                        <td>{d?.actor ?? '—'}</td>
                        <td>{d ? <Time iso={d.since} /> : '—'}</td>
                        {canWrite && (
                          <td>
                            <button type="button" class={d ? undefined : 'danger'} onClick={() => setDialog({ kind: 'instance', name, disabled: !d })}>
                              {d ? `Enable ${name}` : `Disable ${name}`}
                            </button>
                          </td>
                        )}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}
      {dialog?.kind === 'global' && (
        <ConfirmDialog
          title={dialog.on ? 'Turn lockdown on?' : 'Turn lockdown off?'}
          confirmLabel={dialog.on ? 'Turn lockdown on' : 'Turn lockdown off'}
          danger={dialog.on}
          reason="required"
          onConfirm={async (reason) => {
            await admin<Lockdown>('POST', 'lockdown', { on: dialog.on, reason });
            changed();
          }}
          onClose={close}
        >
          <p>{dialog.on ? 'Every inference request on every instance is refused until lockdown is turned off. The admin API and this console keep working.' : 'Inference requests are served again (instances disabled one by one stay disabled).'}</p>
        </ConfirmDialog>
      )}
      {dialog?.kind === 'instance' && (
        <ConfirmDialog
          title={dialog.disabled ? `Disable instance ${dialog.name}?` : `Enable instance ${dialog.name}?`}
          confirmLabel={dialog.disabled ? `Disable ${dialog.name}` : `Enable ${dialog.name}`}
          danger={dialog.disabled}
          reason="required"
          onConfirm={async (reason) => {
            await admin<Lockdown>('POST', `lockdown/instances/${encodeURIComponent(dialog.name)}`, { disabled: dialog.disabled, reason });
            changed();
          }}
          onClose={close}
        >
          <p>{dialog.disabled ? `Requests routed to ${dialog.name} are refused until it is enabled again.` : `${dialog.name} serves requests again.`}</p>
        </ConfirmDialog>
      )}
    </>
  );
}
