import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { chat, errorCode, errorMessage, finishedRequests, openaiInstances, waitFinished } from './governance-support.js';

const PROVIDER_KEY = 'sk-provider-ratelimits-0123456789';

describe('rate limits per key, user and role', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['RATELIMIT_TEST_KEY'] = PROVIDER_KEY;
    gw = await startGateway({
      instances: openaiInstances(emu.url, 'RATELIMIT_TEST_KEY'),
      limits: {
        roles: { viewer: { rpm: 1 } },
        users: { alice: { rpm: 3 } },
        estimate: { default_max_tokens: 100 },
      },
    });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('100 parallel requests with rpm 20: exactly 20 reach the provider, 80 get 429 with Retry-After and the x-ratelimit headers', async () => {
    const key = await gw.key({ name: 'burst', limits: { rpm: 20 } });
    const before = emu.requests.length;
    const answers = await Promise.all(Array.from({ length: 100 }, () => chat(gw, key)));
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    assert.equal(ok.length, 20);
    assert.equal(limited.length, 80);
    assert.equal(emu.requests.length - before, 20);
    for (const a of ok) {
      assert.equal(a.headers.get('x-ratelimit-limit-requests'), '20');
      assert.match(a.headers.get('x-ratelimit-remaining-requests')!, /^\d+$/);
      assert.match(a.headers.get('x-ratelimit-reset-requests')!, /^\d+(\.\d+)?(ms|s)$/);
    }
    assert.deepEqual(ok.map((a) => Number(a.headers.get('x-ratelimit-remaining-requests'))).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    const refused = limited[0]!;
    assert.equal(errorCode(refused), 'rate_limited');
    assert.equal((refused.body['error'] as { type: string }).type, 'rate_limit_error');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '20');
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    const metric = (await gw.app.metrics.rateLimited.get()).values.find((v) => v.labels.reason === 'rpm');
    assert.ok(metric && metric.value >= 80);
  });

  test('tokens per minute: admitted against the estimate, then charged with the usage the provider reported', async () => {
    // Each request is estimated at ~ body/4 + max_tokens 400 (> a third of 1000), but the
    // emulator reports 9 + 6 = 15 tokens: without the correction the third request is refused.
    const key = await gw.key({ name: 'tpm', limits: { tpm: 1000 } });
    const first = await chat(gw, key, { max_tokens: 400 });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '1000');
    const estimate = 1000 - Number(first.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(estimate > 400 && estimate < 500, `estimate ${estimate}`);
    let done = await finishedRequests(gw);
    await waitFinished(gw, done);
    for (let i = 0; i < 4; i++) {
      const a = await chat(gw, key, { max_tokens: 400 });
      assert.equal(a.status, 200, `request ${i + 2}: ${JSON.stringify(a.body)}`);
      // What the earlier requests used (15 each, reported) plus this one's estimate.
      assert.equal(Number(a.headers.get('x-ratelimit-remaining-tokens')), 1000 - 15 * (i + 1) - estimate);
      await waitFinished(gw, ++done);
    }
    // A request whose estimate exceeds what is left reserves the rest of the window while it
    // runs; meanwhile the next one is refused with the tokens headers.
    emu.behaviour.firstByteDelayMs = 400;
    try {
      const huge = chat(gw, key, { max_tokens: 5000 });
      await emu.waitFor((r) => r.some((x) => !x.completed && !x.aborted));
      const refused = await chat(gw, key, { max_tokens: 10 });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('x-ratelimit-remaining-tokens'), '0');
      assert.match(errorMessage(refused), /tokens per minute \(limit 1000 for your key\)/);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal((await huge).status, 200);
    } finally {
      emu.behaviour.firstByteDelayMs = 0;
    }
    await waitFinished(gw, done + 2);
    // The huge request was charged what it used: room again.
    assert.equal((await chat(gw, key, { max_tokens: 10 })).status, 200);
  });

  test('concurrent requests: slots are held while requests run and released when they finish', async () => {
    const slowGw = await startGateway({ instances: openaiInstances(emu.url, 'RATELIMIT_TEST_KEY'), limits: { default: { concurrent: 2 } } });
    try {
      const slowKey = await slowGw.key({ name: 'c' });
      emu.behaviour.firstByteDelayMs = 300;
      const answers = await Promise.all(Array.from({ length: 6 }, () => chat(slowGw, slowKey)));
      emu.behaviour.firstByteDelayMs = 0;
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429, 429, 429, 429]);
      const refused = answers.find((a) => a.status === 429)!;
      assert.match(errorMessage(refused), /concurrent requests \(limit 2 for your key\)/);
      assert.equal(refused.headers.get('retry-after'), '1');
      await waitFinished(slowGw, 6);
      assert.equal((await chat(slowGw, slowKey)).status, 200);
    } finally {
      emu.behaviour.firstByteDelayMs = 0;
      await slowGw.close();
    }
  });

  test("a user's limit is shared by all of the user's keys; a role limit applies to each principal with that role", async () => {
    const k1 = await gw.key({ name: 'alice-1', user: 'alice' });
    const k2 = await gw.key({ name: 'alice-2', user: 'alice' });
    assert.equal((await chat(gw, k1)).status, 200);
    assert.equal((await chat(gw, k2)).status, 200);
    assert.equal((await chat(gw, k1)).status, 200);
    const fourth = await chat(gw, k2);
    assert.equal(fourth.status, 429);
    assert.match(errorMessage(fourth), /limit 3 for your user/);
    // Unlimited principals get no x-ratelimit headers at all.
    const free = await chat(gw, await gw.key({ name: 'free' }));
    assert.equal(free.status, 200);
    assert.equal(free.headers.get('x-ratelimit-limit-requests'), null);
    // viewer: 1 rpm per principal (two viewer keys each get their own one)
    const v1 = await gw.key({ name: 'v1', role: 'viewer' });
    const v2 = await gw.key({ name: 'v2', role: 'viewer' });
    const models = async (k: string) => {
      const res = await fetch(`${gw.url}/transparent/oai/v1/models`, { headers: { authorization: `Bearer ${k}` } });
      const body = (await res.json()) as { error?: { code: string } };
      return `${res.status} ${body.error?.code ?? ''}`.trim();
    };
    assert.equal(await models(v1), '200');
    assert.equal(await models(v2), '200');
    assert.equal(await models(v1), '429 rate_limited');
  });

  test('transparent answers carry the headers too', async () => {
    const key = await gw.key({ name: 'transparent', limits: { rpm: 7 } });
    const res = await fetch(`${gw.url}/transparent/oai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.text();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ratelimit-limit-requests'), '7');
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '6');
  });
});
