import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { chat, errorCode, errorMessage, finishedRequests, openaiInstances, waitFinished } from './governance-support.js';

const PROVIDER_KEY = 'sk-provider-budgets-0123456789';

/** `priced-model` costs $0.01 per input token; the emulator reports 9 input tokens: $0.09 a request. */
const PRICING = { models: { 'priced-model': { input_per_mtok: 10_000, output_per_mtok: 0 } } };

/** Reads an SSE stream to its end; returns the data payloads. */
async function stream(gw: TestGateway, key: string): Promise<{ status: number; events: string[] }> {
  const res = await fetch(`${gw.url}/openai/oai/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'priced-model', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await res.text();
  return { status: res.status, events: text.split('\n\n').filter((f) => f.startsWith('data: ')).map((f) => f.slice(6)) };
}

describe('monthly budgets', () => {
  let emu: OpenAIEmulator;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['BUDGET_TEST_KEY'] = PROVIDER_KEY;
  });
  after(async () => {
    await emu.close();
  });

  test('a budget crossed mid-stream: the requests in flight complete and are charged, the next is refused', async () => {
    const gw = await startGateway({ instances: openaiInstances(emu.url, 'BUDGET_TEST_KEY'), pricing: PRICING });
    try {
      const key = await gw.key({ name: 'budgeted', limits: { budgetUsd: 0.1 } });
      emu.behaviour.chunkDelayMs = 60;
      const first = stream(gw, key);
      await emu.waitFor((r) => r.length >= 1);
      const second = stream(gw, key); // admitted: nothing is charged until a request finishes
      const [a, b] = await Promise.all([first, second]);
      emu.behaviour.chunkDelayMs = 0;
      for (const s of [a, b]) {
        assert.equal(s.status, 200);
        assert.equal(s.events.at(-1), '[DONE]', 'the stream in flight completed');
      }
      await waitFinished(gw, 2);
      // $0.18 spent of $0.10: the next request is refused, naming the key budget.
      const refused = await chat(gw, key, { model: 'priced-model' });
      assert.equal(refused.status, 429);
      assert.equal(errorCode(refused), 'budget_exceeded');
      assert.match(errorMessage(refused), /monthly key budget of your API key \(\$0\.1\)/);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      assert.equal(emu.requests.length, 2, 'the refused request never reached the provider');
      // Other keys are not affected by this key's budget.
      assert.equal((await chat(gw, await gw.key({ name: 'other' }), { model: 'priced-model' })).status, 200);
    } finally {
      emu.behaviour.chunkDelayMs = 0;
      emu.reset();
      await gw.close();
    }
  });

  test('LLM_MONTHLY_BUDGET is the global budget: warning at 80% (metric + one log event), refusal at 100%', async () => {
    process.env['LLM_MONTHLY_BUDGET'] = '0.2';
    const gw = await startGateway({ instances: openaiInstances(emu.url, 'BUDGET_TEST_KEY'), pricing: PRICING });
    delete process.env['LLM_MONTHLY_BUDGET'];
    try {
      const key = await gw.key({ name: 'global' });
      const warnings = async () => (await gw.app.metrics.budgetWarnings.get()).values.find((v) => v.labels.scope === 'global')?.value ?? 0;
      assert.equal((await chat(gw, key, { model: 'priced-model' })).status, 200);
      await waitFinished(gw, 1);
      assert.equal(await warnings(), 0); // $0.09 < $0.16
      assert.equal((await chat(gw, key, { model: 'priced-model' })).status, 200);
      await waitFinished(gw, 2);
      assert.equal(await warnings(), 1); // $0.18 ≥ 80% of $0.20
      assert.equal((await chat(gw, key, { model: 'priced-model' })).status, 200); // still under $0.20
      await waitFinished(gw, 3);
      assert.equal(await warnings(), 1, 'once per month');
      const logged = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'budget_warning');
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!['scope'], 'global');
      const refused = await chat(gw, key, { model: 'priced-model' });
      assert.equal(refused.status, 429);
      assert.match(errorMessage(refused), /global budget of the gateway/);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_budget_warnings_total\{scope="global"\} 1/);
      assert.match(metrics, /llmproxy_rate_limited_total\{reason="budget"\} 1/);
      assert.doesNotMatch(metrics, new RegExp(key.slice(0, 12)));
      assert.equal(await finishedRequests(gw), 4);
    } finally {
      await gw.close();
    }
  });

  test('spend survives a restart: the ledger is seeded from the usage store', async () => {
    const first = await startGateway({ instances: openaiInstances(emu.url, 'BUDGET_TEST_KEY'), pricing: PRICING, budgets: { users: { carol: 0.1 } } });
    const dir = first.dir;
    const key = await first.key({ name: 'carol', user: 'carol' });
    assert.equal((await chat(first, key, { model: 'priced-model' })).status, 200);
    assert.equal((await chat(first, key, { model: 'priced-model' })).status, 200);
    await waitFinished(first, 2);
    await first.app.close(); // flushes the usage rows
    const second = await startGateway({ instances: openaiInstances(emu.url, 'BUDGET_TEST_KEY'), pricing: PRICING, budgets: { users: { carol: 0.1 } } }, { dir });
    try {
      const refused = await chat(second, key, { model: 'priced-model' });
      assert.equal(refused.status, 429);
      assert.match(errorMessage(refused), /monthly user budget of your user \(\$0\.1\)/);
    } finally {
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
