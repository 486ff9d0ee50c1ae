import { useEffect, useState } from 'preact/hooks';
import { admin, query, type KeyPage } from '../api.js';
import { href } from '../router.js';
import { Empty, ErrorText, Loading, PageTitle, StatusBadge, Time, num, useLoad } from '../ui.js';
import { CreateKey, KeyActions } from './key-actions.js';

const PAGE = 50;

/** The key list: always one page from the API (search, status filter, limit/offset), so 10,000 keys stay fast. */
export function KeysPage() {
  const [text, setText] = useState('');
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);

  // search as one types, without a request per keystroke
  useEffect(() => {
    const t = setTimeout(() => {
      setQ(text.trim());
      setOffset(0);
    }, 250);
    return () => clearTimeout(t);
  }, [text]);

  const keys = useLoad(() => admin<KeyPage>('GET', `keys${query({ q, status, limit: PAGE, offset })}`), [q, status, offset]);
  const page = keys.data;
  // a gateway without paging answers every key: page it here
  const rows = page ? (page.total === undefined ? page.data.slice(offset, offset + PAGE) : page.data) : [];
  const total = page ? (page.total ?? page.data.length) : 0;

  return (
    <>
      <PageTitle>API keys</PageTitle>
      <div class="toolbar">
        <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for="keys-search">Search keys</label>
            <input id="keys-search" type="search" value={text} placeholder="id, name or user" onInput={(e) => setText(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="keys-status">Status</label>
            <select
              id="keys-status"
              value={status}
              onChange={(e) => {
                setStatus(e.currentTarget.value);
                setOffset(0);
              }}
            >
              <option value="">Any</option>
              <option value="active">Active</option>
              <option value="revoked">Revoked</option>
              <option value="expired">Expired</option>
            </select>
          </div>
        </form>
        <CreateKey onCreated={keys.reload} />
      </div>
      <ErrorText error={keys.error} />
      {keys.loading && !page && <Loading what="keys" />}
      {page && rows.length === 0 && <Empty>{q || status ? 'No key matches these filters.' : 'No keys yet.'}</Empty>}
      {rows.length > 0 && (
        <>
          <div class={`table-wrap${keys.loading ? ' stale' : ''}`} aria-busy={keys.loading} tabIndex={0}>
            <table>
              <caption class="visually-hidden">API keys</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key id</th>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((k) => (
                  <tr key={k.id}>
                    <th scope="row">
                      <a href={href(['keys', k.id])}>{k.name}</a>
                    </th>
                    <td>
                      <code>{k.id}</code>
                    </td>
                    <td>{k.user ?? '—'}</td>
                    <td>{k.role}</td>
                    <td>
                      <StatusBadge status={k.status} />
                    </td>
                    <td>
                      <Time iso={k.created_at} />
                    </td>
                    <td>
                      <Time iso={k.expires_at} empty="never" />
                    </td>
                    <td>
                      <Time iso={k.last_used_at} empty="never" />
                    </td>
                    <td>
                      <KeyActions k={k} onChanged={keys.reload} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={offset} count={rows.length} total={total} onOffset={setOffset} />
        </>
      )}
    </>
  );
}

function Pager({ offset, count, total, onOffset }: { offset: number; count: number; total: number; onOffset: (n: number) => void }) {
  return (
    <nav class="pager" aria-label="Key pages">
      <button type="button" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - PAGE))}>
        Previous page
      </button>
      <span role="status">
        {num(offset + 1)}–{num(offset + count)} of {num(total)}
      </span>
      <button type="button" disabled={offset + count >= total} onClick={() => onOffset(offset + PAGE)}>
        Next page
      </button>
    </nav>
  );
}
