import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AlbKeyEmulator } from '../emulators/alb-keys.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-alb-test-00000000000000';
process.env['ALB_TEST_OPENAI_KEY'] = PROVIDER_KEY;
const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/llmproxy/50dc6c495c0c9188';
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function call(gw: TestGateway, headers: Record<string, string>, method: 'GET' | 'POST' = 'POST') {
  const init: RequestInit =
    method === 'GET' ? { headers } : { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(CHAT) };
  const res = await fetch(gw.url + (method === 'GET' ? '/transparent/primary/v1/models' : '/openai/primary/chat/completions'), init);
  return { status: res.status, text: await res.text(), requestId: res.headers.get('x-llmproxy-request-id') ?? '' };
}

async function auditRow(gw: TestGateway, requestId: string) {
  await gw.settle();
  return (await gw.app.store.audit.query({ limit: 500 })).find((r) => r.requestId === requestId);
}

function config(emuUrl: string, keysUrl: string, trustedProxies: string[]) {
  return {
    server: { trusted_proxies: trustedProxies },
    instances: { primary: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${ALB_TEST_OPENAI_KEY}' } } },
    auth: {
      alb: {
        region: 'us-east-1',
        public_key_endpoint: keysUrl,
        signer_arn: SIGNER,
        roles_claim: 'cognito:groups',
        role_map: { 'llm-users': 'developer' },
        user_claim: 'email',
      },
    },
  };
}

describe('AWS ALB x-amzn-oidc-data header', () => {
  let emu: OpenAIEmulator;
  let keys: AlbKeyEmulator;
  let trusted: TestGateway;
  let untrusted: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    keys = await new AlbKeyEmulator().start();
    keys.addKey('a1b2c3d4-0000-4000-8000-000000000001');
    keys.addKey('a1b2c3d4-0000-4000-8000-000000000002');
    // The test client connects from 127.0.0.1: a trusted proxy for one gateway, not for the other.
    trusted = await startGateway(config(emu.url, keys.url, ['127.0.0.1']));
    untrusted = await startGateway(config(emu.url, keys.url, ['10.0.0.0/8']));
  });
  after(async () => {
    await trusted.close();
    await untrusted.close();
    await keys.close();
    await emu.close();
  });

  const claims = { sub: 'user-123', email: 'dev@example.com', 'cognito:groups': ['llm-users'] };

  test('a valid ES256 header (with ALB base64 padding) from the trusted proxy is accepted; ALB headers are not forwarded', async () => {
    let data = '';
    // Find a token whose segments carry '=' padding, the ALB quirk strict JWT parsers refuse.
    for (let i = 0; i < 8 && !/=\./.test(data); i++) data = keys.sign({ kid: 'a1b2c3d4-0000-4000-8000-000000000001', signer: SIGNER, claims: { ...claims, pad: 'x'.repeat(i) } });
    assert.match(data, /=\./, 'the token carries padding');
    const before = emu.requests.length;
    const r = await call(trusted, { 'x-amzn-oidc-data': data, 'x-amzn-oidc-accesstoken': 'idp-access-token-abc', 'x-amzn-oidc-identity': 'user-123' });
    assert.equal(r.status, 200, r.text);
    const seen = emu.requests.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    for (const h of ['x-amzn-oidc-data', 'x-amzn-oidc-accesstoken', 'x-amzn-oidc-identity']) assert.equal(seen[0]!.headers[h], undefined, h);
    const row = await auditRow(trusted, r.requestId);
    assert.equal(row?.method, 'alb');
    assert.equal(row?.user, 'dev@example.com');
  });

  test('keys are fetched once per kid and cached', async () => {
    const before = keys.requests;
    const kid = 'a1b2c3d4-0000-4000-8000-000000000002';
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(trusted, { 'x-amzn-oidc-data': keys.sign({ kid, signer: SIGNER, claims }) })).status, 200);
    }
    assert.equal(keys.requests - before, 1);
  });

  test('wrong signer, forged signature, expired, unknown kid and non-ES256 are refused with the one 401', async () => {
    const kid = 'a1b2c3d4-0000-4000-8000-000000000001';
    const good = keys.sign({ kid, signer: SIGNER, claims });
    const [h, , s] = good.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, 'cognito:groups': ['admin'] })).toString('base64')}.${s}`;
    const cases: Array<[string, string, string]> = [
      ['another load balancer', keys.sign({ kid, signer: SIGNER.replace('llmproxy', 'attacker'), claims }), 'wrong_signer'],
      ['signed with another kid\'s key', keys.sign({ kid, signWith: 'a1b2c3d4-0000-4000-8000-000000000002', signer: SIGNER, claims }), 'bad_signature'],
      ['tampered claims', tampered, 'bad_signature'],
      ['expired', keys.sign({ kid, signer: SIGNER, claims, expiresIn: -600 }), 'expired'],
      ['unknown kid', keys.sign({ kid: 'ffffffff-0000-4000-8000-00000000dead', signWith: kid, signer: SIGNER, claims }), 'unknown_kid'],
      ['alg none', keys.sign({ kid, signer: SIGNER, claims, alg: 'none' }), 'alg_not_allowed'],
      ['kid that is a path', keys.sign({ kid: '../../etc/passwd', signWith: kid, signer: SIGNER, claims }), 'unknown_kid'],
    ];
    const bodies = new Set<string>();
    for (const [name, data, reason] of cases) {
      const r = await call(trusted, { 'x-amzn-oidc-data': data });
      assert.equal(r.status, 401, `${name}: ${r.text}`);
      bodies.add(r.text);
      assert.equal((await auditRow(trusted, r.requestId))?.reason, reason, name);
    }
    assert.equal(bodies.size, 1);
  });

  test('from a peer that is not a trusted proxy the header is ignored: no credential, 401', async () => {
    const data = keys.sign({ kid: 'a1b2c3d4-0000-4000-8000-000000000001', signer: SIGNER, claims });
    const before = emu.requests.length;
    const r = await call(untrusted, { 'x-amzn-oidc-data': data });
    assert.equal(r.status, 401);
    const row = await auditRow(untrusted, r.requestId);
    assert.equal(row?.method, 'api_key', 'decided by the API key authenticator, as if the header were absent');
    assert.equal(row?.reason, 'missing');
    assert.equal(emu.requests.length, before);
    // A gateway API key still works there, with the spoofed header dropped before forwarding.
    const key = await untrusted.key();
    assert.equal((await call(untrusted, { authorization: `Bearer ${key}`, 'x-amzn-oidc-data': data })).status, 200);
    assert.equal(emu.requests.at(-1)!.headers['x-amzn-oidc-data'], undefined);
  });

  test('auth.alb without server.trusted_proxies is refused at start-up', async () => {
    await assert.rejects(startGateway(config(emu.url, keys.url, [])), /auth\.alb: requires server\.trusted_proxies/);
  });
});
