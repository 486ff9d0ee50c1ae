import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKey } from '../../src/clientauth/api-key/format.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { requestLogs, startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-auth-test-000000000000';
process.env['AUTH_TEST_OPENAI_KEY'] = PROVIDER_KEY;

function instances(emuUrl: string) {
  return {
    primary: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${AUTH_TEST_OPENAI_KEY}' } },
    secondary: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${AUTH_TEST_OPENAI_KEY}' } },
  };
}

async function call(gw: TestGateway, headers: Record<string, string>, path = '/transparent/primary/v1/models', init: RequestInit = {}) {
  const res = await fetch(gw.url + path, { ...init, headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('client authentication with gateway API keys', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({ instances: instances(emu.url), auth: { api_keys: { revocation_poll: '100ms' } } });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('every kind of bad credential gets the same 401, and each is audited with its real reason', async () => {
    const good = await gw.issued({ name: 'good', user: 'alice' });
    const revoked = await gw.issued({ name: 'revoked' });
    await gw.app.store.keys.revoke(revoked.id, Date.now());
    gw.app.verifier.invalidate(revoked.id);
    const expired = await gw.issued({ name: 'expired', expiresAt: Date.now() - 1000 });
    const wrongSecret = generateKey(good.id).key; // right id, valid checksum, wrong secret
    const unknown = generateKey().key;
    const typo = good.key.slice(0, 20) + (good.key[20] === 'a' ? 'b' : 'a') + good.key.slice(21);
    const cases: Array<[string, Record<string, string>, string]> = [
      ['no credential', {}, 'missing'],
      ['empty bearer', { authorization: 'Bearer ' }, 'missing'],
      ['basic scheme', { authorization: `Basic ${Buffer.from(`x:${good.key}`).toString('base64')}` }, 'missing'],
      ['not a gateway key', { authorization: 'Bearer sk-proj-abcdef' }, 'malformed'],
      ['truncated', { authorization: `Bearer ${good.key.slice(0, -1)}` }, 'malformed'],
      ['mistyped (checksum)', { authorization: `Bearer ${typo}` }, 'malformed'],
      ['unknown id', { authorization: `Bearer ${unknown}` }, 'unknown_key'],
      ['wrong secret', { 'x-api-key': wrongSecret }, 'bad_secret'],
      ['revoked', { authorization: `Bearer ${revoked.key}` }, 'revoked'],
      ['expired', { 'api-key': expired.key }, 'expired'],
    ];
    const bodies = new Set<string>();
    for (const [name, headers] of cases) {
      const r = await call(gw, headers);
      assert.equal(r.status, 401, name);
      assert.equal(r.headers.get('content-type'), 'application/json', name);
      bodies.add(r.text);
    }
    assert.equal(bodies.size, 1, 'every 401 must be identical');
    const body = JSON.parse([...bodies][0]!) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'unauthorized');
    assert.equal(body.error.type, 'authentication_error');
    // A key in the query string is not a credential: the request is refused before authentication (and the query is never logged).
    const inQuery = await call(gw, {}, `/transparent/primary/v1/models?api_key=${good.key}`);
    assert.equal(inQuery.status, 400);
    assert.equal((JSON.parse(inQuery.text) as { error: { code: string } }).error.code, 'invalid_request');
    assert.equal(emu.requests.length, 0, 'no refused request reached the provider');

    assert.equal((await call(gw, { authorization: `Bearer ${good.key}` })).status, 200);
    await gw.settle();
    const rows = await gw.app.store.audit.query({ limit: 100 });
    const failures = rows.filter((r) => r.result === 'failure').reverse();
    assert.deepEqual(failures.map((r) => r.reason), cases.map((c) => c[2]));
    const byReason = new Map(failures.map((r) => [r.reason, r]));
    assert.equal(byReason.get('bad_secret')?.keyId, good.id);
    assert.equal(byReason.get('revoked')?.keyId, revoked.id);
    assert.equal(byReason.get('unknown_key')?.keyId, unknown.slice(5, 17));
    for (const r of failures) {
      assert.equal(r.clientAddress, '127.0.0.1');
      assert.equal(r.instance, 'primary');
      assert.equal(r.path, '/transparent/primary/v1/models');
      assert.equal(r.httpMethod, 'GET');
      assert.match(r.requestId, /^[0-9a-f-]{36}$/);
    }
    const success = rows.find((r) => r.result === 'success');
    assert.equal(success?.keyId, good.id);
    assert.equal(success?.user, 'alice');
    // The same decisions are in the JSON log, and no key material is.
    const logged = requestLogs(gw).map((l) => (l['auth'] as { reason?: string; result: string } | undefined)?.reason ?? 'ok');
    for (const [, , reason] of cases) assert.ok(logged.includes(reason), reason);
    const allLogs = gw.logs.join('\n');
    for (const k of [good.key, revoked.key, expired.key, wrongSecret, unknown]) assert.ok(!allLogs.includes(k.slice(18, 50)), 'a key secret reached the log');
  });

  test('a revoked key is refused once the change reaches the gateway, and at once in-process', async () => {
    const k = await gw.issued({ name: 'to-revoke' });
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}` })).status, 200);
    // Revoked in the store as another process would (the CLI): the verifier learns it by polling.
    await gw.app.store.keys.revoke(k.id, Date.now());
    const deadline = Date.now() + 5000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      status = (await call(gw, { authorization: `Bearer ${k.key}` })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 401, 'revocation not seen within 5 s');

    const k2 = await gw.issued({ name: 'to-revoke-in-process' });
    assert.equal((await call(gw, { 'x-api-key': k2.key })).status, 200);
    await gw.app.store.keys.revoke(k2.id, Date.now());
    gw.app.verifier.invalidate(k2.id);
    assert.equal((await call(gw, { 'x-api-key': k2.key })).status, 401);
  });

  test('a key stops working when it expires, with no restart', async () => {
    // Long enough that the first call (an argon2 check, slow on a loaded machine) is still inside it.
    const expiresAt = Date.now() + 3000;
    const k = await gw.issued({ name: 'short-lived', expiresAt });
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}` })).status, 200);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 100));
    assert.equal((await call(gw, { authorization: `Bearer ${k.key}` })).status, 401);
  });

  test('roles: a viewer may list models but not call them', async () => {
    const viewer = await gw.key({ name: 'viewer', role: 'viewer' });
    assert.equal((await call(gw, { authorization: `Bearer ${viewer}` })).status, 200);
    const r = await call(gw, { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' }, '/transparent/primary/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gpt-4o', messages: [] }),
    });
    assert.equal(r.status, 403);
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'permission_denied');
  });

  test('scopes: instances and models outside the key are refused with 403 before reaching the provider', async () => {
    const scoped = await gw.key({ name: 'scoped', scopes: { instances: ['primary'], models: ['gpt-4o-mini', 'ft:gpt-4o:*'] } });
    const post = (instance: string, body: string) =>
      call(gw, { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' }, `/transparent/${instance}/v1/chat/completions`, { method: 'POST', body });
    const chat = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] });
    emu.reset();
    assert.equal((await post('primary', chat('gpt-4o-mini'))).status, 200);
    assert.equal((await post('primary', chat('ft:gpt-4o:acme:custom:abc123'))).status, 200);
    assert.equal(emu.requests.length, 2);
    const cases: Array<[string, string, number, string]> = [
      ['secondary', chat('gpt-4o-mini'), 403, 'instance_not_in_scope'],
      ['primary', chat('gpt-4o'), 403, 'model_not_in_scope'],
      ['primary', chat('ft:gpt-3.5:acme'), 403, 'model_not_in_scope'],
      ['primary', JSON.stringify({ model: 42 }), 400, 'invalid_request'],
      ['primary', 'not json', 400, 'invalid_request'],
    ];
    for (const [instance, body, status, code] of cases) {
      const r = await post(instance, body);
      assert.equal(r.status, status, `${instance} ${body}`);
      assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, code);
    }
    assert.equal(emu.requests.length, 2, 'a refused request reached the provider');
    // Listing models names no model: allowed.
    assert.equal((await call(gw, { authorization: `Bearer ${scoped}` })).status, 200);
    await gw.settle();
    const denied = (await gw.app.store.audit.query({ result: 'denied', limit: 10 })).map((r) => r.reason);
    assert.ok(denied.includes('instance_not_in_scope') && denied.includes('model_not_in_scope'));
  });
});

describe('failed-attempt throttling per client address', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      instances: instances(emu.url),
      server: { trusted_proxies: ['127.0.0.1'] },
      auth: { failed_attempts: { limit: 5, window: '1m' } },
    });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('guesses beyond the limit get 429 with Retry-After, even with a valid key; other clients are unaffected', async () => {
    const good = await gw.key({ name: 'good' });
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 5; i++) assert.equal((await call(gw, { ...attacker, authorization: `Bearer ${generateKey().key}` })).status, 401);
    const blocked = await call(gw, { ...attacker, authorization: `Bearer ${generateKey().key}` });
    assert.equal(blocked.status, 429);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal((JSON.parse(blocked.text) as { error: { code: string } }).error.code, 'too_many_auth_failures');
    assert.equal((await call(gw, { ...attacker, authorization: `Bearer ${good}` })).status, 429);
    assert.equal((await call(gw, { 'x-forwarded-for': '198.51.100.9', authorization: `Bearer ${good}` })).status, 200);
    await gw.settle();
    const throttled = await gw.app.store.audit.query({ result: 'throttled', limit: 10 });
    assert.equal(throttled.length, 2);
    assert.equal(throttled[0]?.clientAddress, '203.0.113.7');
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /llmproxy_auth_attempts_total\{method="api_key",result="throttled"\} 2/);
    assert.match(metrics, /llmproxy_rate_limited_total\{reason="auth_failures"\} 2/);
  });

  test('requests without a key, and correct-but-revoked keys, are refused but not counted as guesses', async () => {
    const revoked = await gw.issued({ name: 'revoked' });
    await gw.app.store.keys.revoke(revoked.id, Date.now());
    gw.app.verifier.invalidate(revoked.id);
    const client = { 'x-forwarded-for': '192.0.2.44' };
    for (let i = 0; i < 8; i++) {
      assert.equal((await call(gw, client)).status, 401);
      assert.equal((await call(gw, { ...client, authorization: `Bearer ${revoked.key}` })).status, 401);
    }
  });

  test('X-Forwarded-For from an untrusted peer is ignored', async () => {
    const direct = await startGateway({ instances: instances(emu.url), auth: { failed_attempts: { limit: 2, window: '1m' } } });
    try {
      for (let i = 0; i < 2; i++) await call(direct, { 'x-forwarded-for': `10.0.0.${i}`, authorization: `Bearer ${generateKey().key}` });
      // Different claimed addresses, same real peer: blocked.
      assert.equal((await call(direct, { 'x-forwarded-for': '10.0.0.99', authorization: `Bearer ${generateKey().key}` })).status, 429);
    } finally {
      await direct.close();
    }
  });
});
