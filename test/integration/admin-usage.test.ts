import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UsageRow } from '../../src/store/governance-types.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { chat, openaiInstances, waitFinished } from './governance-support.js';

/**
 * The console's usage views through HTTP: filters and CSV export of /admin/v1/usage, bucketed
 * series (/admin/v1/usage/series) and the overview. Rows at known past times are written to the
 * gateway's store; recent ones come from real requests through the gateway.
 */

const PROVIDER_KEY = 'sk-provider-admin-usage-5f1e2d3c4b5a6978';
process.env['ADMIN_USAGE_TEST_KEY'] = PROVIDER_KEY;
const H = 3_600_000;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function get(gw: TestGateway, path: string, key: string): Promise<Answer> {
  const res = await fetch(gw.url + path, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  if (res.headers.get('content-type')?.startsWith('application/json')) json = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, text, json };
}

const message = (a: Answer) => (a.json['error'] as { message: string }).message;
const iso = (ms: number) => new Date(ms).toISOString();

describe('admin API: usage filters, CSV, series and the overview', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let admin: string;
  let viewer: string;
  let developer: string;
  /** Five whole hours ago: every seeded row is older than the 1h window and inside the 24h one. */
  // An hour at least 5 h ago whose next three hours stay within one UTC day (the 1d bucket below).
  const T0 = ((start) => Math.min(start, Math.floor(start / (24 * H)) * 24 * H + 21 * H))(Math.floor(Date.now() / H) * H - 5 * H);
  const row = (over: Partial<UsageRow>): UsageRow => ({
    time: T0,
    requestId: 'seed',
    keyId: 'k-a',
    user: 'alice',
    principalKind: 'api-key',
    instance: 'oai',
    model: 'gpt-4o',
    inputTokens: 10,
    outputTokens: 5,
    costMicros: 0,
    latencyMs: 1,
    status: 200,
    ...over,
  });

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({ instances: openaiInstances(emu.url, 'ADMIN_USAGE_TEST_KEY', ['oai', 'other']) });
    admin = await gw.key({ name: 'admin', role: 'admin' });
    viewer = await gw.key({ name: 'viewer', role: 'viewer' });
    developer = await gw.key({ name: 'dev', role: 'developer' });
    await gw.app.store.governance.usage.append([
      row({ time: T0 + 60_000, costMicros: 1_000_000 }),
      row({ time: T0 + 120_000, model: '=2+3', status: 500 }),
      row({ time: T0 + H + 300_000, keyId: 'k-b', user: 'bob', instance: 'other', model: 'gpt,"x"', costMicros: 2_000_000, status: 429 }),
      row({ time: T0 + 2 * H + 60_000, costMicros: 500_000 }),
      // A day earlier: 22 keys with growing cost, for the cap on series.
      ...Array.from({ length: 22 }, (_, i) => row({ time: T0 - 24 * H, keyId: `many-${String(i).padStart(2, '0')}`, costMicros: (i + 1) * 1000 })),
    ]);
  });

  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('usage filters by key, user, instance and model; without them the answer is as before', async () => {
    const window = `since=${iso(T0)}&until=${iso(T0 + 3 * H)}`;
    const byModel = await get(gw, `/admin/v1/usage?by=model&${window}&key_id=k-a`, viewer);
    assert.equal(byModel.status, 200);
    assert.deepEqual(byModel.json, {
      by: 'model',
      since: iso(T0),
      until: iso(T0 + 3 * H),
      data: [
        { group: 'gpt-4o', requests: 2, input_tokens: 20, output_tokens: 10, cost_usd: 1.5 },
        { group: '=2+3', requests: 1, input_tokens: 10, output_tokens: 5, cost_usd: 0, unpriced: true },
      ],
    });
    const data = async (query: string) => ((await get(gw, `/admin/v1/usage?${window}&${query}`, admin)).json['data'] as Array<{ group: string; requests: number }>).map((r) => [r.group, r.requests]);
    assert.deepEqual(await data('by=key&user=bob'), [['k-b', 1]]);
    assert.deepEqual(await data('by=user&instance=oai'), [['alice', 3]]);
    assert.deepEqual(await data('by=instance&model=gpt-4o&user=alice'), [['oai', 2]]);
    assert.deepEqual(await data('by=key&instance=nowhere'), []);
    assert.deepEqual(await data('by=key&key_id='), [['k-b', 1], ['k-a', 3]], 'an empty filter is no filter');

    const plain = await get(gw, '/admin/v1/usage?by=key&since=30d', admin);
    assert.deepEqual(Object.keys(plain.json), ['by', 'since', 'until', 'data']);
    assert.equal((plain.json['data'] as unknown[]).length, 24);
    const tooLong = await get(gw, `/admin/v1/usage?user=${'u'.repeat(257)}`, admin);
    assert.equal(tooLong.status, 400);
    assert.match(message(tooLong), /"user"/);
    assert.match(message(await get(gw, '/admin/v1/usage?until=yesterday-ish', admin)), /"until" must be a duration/);
    assert.equal((await get(gw, '/admin/v1/usage', developer)).status, 403);
  });

  test('format=csv: a download with a header row, quoted cells and formula-looking text defused', async () => {
    const csv = await get(gw, `/admin/v1/usage?by=model&since=${iso(T0)}&until=${iso(T0 + 3 * H)}&format=csv`, admin);
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(csv.headers.get('content-disposition'), `attachment; filename="usage-model-${new Date().toISOString().slice(0, 10)}.csv"`);
    assert.equal(
      csv.text,
      ['group,requests,input_tokens,output_tokens,cost_usd', '"gpt,""x""",1,10,5,2', 'gpt-4o,2,20,10,1.5', "'=2+3,1,10,5,0", ''].join('\r\n'),
    );
    const byUser = await get(gw, `/admin/v1/usage?by=user&since=${iso(T0)}&format=csv&user=nobody`, admin);
    assert.equal(byUser.text, 'group,requests,input_tokens,output_tokens,cost_usd\r\n', 'no rows: the header alone');
    const bad = await get(gw, '/admin/v1/usage?format=xlsx', admin);
    assert.equal(bad.status, 400);
    assert.match(message(bad), /"format" must be json or csv/);
  });

  test('series: buckets on UTC hour boundaries with requests, errors, tokens and cost; grouped and filtered; top 20 groups', async () => {
    // `since` inside the first hour: the buckets still start on the hour.
    const all = await get(gw, `/admin/v1/usage/series?since=${iso(T0 + 600_000)}&until=${iso(T0 + 3 * H)}&bucket=1h`, viewer);
    assert.equal(all.status, 200);
    const p = (time: number, requests: number, errors: number, cost_usd: number) => ({ time: iso(time), requests, errors, input_tokens: 10 * requests, output_tokens: 5 * requests, cost_usd });
    assert.deepEqual(all.json, {
      bucket: '1h',
      since: iso(T0),
      until: iso(T0 + 3 * H),
      series: [{ group: 'all', points: [p(T0, 2, 1, 1), p(T0 + H, 1, 1, 2), p(T0 + 2 * H, 1, 0, 0.5)] }],
    });
    const byInstance = await get(gw, `/admin/v1/usage/series?since=${iso(T0)}&until=${iso(T0 + 3 * H)}&bucket=1d&by=instance&model=gpt-4o`, admin);
    assert.deepEqual(byInstance.json['series'], [{ group: 'oai', points: [p(Math.floor(T0 / (24 * H)) * 24 * H, 2, 0, 1.5)] }]);
    assert.equal(byInstance.json['since'], iso(Math.floor(T0 / (24 * H)) * 24 * H), '1d buckets start at midnight UTC');

    const many = await get(gw, `/admin/v1/usage/series?since=${iso(T0 - 25 * H)}&until=${iso(T0 - 23 * H)}&bucket=5m&by=key`, admin);
    const groups = (many.json['series'] as Array<{ group: string }>).map((s) => s.group);
    assert.equal(groups.length, 20, 'at most 20 series');
    assert.deepEqual(groups.slice(0, 2), ['many-21', 'many-20'], 'the largest cost first');
    assert.ok(!groups.includes('many-00') && !groups.includes('many-01'), 'the two cheapest are left out');

    const recent = await get(gw, '/admin/v1/usage/series', admin);
    assert.equal(recent.json['bucket'], '1h');
    assert.ok(Date.parse(recent.json['until'] as string) - Date.parse(recent.json['since'] as string) <= 25 * H, 'default: the last 24 hours by hour');
  });

  test('series: bad parameters are a 400 naming the parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['bucket=2h', /"bucket" must be one of 5m, 1h, 1d/],
      ['by=colour', /"by" must be one of none, key, user, instance, model/],
      ['since=30d&bucket=5m', /spans 86\d\d buckets of 5m; at most 2000: choose a larger "bucket"/],
      ['since=nope', /"since" must be a duration/],
      ['until=nope', /"until" must be a duration/],
      [`since=1h&until=${iso(Date.now() - 2 * H)}`, /"until" must be after "since"/],
      ['model=' + 'm'.repeat(300), /"model" must be at most 256/],
    ];
    for (const [query, expected] of cases) {
      const r = await get(gw, `/admin/v1/usage/series?${query}`, admin);
      assert.equal(r.status, 400, query);
      assert.equal((r.json['error'] as { code: string }).code, 'invalid_request');
      assert.match(message(r), expected, query);
    }
    assert.equal((await get(gw, '/admin/v1/usage/series', developer)).status, 403);
  });

  test('overview: the last hour and day per instance, each instance with its credential, and the lockdown', async () => {
    const key = await gw.key({ name: 'traffic' });
    for (let i = 0; i < 2; i++) assert.equal((await chat(gw, key)).status, 200);
    await waitFinished(gw, 2);
    await gw.app.store.governance.usage.append([row({ time: Date.now() - 60_000, instance: 'other', status: 503, inputTokens: 0, outputTokens: 0 })]);
    const disable = await fetch(`${gw.url}/admin/v1/lockdown/instances/other`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ disabled: true, reason: 'maintenance' }) });
    assert.equal(disable.status, 200);
    const o = await get(gw, '/admin/v1/overview', viewer);
    assert.equal(o.status, 200);
    assert.ok(Math.abs(Date.parse(o.json['generated_at'] as string) - Date.now()) < 10_000);
    type Totals = { requests: number; errors: number; input_tokens: number; output_tokens: number; cost_usd: number };
    const windows = o.json['windows'] as Record<string, { total: Totals; instances: Array<Totals & { instance: string | null }> }>;
    const hour = windows['1h']!;
    const oaiHour = hour.instances.find((i) => i.instance === 'oai')!;
    assert.equal(oaiHour.requests, 2);
    assert.equal(oaiHour.errors, 0);
    assert.ok(oaiHour.input_tokens > 0 && oaiHour.output_tokens > 0 && oaiHour.cost_usd > 0);
    assert.deepEqual(hour.instances.find((i) => i.instance === 'other'), { instance: 'other', requests: 1, errors: 1, input_tokens: 0, output_tokens: 0, cost_usd: 0 });
    assert.deepEqual(hour.total, { requests: 3, errors: 1, input_tokens: oaiHour.input_tokens, output_tokens: oaiHour.output_tokens, cost_usd: oaiHour.cost_usd });
    const day = windows['24h']!;
    assert.deepEqual(day.total, {
      requests: 7,
      errors: 3,
      input_tokens: oaiHour.input_tokens + 40,
      output_tokens: oaiHour.output_tokens + 20,
      cost_usd: Math.round((oaiHour.cost_usd + 3.5) * 1e6) / 1e6,
    });
    assert.deepEqual(day.instances.map((i) => [i.instance, i.requests]), [['other', 2], ['oai', 5]], 'largest cost first');

    const instances = o.json['instances'] as Array<Record<string, unknown>>;
    assert.deepEqual(instances.map((i) => [i['name'], i['type'], i['disabled']]), [['oai', 'openai', false], ['other', 'openai', true]]);
    const credential = instances[0]!['credential'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(credential), ['method', 'status', 'last_refresh', 'expires_at', 'last_error']);
    assert.equal(credential['method'], 'api_key');
    assert.equal(credential['status'], 'ok');
    const lockdown = o.json['lockdown'] as Record<string, unknown>;
    assert.equal(lockdown['on'], false);
    assert.equal((lockdown['disabled_instances'] as Record<string, { reason: string }>)['other']?.reason, 'maintenance');
    assert.deepEqual(lockdown, (await get(gw, '/admin/v1/lockdown', admin)).json, 'the same lockdown JSON as GET /admin/v1/lockdown');
    assert.ok(!o.text.includes(PROVIDER_KEY));
    assert.equal((await get(gw, '/admin/v1/overview', developer)).status, 403);
  });
});
