import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { validate } from '../../src/config/load.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freshDatabase, freshRedisPrefix, requireService } from '../helpers/services.js';
import { chat, errorCode, errorMessage, finishedRequests, openaiInstances, waitFinished } from './governance-support.js';

/**
 * `instances.X.limits: { rpm, tpm, budget_usd, concurrency }`: an instance's provider quota is
 * protected whichever keys call it, in one process and across replicas sharing Redis. Issue 17,
 * item 10.
 */

const PROVIDER_KEY = 'sk-provider-instance-limits-4e1f7a2c9b';
process.env['INSTANCE_LIMITS_KEY'] = PROVIDER_KEY;
// 15 tokens a request (the emulator reports 9 + 6) at $1000 per million: $0.015 a request.
const PRICING = { models: { 'gpt-4o': { input_per_mtok: 1000, output_per_mtok: 1000 } } };

function withLimits(url: string, limits: Record<string, Record<string, number>>): Record<string, unknown> {
  const instances = openaiInstances(url, 'INSTANCE_LIMITS_KEY', ['oai', ...Object.keys(limits).filter((n) => n !== 'oai')]);
  for (const [name, l] of Object.entries(limits)) (instances[name] as Record<string, unknown>)['limits'] = l;
  return instances;
}

async function rateLimitedBy(gw: TestGateway, reason: string): Promise<number> {
  return (await gw.app.metrics.rateLimited.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('instance limits in one gateway', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      instances: withLimits(emu.url, {
        oai: { rpm: 5 },
        streamy: { concurrency: 2 },
        metered: { budget_usd: 0.02 },
        tokens: { tpm: 1000 },
      }),
      pricing: PRICING,
      limits: { estimate: { default_max_tokens: 100 } },
    });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('rpm: three keys share one instance\'s 5 requests a minute; another instance is unaffected', async () => {
    const keys = await Promise.all([1, 2, 3].map((i) => gw.key({ name: `caller-${i}` })));
    emu.reset();
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => chat(gw, keys[i % 3]!)));
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    assert.equal(ok.length, 5);
    assert.equal(limited.length, 7);
    assert.equal(emu.requests.length, 5, 'only the admitted requests reach the provider');
    const refused = limited[0]!;
    assert.equal(errorCode(refused), 'rate_limited');
    assert.match(errorMessage(refused), /requests per minute \(limit 5 for instance "oai", shared by all its callers\)/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '5');
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(await rateLimitedBy(gw, 'instance_rpm'), 7);
    // A key of its own does not get around the instance's limit; another instance is still open.
    assert.equal((await chat(gw, await gw.key({ name: 'fresh' }))).status, 429);
    assert.equal((await chat(gw, keys[0]!, {}, 'streamy')).status, 200);
  });

  test('concurrency: in-flight requests to the instance are counted until their stream ends', async () => {
    const [k1, k2, k3] = await Promise.all([1, 2, 3].map((i) => gw.key({ name: `stream-${i}` })));
    emu.behaviour.chunkDelayMs = 150;
    try {
      const open = (key: string) =>
        new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/streamy`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
      const done = await finishedRequests(gw);
      const [s1, s2] = await Promise.all([open(k1!), open(k2!)]);
      const third = await chat(gw, k3!, {}, 'streamy');
      assert.equal(third.status, 429);
      assert.equal(errorCode(third), 'rate_limited');
      assert.match(errorMessage(third), /concurrent requests \(limit 2 for instance "streamy"/);
      assert.equal(await rateLimitedBy(gw, 'instance_concurrency'), 1);
      // Both streams run to their end; their slots are then free again.
      for (const s of [s1, s2]) {
        let text = '';
        for await (const chunk of s) text += chunk.choices[0]?.delta.content ?? '';
        assert.equal(text, OpenAIEmulator.REPLY.join(''));
      }
      await waitFinished(gw, done + 3);
      assert.equal((await chat(gw, k3!, {}, 'streamy')).status, 200);
    } finally {
      emu.behaviour.chunkDelayMs = 0;
    }
  });

  test('budget_usd: once the instance\'s monthly spend is used up, every key is refused with 429 budget_exceeded', async () => {
    const [k1, k2] = await Promise.all([gw.key({ name: 'spender-1' }), gw.key({ name: 'spender-2' })]);
    let done = await finishedRequests(gw);
    assert.equal((await chat(gw, k1, {}, 'metered')).status, 200); // $0.015 of $0.02
    await waitFinished(gw, ++done);
    assert.equal((await chat(gw, k2, {}, 'metered')).status, 200); // $0.030: over
    await waitFinished(gw, ++done);
    const refused = await chat(gw, k1, {}, 'metered');
    assert.equal(refused.status, 429);
    assert.equal(errorCode(refused), 'budget_exceeded');
    assert.match(errorMessage(refused), /monthly instance budget of instance "metered" \(all its callers\) \(\$0\.02\) is used up/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal((await chat(gw, await gw.key({ name: 'spender-3' }), {}, 'metered')).status, 429, 'a new key is refused too');
    assert.equal(await rateLimitedBy(gw, 'instance_budget'), 2);
    assert.equal((await chat(gw, k1, {}, 'tokens')).status, 200, 'other instances keep serving');
  });

  test('tpm: the instance\'s token window is shared and reported in the x-ratelimit-*-tokens headers', async () => {
    const [k1, k2] = await Promise.all([gw.key({ name: 'tok-1' }), gw.key({ name: 'tok-2' })]);
    const first = await chat(gw, k1, { max_tokens: 600 }, 'tokens');
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '1000');
    emu.behaviour.firstByteDelayMs = 400;
    try {
      // While a request reserving the rest of the window runs, another key's request is refused.
      const big = chat(gw, k1, { max_tokens: 5000 }, 'tokens');
      await emu.waitFor((r) => r.some((x) => !x.completed && !x.aborted));
      const refused = await chat(gw, k2, { max_tokens: 10 }, 'tokens');
      assert.equal(refused.status, 429);
      assert.match(errorMessage(refused), /tokens per minute \(limit 1000 for instance "tokens"/);
      assert.equal(refused.headers.get('x-ratelimit-remaining-tokens'), '0');
      assert.equal((await big).status, 200);
    } finally {
      emu.behaviour.firstByteDelayMs = 0;
    }
    assert.equal(await rateLimitedBy(gw, 'instance_tpm'), 1);
  });

  test('config: limits are strict and typed, errors name the path', () => {
    const bad = (limits: unknown) => {
      try {
        validate({ instances: { oai: { type: 'openai', authentication: { type: 'api_key', api_key: '${env:X}' }, limits } } }, 'test');
      } catch (err) {
        return (err as Error).message;
      }
      return '(accepted)';
    };
    assert.equal(bad({ rpm: 10, tpm: 1000, budget_usd: 12.5, concurrency: 3 }), '(accepted)');
    assert.match(bad({ rpm: 10, burst: 2 }), /instances\.oai\.limits\.burst: unknown field/);
    assert.match(bad({ concurrency: 0 }), /instances\.oai\.limits\.concurrency/);
    assert.match(bad({ rpm: 1.5 }), /instances\.oai\.limits\.rpm/);
  });
});

const postgres = await requireService('postgres');
const redis = await requireService('redis');

describe('instance limits across two replicas sharing Redis', { skip: postgres.skip || redis.skip }, () => {
  let emu: OpenAIEmulator;
  let a: TestGateway;
  let b: TestGateway;
  let drop: (() => Promise<void>) | undefined;
  let cleanupRedis: (() => Promise<void>) | undefined;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    const db = await freshDatabase();
    drop = db.drop;
    const prefix = freshRedisPrefix();
    cleanupRedis = prefix.cleanup;
    process.env['INSTANCE_LIMITS_PG'] = db.url;
    process.env['INSTANCE_LIMITS_REDIS'] = redis.url;
    const config = {
      instances: withLimits(emu.url, { oai: { rpm: 4 }, metered: { budget_usd: 0.01 } }),
      pricing: PRICING,
      storage: { postgres: { url: '${env:INSTANCE_LIMITS_PG}', pool_size: 4 }, redis: { url: '${env:INSTANCE_LIMITS_REDIS}', key_prefix: prefix.prefix } },
    };
    [a, b] = await Promise.all([startGateway(config), startGateway(config)]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await emu?.close();
    await drop?.();
    await cleanupRedis?.();
  });

  test('rpm: keys calling through both replicas share the instance\'s window', async () => {
    const keys = await Promise.all([1, 2].map((i) => a.key({ name: `fleet-${i}` })));
    emu.reset();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => chat(i % 2 === 0 ? a : b, keys[i % 2]!)));
    assert.equal(answers.filter((x) => x.status === 200).length, 4);
    assert.equal(answers.filter((x) => x.status === 429).length, 6);
    assert.equal(emu.requests.length, 4);
  });

  test('budget_usd: spend charged by one replica is refused by the other at once', async () => {
    const [k1, k2] = await Promise.all([a.key({ name: 'fleet-spend-1' }), a.key({ name: 'fleet-spend-2' })]);
    const done = await finishedRequests(a);
    assert.equal((await chat(a, k1, {}, 'metered')).status, 200); // $0.015 of $0.01
    await waitFinished(a, done + 1);
    // Replica b has not refreshed from PostgreSQL (15 s): only the shared Redis counter tells it.
    const refused = await chat(b, k2, {}, 'metered');
    assert.equal(refused.status, 429);
    assert.equal(errorCode(refused), 'budget_exceeded');
  });
});
