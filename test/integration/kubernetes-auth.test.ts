import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { TokenReviewer } from '../../src/clientauth/kubernetes/token-review.js';
import { KubernetesEmulator } from '../emulators/kubernetes.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-k8s-test-00000000000000';
process.env['K8S_TEST_OPENAI_KEY'] = PROVIDER_KEY;
const GATEWAY_SA_TOKEN = 'gateway-own-service-account-token-0000';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function call(gw: TestGateway, token: string, method: 'GET' | 'POST' = 'POST') {
  const init: RequestInit =
    method === 'GET'
      ? { headers: { authorization: `Bearer ${token}` } }
      : { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(CHAT) };
  const res = await fetch(gw.url + (method === 'GET' ? '/transparent/primary/v1/models' : '/openai/primary/chat/completions'), init);
  return { status: res.status, text: await res.text(), requestId: res.headers.get('x-llmproxy-request-id') ?? '' };
}

async function auditRow(gw: TestGateway, requestId: string) {
  await gw.settle();
  return (await gw.app.store.audit.query({ limit: 500 })).find((r) => r.requestId === requestId);
}

function config(emuUrl: string, kubernetes: Record<string, unknown>) {
  return {
    instances: { primary: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${K8S_TEST_OPENAI_KEY}' } } },
    auth: {
      kubernetes: {
        audiences: ['llmproxy'],
        allow: [
          { namespace: 'ml', service_account: 'batch', roles: ['developer'] },
          { namespace: 'dashboards', roles: ['viewer'] },
        ],
        ...kubernetes,
      },
    },
  };
}

for (const mode of ['jwks', 'token_review'] as const) {
  describe(`Kubernetes service-account tokens (mode ${mode})`, () => {
    let emu: OpenAIEmulator;
    let k8s: KubernetesEmulator;
    let gw: TestGateway;

    before(async () => {
      emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
      k8s = await new KubernetesEmulator().start();
      k8s.reviewers.add(GATEWAY_SA_TOKEN);
      const extra: Record<string, unknown> = { issuer: k8s.issuer, mode };
      if (mode === 'token_review') {
        // A relative token_file resolves against the config's folder (the gateway's temp dir).
        extra['api_server'] = k8s.url;
        extra['token_file'] = 'sa-token';
        extra['review_cache'] = '0s';
      }
      gw = await startGateway(config(emu.url, extra));
      writeFileSync(join(gw.dir, 'sa-token'), `${GATEWAY_SA_TOKEN}\n`);
    });
    after(async () => {
      await gw.close();
      await k8s.close();
      await emu.close();
    });

    test('an allowed service account gets its rule\'s roles; its token is not forwarded', async () => {
      const token = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch' });
      const before = emu.requests.length;
      const r = await call(gw, token);
      assert.equal(r.status, 200, r.text);
      const seen = emu.requests.slice(before);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.headers.authorization, `Bearer ${PROVIDER_KEY}`);
      const row = await auditRow(gw, r.requestId);
      assert.equal(row?.method, 'kubernetes');
      assert.equal(row?.user, 'system:serviceaccount:ml:batch');
      if (mode === 'token_review') {
        assert.ok(k8s.tokenReviews > 0);
        assert.deepEqual((k8s.reviewBodies.at(-1) as { spec: { audiences: string[] } }).spec.audiences, ['llmproxy']);
      }
    });

    test('a namespace-wide rule: any account in it, with that rule\'s (viewer) roles', async () => {
      const token = await k8s.mint({ namespace: 'dashboards', serviceAccount: 'grafana' });
      assert.equal((await call(gw, token, 'GET')).status, 200);
      assert.equal((await call(gw, token, 'POST')).status, 403);
    });

    test('wrong audience, expired, foreign signature and not-allowed accounts are refused with the one 401', async () => {
      const cases: Array<[string, string, string]> = [
        ['token for the API server audience', await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', audience: 'https://kubernetes.default.svc' }), mode === 'jwks' ? 'wrong_audience' : 'token_review_refused'],
        ['expired', await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', expiresIn: -3600 }), mode === 'jwks' ? 'expired' : 'token_review_refused'],
        ['signed by another key', await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', foreignKey: true }), mode === 'jwks' ? 'bad_signature' : 'token_review_refused'],
        ['namespace not allowed', await k8s.mint({ namespace: 'default', serviceAccount: 'batch' }), 'service_account_not_allowed'],
        ['account not allowed in an allowed namespace', await k8s.mint({ namespace: 'ml', serviceAccount: 'notebook' }), 'service_account_not_allowed'],
      ];
      const bodies = new Set<string>();
      for (const [name, token, reason] of cases) {
        const r = await call(gw, token);
        assert.equal(r.status, 401, `${name}: ${r.text}`);
        bodies.add(r.text);
        const row = await auditRow(gw, r.requestId);
        assert.equal(row?.reason, reason, name);
        assert.equal(row?.method, 'kubernetes', name);
      }
      assert.equal(bodies.size, 1);
    });

    if (mode === 'token_review') {
      test('TokenReview also refuses a deleted service account that the signature alone would accept', async () => {
        const token = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch' });
        assert.equal((await call(gw, token)).status, 200);
        k8s.deleted.add('system:serviceaccount:ml:batch');
        try {
          const r = await call(gw, token);
          assert.equal(r.status, 401);
        } finally {
          k8s.deleted.clear();
        }
      });

      test('the API server refusing the gateway\'s own token is a 503, not a 401', async () => {
        k8s.reviewers.clear();
        try {
          const token = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch' });
          const r = await call(gw, token);
          assert.equal(r.status, 503, r.text);
          assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'identity_provider_unavailable');
          assert.ok(!r.text.includes(token.split('.')[2]!));
          await gw.settle();
          assert.ok(!gw.logs.some((l) => l.includes(token.split('.')[2]!) || l.includes(GATEWAY_SA_TOKEN)), 'no token in the logs');
        } finally {
          k8s.reviewers.add(GATEWAY_SA_TOKEN);
        }
      });
    }
  });
}

describe('Kubernetes tokens beside OIDC issuers', () => {
  test('a service-account token is told apart by its iss; a token from another cluster is refused', async () => {
    const emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    const k8s = await new KubernetesEmulator().start();
    const other = await new KubernetesEmulator().start();
    const gw = await startGateway(config(emu.url, { issuer: k8s.issuer }));
    try {
      const r = await call(gw, await other.mint({ namespace: 'ml', serviceAccount: 'batch' }));
      assert.equal(r.status, 401);
      // With no auth.oidc configured the JWT falls through to the API key authenticator.
      assert.equal((await auditRow(gw, r.requestId))?.method, 'api_key');
      assert.equal((await call(gw, await k8s.mint({ namespace: 'ml', serviceAccount: 'batch' }))).status, 200);
    } finally {
      await gw.close();
      await other.close();
      await k8s.close();
      await emu.close();
    }
  });
});

describe('TokenReviewer cache (injected clock)', () => {
  test('a positive review is reused for review_cache, never past the token\'s exp; a refusal is not cached', async () => {
    const k8s = await new KubernetesEmulator().start();
    k8s.reviewers.add(GATEWAY_SA_TOKEN);
    const dir = mkdtempSync(join(tmpdir(), 'llmproxy-k8s-'));
    writeFileSync(join(dir, 'token'), GATEWAY_SA_TOKEN);
    let now = Date.now();
    const reviewer = new TokenReviewer({
      apiServer: k8s.url, audiences: ['llmproxy'], tokenFile: join(dir, 'token'), caFile: undefined,
      cacheMs: 30_000, timeoutMs: 2_000, logger: pino({ level: 'silent' }), now: () => now,
    });
    try {
      const token = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', expiresIn: 3600 });
      const exp = Math.floor(now / 1000) + 3600;
      assert.deepEqual(await reviewer.review(token, exp), { authenticated: true, username: 'system:serviceaccount:ml:batch' });
      assert.deepEqual(await reviewer.review(token, exp), { authenticated: true, username: 'system:serviceaccount:ml:batch' });
      assert.equal(k8s.tokenReviews, 1, 'second answer from the cache');
      now += 31_000;
      await reviewer.review(token, exp);
      assert.equal(k8s.tokenReviews, 2, 'asked again after review_cache');

      // A token that expires in 10 s is cached at most until then.
      const short = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', expiresIn: 10 });
      const shortExp = Math.floor(now / 1000) + 10;
      await reviewer.review(short, shortExp);
      now += 11_000;
      await reviewer.review(short, shortExp);
      assert.equal(k8s.tokenReviews, 4);

      const refused = await k8s.mint({ namespace: 'ml', serviceAccount: 'batch', foreignKey: true });
      assert.equal((await reviewer.review(refused, exp)).authenticated, false);
      assert.equal((await reviewer.review(refused, exp)).authenticated, false);
      assert.equal(k8s.tokenReviews, 6);
    } finally {
      await reviewer.close();
      await k8s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
