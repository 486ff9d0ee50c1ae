import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freshDatabase, requireService } from '../helpers/services.js';
import type { AuditEvent } from '../../src/store/types.js';

/**
 * The admin console's lists: `GET /admin/v1/keys` filtered and paged, `GET /admin/v1/audit`
 * filtered with cursor paging, `GET /admin/v1/audit/:id`; each through HTTP on a real gateway,
 * once with its SQLite store and once with PostgreSQL.
 */

const postgres = await requireService('postgres');

type Json = Record<string, unknown>;

interface Answer {
  status: number;
  json: Json;
  text: string;
}

async function get(gw: TestGateway, path: string, key: string): Promise<Answer> {
  const res = await fetch(gw.url + path, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Json) : {} };
}

async function post(gw: TestGateway, path: string, key: string, body: unknown = {}): Promise<Answer> {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Json) : {} };
}

const data = (a: Answer) => a.json['data'] as Json[];
const ids = (a: Answer) => data(a).map((k) => k['id'] as string);
const errorOf = (a: Answer) => a.json['error'] as Record<string, string>;

/** A store for the gateway: its `storage` section (SQLite when empty) and how to remove it afterwards. */
interface Backend {
  storage(): Promise<{ storage: Record<string, unknown>; cleanup(): Promise<void> }>;
}

const sqlite: Backend = { storage: async () => ({ storage: {}, cleanup: async () => {} }) };

const postgresBackend: Backend = {
  async storage() {
    const db = await freshDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-admin-lists-'));
    const urlFile = join(dir, 'postgres-url');
    writeFileSync(urlFile, db.url, { mode: 0o600 });
    return {
      storage: { postgres: { url: `\${file:${urlFile}}`, pool_size: 2 } },
      async cleanup() {
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

listsSuite('sqlite', sqlite, false);
listsSuite('postgres', postgresBackend, postgres.skip);

function listsSuite(name: string, backend: Backend, skip: string | false): void {
  describe(`admin API lists for the console: keys and audit (${name})`, { skip }, () => {
    let gw: TestGateway;
    let cleanup = async () => {};
    let admin: string;
    let adminId: string;
    let viewer: string;
    /** Keys this file made, by name. */
    const made: Record<string, string> = {};

    before(async () => {
      // Never called: the instances only have to exist for the keys scoped to them.
      const instance = { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:ADMIN_LISTS_TEST_OPENAI_KEY}' } };
      process.env['ADMIN_LISTS_TEST_OPENAI_KEY'] = 'sk-admin-lists-test-unused-0123456789';
      const store = await backend.storage();
      cleanup = store.cleanup;
      gw = await startGateway({ auth: { api_keys: { bootstrap_admin: false } }, instances: { primary: instance, backup: instance }, storage: store.storage });
      const a = await gw.issued({ name: 'lists-admin', role: 'admin', user: 'ops@example.com' });
      admin = a.key;
      adminId = a.id;
      viewer = await gw.key({ name: 'lists-viewer', role: 'viewer' });
      // Oldest first, so the newest-first list is the reverse.
      const specs: Array<[string, Json]> = [
        ['Console-CI-1', { user: 'ci@example.com', role: 'developer', instances: ['primary'] }],
        ['console-ci-2', { user: 'ci@example.com', role: 'developer', instances: ['backup'] }],
        ['console-ops', { user: 'ops2@example.com', role: 'admin' }],
      ];
      for (const [name, body] of specs) {
        const created = await post(gw, '/admin/v1/keys', admin, { name, ...body });
        assert.equal(created.status, 201, created.text);
        made[name] = created.json['id'] as string;
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal((await post(gw, `/admin/v1/keys/${made['console-ci-2']!}/revoke`, admin)).status, 200);
      made['console-old'] = (await gw.issued({ name: 'console-old', expiresAt: Date.now() - 60_000 })).id;
    });

    after(async () => {
      await gw?.close();
      await cleanup();
    });

    test('keys: without limit every match is listed, with its total; filters by text, status, role, user and instance', async () => {
      const all = await get(gw, '/admin/v1/keys', admin);
      assert.equal(all.status, 200);
      assert.equal(data(all).length, 6, 'the two test keys and the four console keys');
      assert.equal(all.json['total'], 6);
      assert.equal(all.json['limit'], null);
      assert.equal(all.json['offset'], 0);
      const created = data(all).map((k) => Date.parse(k['created_at'] as string));
      assert.deepEqual(created, [...created].sort((a, b) => b - a), 'newest first');

      const console = await get(gw, '/admin/v1/keys?q=CONSOLE', admin);
      assert.deepEqual(ids(console), [made['console-old'], made['console-ops'], made['console-ci-2'], made['Console-CI-1']]);
      assert.equal(console.json['total'], 4);
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?q=console-ci', admin)), [made['console-ci-2'], made['Console-CI-1']]);
      assert.deepEqual(ids(await get(gw, `/admin/v1/keys?q=${made['console-ops']!.slice(3, 12)}`, admin)), [made['console-ops']], 'q matches the id');
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?q=ops2%40EXAMPLE', admin)), [made['console-ops']], 'q matches the user');

      const revoked = await get(gw, '/admin/v1/keys?status=revoked', admin);
      assert.deepEqual(ids(revoked), [made['console-ci-2']]);
      assert.equal(data(revoked)[0]!['status'], 'revoked');
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?status=expired', admin)), [made['console-old']]);
      const active = await get(gw, '/admin/v1/keys?status=active&q=console', admin);
      assert.deepEqual(ids(active), [made['console-ops'], made['Console-CI-1']]);
      assert.ok(data(active).every((k) => k['status'] === 'active'));
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?role=admin', admin)), [made['console-ops'], adminId]);
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?user=ci%40example.com', admin)), [made['console-ci-2'], made['Console-CI-1']]);
      // Instance: keys allowed to use it (unscoped keys too), not the ones scoped elsewhere.
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?instance=primary&q=console', admin)), [made['console-old'], made['console-ops'], made['Console-CI-1']]);
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?instance=backup&status=active&q=console', admin)), [made['console-ops']]);
      // An empty parameter is no filter (a console form sends ?role= for "any").
      assert.equal(data(await get(gw, '/admin/v1/keys?role=&status=&q=', admin)).length, 6);
      const none = await get(gw, '/admin/v1/keys?q=no-such-key-anywhere', admin);
      assert.deepEqual(none.json, { data: [], total: 0, limit: null, offset: 0 });
    });

    test('keys: pages with limit and offset keep the total, and add up to the whole list', async () => {
      const whole = ids(await get(gw, '/admin/v1/keys?q=console', admin));
      const pages: string[] = [];
      for (const offset of [0, 3, 6]) {
        const page = await get(gw, `/admin/v1/keys?q=console&limit=3&offset=${offset}`, admin);
        assert.equal(page.status, 200);
        assert.equal(page.json['total'], 4);
        assert.equal(page.json['limit'], 3);
        assert.equal(page.json['offset'], offset);
        pages.push(...ids(page));
      }
      assert.deepEqual(pages, whole);
      assert.deepEqual(ids(await get(gw, '/admin/v1/keys?q=console&offset=3', admin)), whole.slice(3), 'offset without limit: the rest');
      // Never a hash or secret in a page.
      assert.ok(!/secret_?hash|argon2/i.test((await get(gw, '/admin/v1/keys?limit=500', admin)).text));
    });

    test('keys: a bad parameter is a 400 naming it; a viewer (admin:read) can search too', async () => {
      const cases: Array<[string, string]> = [
        ['limit=0', 'limit'],
        ['limit=501', 'limit'],
        ['limit=ten', 'limit'],
        ['limit=2.5', 'limit'],
        ['offset=-1', 'offset'],
        ['status=lost', 'status'],
        [`q=${'x'.repeat(300)}`, 'q'],
        [`role=${'r'.repeat(65)}`, 'role'],
      ];
      for (const [query, name] of cases) {
        const res = await get(gw, `/admin/v1/keys?${query}`, admin);
        assert.equal(res.status, 400, query);
        assert.equal(errorOf(res)['code'], 'invalid_request', query);
        assert.match(errorOf(res)['message']!, new RegExp(`"${name}"`), query);
      }
      const seen = await get(gw, '/admin/v1/keys?status=active&limit=2', viewer);
      assert.equal(seen.status, 200);
      assert.equal(data(seen).length, 2);
    });

    describe('audit', () => {
      const now = Date.now();
      /** Events recorded as the gateway records them, at known times in the last two hours. */
      const seeded: AuditEvent[] = [
        seed(now - 7_200_000, { requestId: 'seed-req-Alpha', instance: 'primary', user: 'seed-user' }),
        seed(now - 6_000_000, { result: 'denied', reason: 'model_not_in_scope', instance: 'backup', user: 'seed-user', path: '/v1/Embeddings' }),
        seed(now - 5_000_000, { result: 'failure', reason: 'bad_secret', instance: 'backup' }),
        seed(now - 4_000_000, { instance: 'primary', user: 'someone-else' }),
      ];

      function seed(time: number, overrides: Partial<AuditEvent>): AuditEvent {
        return {
          time,
          requestId: `seed-${time}`,
          event: 'seeded',
          result: 'success',
          reason: null,
          method: 'api_key',
          keyId: 'seedkey',
          user: null,
          clientAddress: '192.0.2.1',
          httpMethod: 'POST',
          path: '/transparent/primary/v1/chat/completions',
          instance: null,
          ...overrides,
        };
      }

      before(async () => {
        for (const e of seeded) gw.app.audit.record(e);
        // Three refused authentications: auth failures, recorded by the gateway itself.
        for (let i = 0; i < 3; i++) assert.equal((await get(gw, '/admin/v1/keys', 'llmp_wrongwrongwr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status, 401);
        await gw.settle();
      });

      test('every event carries an id; cursor pages follow each other to the end, where next_cursor is null', async () => {
        const whole = await get(gw, '/admin/v1/audit?limit=1000', admin);
        assert.equal(whole.status, 200);
        assert.equal(whole.json['next_cursor'], null, 'everything fits: no next page');
        const all = data(whole);
        assert.ok(all.length >= 11, `admin changes, refused authentications and seeded events (${all.length})`);
        assert.ok(all.every((e) => typeof e['id'] === 'string' && e['id'] !== ''));
        assert.equal(new Set(all.map((e) => e['id'])).size, all.length, 'ids are unique');
        const times = all.map((e) => Date.parse(e['time'] as string));
        assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');

        const paged: Json[] = [];
        let cursor: string | null = null;
        for (let i = 0; i < 100; i++) {
          const page: Answer = await get(gw, `/admin/v1/audit?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, admin);
          assert.equal(page.status, 200, page.text);
          assert.ok(data(page).length <= 3);
          paged.push(...data(page));
          cursor = page.json['next_cursor'] as string | null;
          if (cursor === null) break;
          assert.equal(data(page).length, 3, 'only the last page is short');
        }
        assert.equal(cursor, null);
        assert.deepEqual(paged.map((e) => e['id']), all.map((e) => e['id']), 'every event once, in order');

        // A page that ends exactly at the last event says so.
        const exact = await get(gw, `/admin/v1/audit?event=seeded&limit=${seeded.length}`, admin);
        assert.equal(data(exact).length, seeded.length);
        assert.equal(exact.json['next_cursor'], null);
      });

      test('filters: time window, event, result, key, user, instance and text; combined with a cursor', async () => {
        const iso = (t: number) => new Date(t).toISOString();
        const reqIds = async (query: string) => {
          const res = await get(gw, `/admin/v1/audit?${query}`, admin);
          assert.equal(res.status, 200, `${query}: ${res.text}`);
          return data(res).map((e) => e['request_id']);
        };
        const r = seeded.map((e) => e.requestId);
        assert.deepEqual(await reqIds('event=seeded'), [r[3], r[2], r[1], r[0]]);
        assert.deepEqual(await reqIds(`event=seeded&since=${iso(seeded[1]!.time)}&until=${iso(seeded[3]!.time)}`), [r[2], r[1]], 'since inclusive, until exclusive');
        assert.deepEqual(await reqIds('event=seeded&since=6500s'), [r[3], r[2], r[1]], 'since as a duration');
        assert.deepEqual(await reqIds('event=seeded&until=6500s'), [r[0]], 'until as a duration');
        assert.deepEqual(await reqIds('event=seeded&instance=backup'), [r[2], r[1]]);
        assert.deepEqual(await reqIds('user=seed-user'), [r[1], r[0]]);
        assert.deepEqual(await reqIds('key_id=seedkey&result=failure'), [r[2]]);
        assert.deepEqual(await reqIds('q=EMBEDDINGS'), [r[1]], 'q: the path');
        assert.deepEqual(await reqIds('q=Bad_Secret&event=seeded'), [r[2]], 'q: the reason');
        assert.deepEqual(await reqIds('q=seed-req-alpha'), [r[0]], 'q: the request id');
        assert.deepEqual(await reqIds('event=seeded&user=nobody'), []);

        const refused = await get(gw, '/admin/v1/audit?event=auth&result=failure&q=/admin/v1/keys', admin);
        assert.equal(data(refused).length, 3);
        assert.ok(data(refused).every((e) => e['path'] === '/admin/v1/keys' && e['reason'] !== null));

        const admins = await get(gw, `/admin/v1/audit?event=admin&key_id=${adminId}`, admin);
        assert.ok(data(admins).length >= 4, 'the key creations and the revocation');
        assert.ok(data(admins).every((e) => e['event'] === 'admin' && e['key_id'] === adminId && e['user'] === 'ops@example.com'));

        const first = await get(gw, '/admin/v1/audit?event=seeded&instance=primary&limit=1', admin);
        assert.deepEqual(data(first).map((e) => e['request_id']), [r[3]]);
        const second = await get(gw, `/admin/v1/audit?event=seeded&instance=primary&limit=1&cursor=${encodeURIComponent(first.json['next_cursor'] as string)}`, admin);
        assert.deepEqual(data(second).map((e) => e['request_id']), [r[0]]);
        assert.equal(second.json['next_cursor'], null);
      });

      test('GET audit/:id shows one event with its detail (before/after of an admin change); unknown ids are 404', async () => {
        const list = await get(gw, '/admin/v1/audit?event=admin&q=key.revoke', admin);
        const listed = data(list).find((e) => (e['detail'] as Json)['target'] === made['console-ci-2']);
        assert.ok(listed, 'the revocation is listed');
        const shown = await get(gw, `/admin/v1/audit/${listed['id'] as string}`, admin);
        assert.equal(shown.status, 200);
        assert.deepEqual(shown.json, listed);
        const detail = shown.json['detail'] as Record<string, Json>;
        assert.equal(detail['before']!['status'], 'active');
        assert.equal(detail['after']!['status'], 'revoked');
        assert.equal((await get(gw, `/admin/v1/audit/${listed['id'] as string}`, viewer)).status, 200, 'admin:read');

        for (const id of ['999999999', '0', 'abc', '1e3', '12345678901234567890']) {
          const res = await get(gw, `/admin/v1/audit/${id}`, admin);
          assert.equal(res.status, 404, id);
          assert.equal(errorOf(res)['code'], 'not_found', id);
        }
      });

      test('a bad parameter is a 400 naming it', async () => {
        const cases: Array<[string, string]> = [
          ['limit=0', 'limit'],
          ['limit=1001', 'limit'],
          ['since=yesterday-ish', 'since'],
          ['until=soon', 'until'],
          ['since=1h&until=2h', 'until'],
          ['result=maybe', 'result'],
          ['cursor=not-a-cursor', 'cursor'],
          [`cursor=${Buffer.from('12.x').toString('base64url')}`, 'cursor'],
          [`q=${'q'.repeat(300)}`, 'q'],
          [`event=${'e'.repeat(65)}`, 'event'],
        ];
        for (const [query, name] of cases) {
          const res = await get(gw, `/admin/v1/audit?${query}`, admin);
          assert.equal(res.status, 400, query);
          assert.equal(errorOf(res)['code'], 'invalid_request', query);
          assert.match(errorOf(res)['message']!, new RegExp(`"${name}"`), query);
        }
      });
    });
  });
}
