import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { hashPassword } from '../../src/clientauth/basic/password.js';
import { CLIENT_AUTH_KINDS } from '../../src/clientauth/registry.js';
import { newSessionToken } from '../../src/clientauth/session/token.js';
import { totpFor } from '../../src/clientauth/totp/codes.js';
import { enrolTotp } from '../../src/clientauth/totp/enrol.js';
import { TotpSecretBox } from '../../src/clientauth/totp/secret-box.js';
import { AlbKeyEmulator } from '../emulators/alb-keys.js';
import { KubernetesEmulator } from '../emulators/kubernetes.js';
import { OidcProviderEmulator } from '../emulators/oidc-provider.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The refusal contract every kind in CLIENT_AUTH_KINDS meets, through a running gateway with
 * every kind configured: a missing, malformed or wrong credential of the kind is refused with
 * 401 and the documented JSON error (`{"error": {"message", "type": "authentication_error",
 * "code"}}`, code `unauthorized`, or `totp_required` for a missing second factor), the body
 * shows no part of the credential, and the audit trail shows the kind's own reason, so the
 * refusal was the kind's and not a fall-through to "no credential". A kind in the registry
 * without refusal cases here fails, naming the kind.
 */

const PROVIDER_KEY = 'sk-provider-contract-clientauth-000000';
process.env['CONTRACT_CLIENTAUTH_OPENAI_KEY'] = PROVIDER_KEY;
const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/llmproxy/50dc6c495c0c9188';
const ALB_KID = 'a1b2c3d4-0000-4000-8000-000000000001';
const PASSWORD = 'alice-contract-password-1234';

/** One refusal: the request's headers, the code and audited reason expected, and what the body must not show. */
interface Refusal {
  name: string;
  headers: Record<string, string>;
  code: 'unauthorized' | 'totp_required';
  reason: string;
  /** The secret parts of what was presented (tokens, passwords, codes). */
  secrets: string[];
}

interface Env {
  gw: TestGateway;
  alb: AlbKeyEmulator;
  k8s: KubernetesEmulator;
  op: OidcProviderEmulator;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** Each kind's refusal cases, by the kind's name in the registry. */
const CASES: Record<string, (env: Env) => Promise<Refusal[]>> = {
  session: async () => {
    const unknown = newSessionToken().token;
    return [
      { name: 'malformed session token', headers: bearer('llms_not-a-session-token'), code: 'unauthorized', reason: 'malformed', secrets: ['not-a-session-token'] },
      { name: 'unknown session', headers: bearer(unknown), code: 'unauthorized', reason: 'unknown_session', secrets: [unknown] },
    ];
  },
  basic: async () => [
    { name: 'malformed Basic credentials', headers: { authorization: 'Basic !!!not-base64-at-all' }, code: 'unauthorized', reason: 'malformed', secrets: ['not-base64-at-all'] },
    { name: 'unknown user', headers: basic('mallory', PASSWORD), code: 'unauthorized', reason: 'unknown_user', secrets: [PASSWORD] },
    { name: 'wrong password', headers: basic('alice', 'wrong-password-5678'), code: 'unauthorized', reason: 'bad_password', secrets: ['wrong-password-5678'] },
  ],
  totp: async ({ gw }): Promise<Refusal[]> => {
    // An admin key: `totp.required_roles: [admin]` makes it need a second factor.
    const k = await gw.issued({ name: 'totp-contract', role: 'admin' });
    const enrolment = await enrolTotp(gw.app.store.identity.totp, new TotpSecretBox(undefined), `key:${k.id}`, 'contract', true);
    const right = totpFor(enrolment.secret).generate({ timestamp: Date.now() });
    const wrong = right === '000000' ? '111111' : '000000';
    return [
      { name: 'second factor missing', headers: { 'x-api-key': k.key }, code: 'totp_required', reason: 'totp_missing', secrets: [k.key, enrolment.secret] },
      { name: 'wrong code', headers: { 'x-api-key': k.key, 'x-totp-code': wrong }, code: 'unauthorized', reason: 'totp_invalid', secrets: [k.key, enrolment.secret] },
    ];
  },
  alb: async ({ alb }) => {
    const claims = { sub: 'user-123', email: 'dev@example.com', groups: ['developer'] };
    const good = alb.sign({ kid: ALB_KID, signer: SIGNER, claims });
    const [h, , s] = good.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, groups: ['admin'] })).toString('base64')}.${s}`;
    const expired = alb.sign({ kid: ALB_KID, signer: SIGNER, claims, expiresIn: -600 });
    const other = alb.sign({ kid: ALB_KID, signer: SIGNER.replace('llmproxy', 'attacker'), claims });
    return [
      { name: 'another load balancer', headers: { 'x-amzn-oidc-data': other }, code: 'unauthorized', reason: 'wrong_signer', secrets: [other] },
      { name: 'tampered claims', headers: { 'x-amzn-oidc-data': tampered }, code: 'unauthorized', reason: 'bad_signature', secrets: [tampered] },
      { name: 'expired', headers: { 'x-amzn-oidc-data': expired }, code: 'unauthorized', reason: 'expired', secrets: [expired] },
    ];
  },
  kubernetes: async ({ k8s }) => {
    const audience = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', audience: 'https://kubernetes.default.svc' });
    const foreign = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', foreignKey: true });
    const notAllowed = await k8s.mint({ namespace: 'default', serviceAccount: 'batch' });
    return [
      { name: 'token for another audience', headers: bearer(audience), code: 'unauthorized', reason: 'wrong_audience', secrets: [audience] },
      { name: 'signed by another key', headers: bearer(foreign), code: 'unauthorized', reason: 'bad_signature', secrets: [foreign] },
      { name: 'service account not allowed', headers: bearer(notAllowed), code: 'unauthorized', reason: 'service_account_not_allowed', secrets: [notAllowed] },
    ];
  },
  oidc: async ({ op }) => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: op.issuer, sub: 'dev', aud: 'llmproxy', groups: ['developer'], iat: now, exp: now + 600 };
    const expired = await op.sign({ ...claims, iat: now - 7200, exp: now - 3600 });
    const audience = await op.sign({ ...claims, aud: 'another-app' });
    const { privateKey } = await generateKeyPair('RS256');
    const unknownIssuer = await new SignJWT({ ...claims, iss: 'https://idp.invalid' }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    return [
      { name: 'expired', headers: bearer(expired), code: 'unauthorized', reason: 'expired', secrets: [expired] },
      { name: 'another audience', headers: bearer(audience), code: 'unauthorized', reason: 'wrong_audience', secrets: [audience] },
      { name: 'unknown issuer', headers: bearer(unknownIssuer), code: 'unauthorized', reason: 'unknown_issuer', secrets: [unknownIssuer] },
    ];
  },
  'api-key': async ({ gw }): Promise<Refusal[]> => {
    const good = await gw.issued({ name: 'api-key-contract' });
    const truncated = good.key.slice(0, -1);
    return [
      { name: 'no credential', headers: {}, code: 'unauthorized', reason: 'missing', secrets: [] },
      { name: 'malformed key', headers: bearer(truncated), code: 'unauthorized', reason: 'malformed', secrets: [truncated] },
      // Too short to be an imported key (keys import needs 24 characters): refused without a store read.
      { name: 'not a gateway key', headers: { 'x-api-key': 'sk-proj-abcdef' }, code: 'unauthorized', reason: 'malformed', secrets: ['sk-proj-abcdef'] },
      // Long enough to be an imported key: looked up by its SHA-256 tag, and no key has it.
      { name: 'no such imported key', headers: { 'x-api-key': 'sk-proj-abcdef0123456789' }, code: 'unauthorized', reason: 'unknown_key', secrets: ['sk-proj-abcdef0123456789'] },
    ];
  },
};

describe('client-auth kinds: refusal contract', () => {
  let emu: OpenAIEmulator | undefined;
  let started: Env | undefined;
  const env = (): Env => started ?? assert.fail('the gateway did not start');

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    const alb = await new AlbKeyEmulator().start();
    alb.addKey(ALB_KID);
    const k8s = await new KubernetesEmulator().start();
    const op = await new OidcProviderEmulator({ audience: 'llmproxy', clients: {} }).start();
    const gw = await startGateway({
      // The test client connects from 127.0.0.1: a trusted proxy, so the ALB header is read.
      server: { trusted_proxies: ['127.0.0.1'] },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${CONTRACT_CLIENTAUTH_OPENAI_KEY}' } } },
      auth: {
        basic: { enabled: true },
        totp: { required_roles: ['admin'] },
        sessions: { enabled: true },
        alb: { region: 'us-east-1', public_key_endpoint: alb.url, signer_arn: SIGNER },
        kubernetes: { issuer: k8s.issuer, audiences: ['llmproxy'], allow: [{ namespace: 'ml', service_account: 'batch', roles: ['developer'] }] },
        oidc: [{ issuer: op.issuer, audience: 'llmproxy' }],
      },
    });
    started = { gw, alb, k8s, op };
    await gw.app.store.identity.users.create({ name: 'alice', role: 'developer', passwordHash: await hashPassword(PASSWORD), scopes: { instances: null, models: null }, limits: { rpm: null, tpm: null, budgetUsd: null } });
  });
  after(async () => {
    await started?.gw.close();
    await Promise.all([emu?.close(), started?.alb.close(), started?.k8s.close(), started?.op.close()]);
  });

  test('every client-auth kind in CLIENT_AUTH_KINDS has refusal cases', () => {
    const missing = CLIENT_AUTH_KINDS.map((k) => k.name).filter((name) => !(name in CASES));
    assert.deepEqual(missing, [], `client-auth kinds without refusal cases in test/contracts/client-auth-kinds.test.ts: ${missing.join(', ')}`);
  });

  for (const kind of CLIENT_AUTH_KINDS) {
    test(`"${kind.name}": a missing, malformed or wrong credential is refused with the documented 401 and no secret`, async () => {
      const cases = CASES[kind.name];
      if (!cases) return assert.fail(`client-auth kind "${kind.name}" has no refusal cases`);
      const { gw } = env();
      const refusals = await cases(env());
      assert.ok(refusals.length > 0, `client-auth kind "${kind.name}" has an empty list of refusal cases`);
      for (const r of refusals) {
        const res = await fetch(`${gw.url}/transparent/primary/v1/models`, { headers: r.headers });
        const text = await res.text();
        assert.equal(res.status, 401, `${r.name}: ${text}`);
        assert.equal(res.headers.get('content-type'), 'application/json', r.name);
        const body = JSON.parse(text) as { error?: { message?: unknown; type?: unknown; code?: unknown } };
        assert.equal(typeof body.error?.message, 'string', r.name);
        assert.equal(body.error?.type, 'authentication_error', r.name);
        assert.equal(body.error?.code, r.code, r.name);
        for (const secret of [...r.secrets, PROVIDER_KEY]) assert.ok(!text.includes(secret), `${r.name}: the body shows a secret: ${text}`);
        await gw.settle();
        const requestId = res.headers.get('x-llmproxy-request-id');
        const row = (await gw.app.store.audit.query({ limit: 500 })).find((a) => a.requestId === requestId);
        assert.equal(row?.reason, r.reason, `${r.name}: refused by the kind for its own reason`);
      }
    });
  }
});
