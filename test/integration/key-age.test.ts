import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKey } from '../../src/clientauth/api-key/format.js';
import { hashSecret } from '../../src/clientauth/api-key/hash.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 17, item 6: `auth.api_keys.max_age` with `on_max_age: refuse | warn`, the
 * `X-LLMProxy-Key-Expires` header and log line in the last `warn_before` (14 days) of a key's
 * life, `GET /admin/v1/keys?stale=`, and `llmproxy_api_keys{age}`.
 */

const PROVIDER_KEY = 'sk-provider-key-age-4b3c2d1e0f9a8b7c';
process.env['KEY_AGE_TEST_OPENAI_KEY'] = PROVIDER_KEY;
const DAY = 86_400_000;

/** A key created `ageDays` ago (as if issued then), written through the store like `keys create` would. */
async function agedKey(gw: TestGateway, name: string, ageDays: number, extra: { role?: string; expiresAt?: number | null } = {}) {
  const { key, id, secret } = generateKey();
  const createdAt = Date.now() - ageDays * DAY;
  await gw.app.store.keys.create({
    id,
    name,
    user: null,
    role: extra.role ?? 'developer',
    secretHash: await hashSecret(secret),
    createdAt,
    expiresAt: extra.expiresAt ?? null,
    scopes: { instances: null, models: null },
    limits: { rpm: null, tpm: null, budgetUsd: null },
    rotatedFrom: null,
  });
  return { key, id, createdAt };
}

function gatewayConfig(emuUrl: string, apiKeys: Record<string, unknown>) {
  return {
    instances: { openai: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${KEY_AGE_TEST_OPENAI_KEY}' } } },
    auth: { api_keys: { revocation_poll: '100ms', ...apiKeys } },
  };
}

async function models(gw: TestGateway, key: string) {
  const res = await fetch(`${gw.url}/transparent/openai/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return { status: res.status, expires: res.headers.get('x-llmproxy-key-expires') };
}

const logLines = (gw: TestGateway) => gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('key age policy: max_age 90d, on_max_age: refuse', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway(gatewayConfig(emu.url, { max_age: '90d', on_max_age: 'refuse' }));
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('a key older than max_age is refused with 401 and audited as key_too_old', async () => {
    const old = await agedKey(gw, 'old', 91);
    assert.equal((await models(gw, old.key)).status, 401);
    await gw.settle();
    const failures = (await gw.app.store.audit.query({ limit: 10 })).filter((r) => r.result === 'failure' && r.keyId === old.id);
    assert.deepEqual(failures.map((r) => r.reason), ['key_too_old']);
  });

  test('in the last 14 days of its life a key is served with X-LLMProxy-Key-Expires and one log line; earlier, with neither', async () => {
    const ending = await agedKey(gw, 'ending', 80);
    const young = await agedKey(gw, 'young', 10);
    const expiring = await agedKey(gw, 'expiring', 1, { expiresAt: Date.now() + 5 * DAY });
    const end = new Date(ending.createdAt + 90 * DAY).toISOString();
    for (let i = 0; i < 3; i++) assert.deepEqual(await models(gw, ending.key), { status: 200, expires: end }, 'cached or not, the header is there');
    assert.deepEqual(await models(gw, young.key), { status: 200, expires: null });
    const exp = await models(gw, expiring.key);
    assert.equal(exp.status, 200);
    assert.equal(exp.expires, new Date((await gw.app.store.keys.get(expiring.id))!.expiresAt!).toISOString(), 'the expiry, when it comes before max_age');
    const notices = logLines(gw).filter((l) => l['key_id'] === ending.id && l['ends_at'] !== undefined);
    assert.equal(notices.length, 1, 'one log line per key and day, not one per request');
    assert.equal(notices[0]!['level'], 'warn');
    assert.equal(notices[0]!['ends_at'], end);
    assert.ok(!JSON.stringify(notices).includes(ending.key));
  });

  test('GET /admin/v1/keys?stale=60d lists active keys older than 60 days; a bad value is a 400 naming "stale"', async () => {
    const admin = await gw.key({ name: 'admin', role: 'admin' });
    const stale = await agedKey(gw, 'stale-61', 61);
    const staleRevoked = await agedKey(gw, 'stale-revoked', 70);
    await gw.app.store.keys.revoke(staleRevoked.id, Date.now());
    const get = async (query: string) => {
      const res = await fetch(`${gw.url}/admin/v1/keys${query}`, { headers: { authorization: `Bearer ${admin}` } });
      return { status: res.status, body: (await res.json()) as { data?: Array<{ id: string; name: string }>; total?: number; error?: { message: string } } };
    };
    const listed = await get('?stale=60d');
    assert.equal(listed.status, 200);
    const names = listed.body.data!.map((k) => k.name);
    assert.ok(names.includes('stale-61') && names.includes('ending') && names.includes('old'), names.join(','));
    assert.ok(!names.includes('stale-revoked') && !names.includes('young') && !names.includes('admin'), names.join(','));
    assert.ok(listed.body.data!.some((k) => k.id === stale.id));
    for (const bad of ['?stale=soon', '?stale=0d', '?stale=60d&status=revoked']) {
      const r = await get(bad);
      assert.equal(r.status, 400, bad);
      assert.match(r.body.error!.message, /"stale"/);
    }
  });

  test('llmproxy_api_keys{age} counts active keys by age bucket at scrape time', async () => {
    const res = await fetch(`${gw.url}/metrics`);
    const text = await res.text();
    const count = (age: string) => Number(new RegExp(`^llmproxy_api_keys\\{age="${age}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    const keys = (await gw.app.store.keys.list()).filter((k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > Date.now()));
    const ageOf = (createdAt: number) => (Date.now() - createdAt) / DAY;
    const expected = {
      '<30d': keys.filter((k) => ageOf(k.createdAt) < 30).length,
      '30-60d': keys.filter((k) => ageOf(k.createdAt) >= 30 && ageOf(k.createdAt) < 60).length,
      '60-90d': keys.filter((k) => ageOf(k.createdAt) >= 60 && ageOf(k.createdAt) < 90).length,
      '>90d': keys.filter((k) => ageOf(k.createdAt) >= 90).length,
    };
    assert.ok(expected['>90d'] >= 1 && expected['60-90d'] >= 2 && expected['<30d'] >= 2, JSON.stringify(expected));
    assert.deepEqual({ '<30d': count('<30d'), '30-60d': count('30-60d'), '60-90d': count('60-90d'), '>90d': count('>90d') }, expected);
  });
});

describe('key age policy: on_max_age: warn (the default)', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway(gatewayConfig(emu.url, { max_age: '90d' }));
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('a key older than max_age is served, with the date it passed max_age in X-LLMProxy-Key-Expires and a warning in the log', async () => {
    const old = await agedKey(gw, 'old', 100);
    const reached = new Date(old.createdAt + 90 * DAY).toISOString();
    assert.deepEqual(await models(gw, old.key), { status: 200, expires: reached });
    assert.deepEqual(await models(gw, old.key), { status: 200, expires: reached });
    const warnings = logLines(gw).filter((l) => l['key_id'] === old.id && l['max_age_reached_at'] === reached);
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!['msg']), /older than auth\.api_keys\.max_age/);
  });

  test('without max_age, age alone changes nothing', async () => {
    const plain = await startGateway(gatewayConfig(emu.url, {}));
    try {
      const ancient = await agedKey(plain, 'ancient', 1000);
      assert.deepEqual(await models(plain, ancient.key), { status: 200, expires: null });
    } finally {
      await plain.close();
    }
  });
});
