import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { DISCOVERY_RETRY_MS, IssuerKeys } from '../../src/clientauth/oidc/key-set.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { OidcProviderEmulator } from '../emulators/oidc-provider.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-oidc-test-0000000000000';
process.env['OIDC_TEST_OPENAI_KEY'] = PROVIDER_KEY;

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function call(gw: TestGateway, token: string | undefined, method: 'GET' | 'POST' = 'GET') {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const init: RequestInit =
    method === 'GET'
      ? { headers }
      : { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(CHAT) };
  const res = await fetch(gw.url + (method === 'GET' ? '/transparent/primary/v1/models' : '/openai/primary/chat/completions'), init);
  return { status: res.status, text: await res.text(), requestId: res.headers.get('x-llmproxy-request-id') ?? '' };
}

async function auditRow(gw: TestGateway, requestId: string) {
  await gw.settle();
  const rows = await gw.app.store.audit.query({ limit: 500 });
  return rows.find((r) => r.requestId === requestId);
}

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

describe('OIDC bearer tokens from a real OpenID provider', () => {
  let emu: OpenAIEmulator;
  let op: OidcProviderEmulator;
  let cognito: OidcProviderEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    op = await new OidcProviderEmulator({
      audience: 'llmproxy',
      clients: {
        alice: { secret: 'alice-secret-0000000000000000', claims: { groups: ['admin', 'some-unrelated-group'] } },
        dev: { secret: 'dev-secret-00000000000000000000', claims: { groups: ['llm-devs'] } },
        vera: { secret: 'vera-secret-0000000000000000000', claims: { groups: ['viewer'] } },
        nobody: { secret: 'nobody-secret-000000000000000', claims: { groups: ['payroll'] } },
      },
    }).start();
    cognito = await new OidcProviderEmulator({
      audience: 'llmproxy',
      alg: 'ES256',
      clients: { app: { secret: 'app-secret-00000000000000000000', claims: { 'cognito:groups': ['llm-users'], email: 'app@example.com' } } },
    }).start();
    gw = await startGateway({
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${OIDC_TEST_OPENAI_KEY}' } } },
      auth: {
        oidc: [
          // A zero cooldown lets every unknown kid refetch the key set, so rotation is observable without waiting.
          { issuer: op.issuer, audience: 'llmproxy', role_map: { 'llm-devs': 'developer' }, jwks_cooldown: '0s' },
          {
            issuer: cognito.issuer, audience: ['other-app', 'llmproxy'], roles_claim: 'cognito:groups',
            role_map: { 'llm-users': 'developer' }, user_claim: 'email', single_use: true,
          },
        ],
      },
    });
  });
  after(async () => {
    await gw.close();
    await op.close();
    await cognito.close();
    await emu.close();
  });

  test('a valid token is accepted and never forwarded: the provider sees only its own key', async () => {
    const token = await op.token('alice');
    const before = emu.requests.length;
    const get = await call(gw, token);
    assert.equal(get.status, 200, get.text);
    const post = await call(gw, token, 'POST');
    assert.equal(post.status, 200, post.text);
    const seen = emu.requests.slice(before);
    assert.equal(seen.length, 2);
    for (const r of seen) {
      assert.equal(r.headers.authorization, `Bearer ${PROVIDER_KEY}`);
      assert.ok(!JSON.stringify(r.headers).includes(token.split('.')[2]!), 'no part of the JWT reaches the provider');
    }
    const row = await auditRow(gw, post.requestId);
    assert.equal(row?.method, 'oidc');
    assert.equal(row?.result, 'success');
    assert.equal(row?.user, 'alice');
  });

  test('roles come from the groups claim, renamed by role_map; unknown values are dropped', async () => {
    // developer through role_map
    assert.equal((await call(gw, await op.token('dev'), 'POST')).status, 200);
    // viewer may list models but not call them
    const vera = await op.token('vera');
    assert.equal((await call(gw, vera)).status, 200);
    const denied = await call(gw, vera, 'POST');
    assert.equal(denied.status, 403, denied.text);
    assert.equal((JSON.parse(denied.text) as { error: { code: string } }).error.code, 'permission_denied');
    // a group that is neither a role nor mapped gives nothing
    assert.equal((await call(gw, await op.token('nobody'))).status, 403);
  });

  test('cognito:groups and user_claim email, on an ES256 issuer with an audience list', async () => {
    const token = await cognito.token('app');
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    const r = await call(gw, token, 'POST');
    assert.equal(r.status, 200, r.text);
    assert.equal((await auditRow(gw, r.requestId))?.user, 'app@example.com');
    // single_use: the same jti is refused the second time; a fresh token is fine.
    const replay = await call(gw, token, 'POST');
    assert.equal(replay.status, 401);
    assert.equal((await auditRow(gw, replay.requestId))?.reason, 'replayed');
    assert.equal((await call(gw, await cognito.token('app'), 'POST')).status, 200);
  });

  test('forged, expired, misdirected and unknown tokens all get the one 401; the audit says why', async () => {
    const now = Math.floor(Date.now() / 1000);
    const valid = await op.token('alice');
    const [h, p, s] = valid.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;

    const foreign = (await generateKeyPair('RS256')).privateKey;
    const publicPem = createPublicKey({ key: op.publicJwks()[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const cases: Array<[string, string, string]> = [
      ['expired (and replayed after expiry)', await op.sign({ ...claims, iat: now - 7200, exp: now - 3600 }), 'expired'],
      ['another audience', await op.sign({ ...claims, aud: 'another-app' }), 'wrong_audience'],
      ['unknown issuer', await new SignJWT({ ...claims, iss: 'https://idp.invalid' }).setProtectedHeader({ alg: 'RS256' }).sign(foreign), 'unknown_issuer'],
      ['alg none', `${b64url({ alg: 'none', typ: 'JWT' })}.${p}.`, 'alg_not_allowed'],
      [
        'HS256 with the public key as secret (alg confusion)',
        await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: decodeProtectedHeader(valid).kid! }).sign(Buffer.from(publicPem)),
        'alg_not_allowed',
      ],
      ['tampered payload', `${h}.${b64url({ ...claims, groups: ['admin'], sub: 'mallory' })}.${s}`, 'bad_signature'],
      ['right issuer, foreign key', await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(valid).kid! }).sign(foreign), 'bad_signature'],
      ['unknown kid', await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'not-a-key' }).sign(foreign), 'unknown_kid'],
    ];
    const bodies = new Set<string>();
    for (const [name, token, reason] of cases) {
      const r = await call(gw, token);
      assert.equal(r.status, 401, `${name}: ${r.text}`);
      bodies.add(r.text);
      const row = await auditRow(gw, r.requestId);
      assert.equal(row?.reason, reason, name);
      assert.equal(row?.method, 'oidc', name);
    }
    // The same body as a bad API key: nothing says which part was wrong.
    bodies.add((await call(gw, 'llmp_not-a-key')).text);
    assert.equal(bodies.size, 1, [...bodies].join('\n'));
    assert.ok(!gw.logs.some((l) => l.includes(s)), 'no token signature in any log line');
  });

  test('key rotation at the provider: the new kid is fetched without restart; a removed kid stops verifying', async () => {
    const oldToken = await op.token('alice');
    await op.rotate({ keepOld: true });
    const newToken = await op.token('alice');
    assert.notEqual(decodeProtectedHeader(newToken).kid, decodeProtectedHeader(oldToken).kid);
    assert.equal((await call(gw, newToken)).status, 200, 'new kid accepted');
    assert.equal((await call(gw, oldToken)).status, 200, 'old kid still published, still accepted');

    await op.rotate({ keepOld: false });
    const newest = await op.token('alice');
    assert.equal((await call(gw, newest)).status, 200, 'newest kid accepted');
    // The newest token made the gateway refetch the set, which no longer has the first key.
    const r = await call(gw, oldToken);
    assert.equal(r.status, 401);
    assert.equal((await auditRow(gw, r.requestId))?.reason, 'unknown_kid');
  });
});

describe('OIDC key-set cooldown and provider outages', () => {
  let emu: OpenAIEmulator;
  let up: OidcProviderEmulator;
  let down: OidcProviderEmulator;
  let flaky: OidcProviderEmulator;
  let gw: TestGateway;
  let downToken: string;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    const clients = { svc: { secret: 'svc-secret-00000000000000000000', claims: { groups: ['developer'] } } };
    up = await new OidcProviderEmulator({ audience: 'llmproxy', clients }).start();
    down = await new OidcProviderEmulator({ audience: 'llmproxy', clients }).start();
    downToken = await down.token('svc');
    await down.close();
    flaky = await new OidcProviderEmulator({ audience: 'llmproxy', clients }).start();
    gw = await startGateway({
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${OIDC_TEST_OPENAI_KEY}' } } },
      auth: {
        oidc: [
          { issuer: up.issuer, audience: 'llmproxy', jwks_cooldown: '1h' },
          { issuer: down.issuer, audience: 'llmproxy', timeout: '2s' },
          // Every request refetches the set (cache 0s), so an outage is met on the next request.
          { issuer: flaky.issuer, audience: 'llmproxy', jwks_cache: '0s', timeout: '2s' },
        ],
      },
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
    await flaky.close();
    await emu.close();
  });

  test('within the cooldown an unknown kid does not refetch the key set (no fetch storm)', async () => {
    assert.equal((await call(gw, await up.token('svc'))).status, 200);
    const fetches = up.jwksRequests;
    assert.equal(fetches, 1);
    await up.rotate({ keepOld: true });
    const rotated = await up.token('svc');
    for (let i = 0; i < 3; i++) assert.equal((await call(gw, rotated)).status, 401);
    assert.equal(up.jwksRequests, fetches, 'no refetch while cooling down');
  });

  test('an unreachable issuer is a 503 that names no token, never a 401', async () => {
    const r = await call(gw, downToken);
    assert.equal(r.status, 503, r.text);
    const body = JSON.parse(r.text) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'identity_provider_unavailable');
    assert.ok(!r.text.includes(downToken.split('.')[1]!) && !r.text.includes(downToken.split('.')[2]!));
    await gw.settle();
    assert.ok(gw.logs.some((l) => l.includes('identity provider discovery failed')), 'the outage is logged');
    for (const part of downToken.split('.')) assert.ok(!gw.logs.some((l) => l.includes(part)), 'no part of the token in the logs');
    assert.equal(emu.requests.filter((q) => q.headers.authorization?.includes(downToken.split('.')[2]!)).length, 0);
  });

  test('when a refetch fails, the last fetched keys keep verifying (logged)', async () => {
    const token = await flaky.token('svc');
    assert.equal((await call(gw, token)).status, 200);
    await flaky.close();
    const r = await call(gw, token);
    assert.equal(r.status, 200, r.text);
    await gw.settle();
    assert.ok(gw.logs.some((l) => l.includes('using the last fetched keys')));
  });
});

describe('IssuerKeys discovery (injected clock)', () => {
  test('discovery runs once for concurrent callers; a failure is not retried within DISCOVERY_RETRY_MS', async () => {
    let discoveries = 0;
    let healthy = false;
    let issuer = '';
    const server = createServer((_req, res) => {
      discoveries++;
      if (!healthy) {
        res.writeHead(500);
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let now = 1_000_000;
    const keys = new IssuerKeys({ issuer, cacheMs: 60_000, cooldownMs: 30_000, timeoutMs: 2_000, logger: pino({ level: 'silent' }), now: () => now });
    try {
      const failures = await Promise.allSettled([keys.getter(), keys.getter(), keys.getter()]);
      assert.equal(discoveries, 1, 'single-flight');
      for (const f of failures) {
        assert.equal(f.status, 'rejected');
        assert.equal(((f as PromiseRejectedResult).reason as GatewayError).code, 'identity_provider_unavailable');
      }
      healthy = true;
      now += DISCOVERY_RETRY_MS - 1;
      await assert.rejects(keys.getter(), (e: GatewayError) => e.code === 'identity_provider_unavailable');
      assert.equal(discoveries, 1, 'not retried yet');
      now += 2;
      assert.equal(typeof (await keys.getter()), 'function');
      assert.equal(discoveries, 2);
      await keys.getter();
      assert.equal(discoveries, 2, 'a successful discovery is kept');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
