import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { chat, errorCode, openaiInstances, waitFinished } from './governance-support.js';

const PROVIDER_KEY = 'sk-provider-unpriced-0123456789';

/**
 * A model no built-in or configured entry prices is never silently free: it is counted, logged
 * once, marked in the usage summary, and charged `pricing.unpriced` in usage rows and budgets.
 */
describe('a model without a price', () => {
  let emu: OpenAIEmulator;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['UNPRICED_TEST_KEY'] = PROVIDER_KEY;
  });
  after(async () => {
    await emu.close();
  });

  test('is counted, logged once per model, marked in /admin/v1/usage, and charged pricing.unpriced in budgets', async () => {
    // $0.01 per input token; the emulator reports 9 input tokens: $0.09 a request.
    const gw = await startGateway({ instances: openaiInstances(emu.url, 'UNPRICED_TEST_KEY'), pricing: { unpriced: { input_per_mtok: 10_000, output_per_mtok: 0 } } });
    try {
      const key = await gw.key({ name: 'budgeted', limits: { budgetUsd: 0.1 } });
      const admin = (await gw.issued({ name: 'ops', role: 'admin' })).key;
      assert.equal((await chat(gw, key, { model: 'brand-new-model' })).status, 200);
      assert.equal((await chat(gw, key, { model: 'gpt-4o-mini' })).status, 200); // priced: not counted
      await waitFinished(gw, 2);

      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_unpriced_requests_total\{instance="oai",model="brand-new-model"\} 1/);
      assert.doesNotMatch(metrics, /llmproxy_unpriced_requests_total\{[^}]*gpt-4o-mini/);

      // $0.09 and gpt-4o-mini's few micro-dollars are under the $0.10 budget; a second $0.09 is over.
      assert.equal((await chat(gw, key, { model: 'brand-new-model' })).status, 200);
      await waitFinished(gw, 3);
      const refused = await chat(gw, key, { model: 'brand-new-model' });
      assert.equal(refused.status, 429, 'the fallback price was charged to the key budget');
      assert.equal(errorCode(refused), 'budget_exceeded');

      const warned = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('no price for this model'));
      assert.equal(warned.length, 1, 'one warning per model and process');
      assert.equal(warned[0]!['model'], 'brand-new-model');
      assert.equal(warned[0]!['input_per_mtok'], 10_000);

      const res = await fetch(`${gw.url}/admin/v1/usage?by=model&since=1h`, { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(res.status, 200);
      const rows = ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
      const unpriced = rows.find((r) => r['group'] === 'brand-new-model');
      assert.equal(unpriced?.['unpriced'], true);
      assert.equal(unpriced?.['requests'], 2);
      assert.equal(unpriced?.['cost_usd'], 0.18);
      assert.equal(rows.find((r) => r['group'] === 'gpt-4o-mini')?.['unpriced'], undefined);
    } finally {
      await gw.close();
    }
  });

  test('by default costs $0 but is still counted and marked, in the admin API and `llmproxy usage --by model`', async () => {
    const gw = await startGateway({ instances: openaiInstances(emu.url, 'UNPRICED_TEST_KEY') });
    try {
      const key = await gw.key({ name: 'plain' });
      const admin = (await gw.issued({ name: 'ops', role: 'admin' })).key;
      assert.equal((await chat(gw, key, { model: 'local-llama' })).status, 200);
      await waitFinished(gw, 1);
      const value = (await gw.app.metrics.unpricedRequests.get()).values.find((v) => v.labels.model === 'local-llama')?.value;
      assert.equal(value, 1);
      const res = await fetch(`${gw.url}/admin/v1/usage?by=model&since=1h`, { headers: { authorization: `Bearer ${admin}` } });
      const rows = ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
      assert.deepEqual(rows, [{ group: 'local-llama', requests: 1, input_tokens: 9, output_tokens: rows[0]!['output_tokens'], cost_usd: 0, unpriced: true }]);

      // The CLI reads the same store (the rows were flushed by the admin call) and prices with the same tables.
      const config = join(gw.dir, 'llmproxy.yaml');
      writeFileSync(config, ['storage: { sqlite: { path: ./llmproxy.db } }', 'instances:', `  oai: { type: openai, endpoint: "${emu.url}", authentication: { type: api_key, api_key: "\${env:UNPRICED_TEST_KEY}" } }`].join('\n'));
      const json = await runCliJson<{ rows: Array<Record<string, unknown>> }>(['usage', '--by', 'model', '--json', '--config', config], { cwd: gw.dir });
      assert.equal(json.rows[0]!['unpriced'], true);
      const table = await runCli(['usage', '--by', 'model', '--config', config], { cwd: gw.dir });
      assert.match(table.stdout, /local-llama \*/);
      assert.match(table.stdout, /\* no price for this model: charged pricing\.unpriced/);
      const byKey = await runCli(['usage', '--by', 'key', '--config', config], { cwd: gw.dir });
      assert.doesNotMatch(byKey.stdout, /no price/);
    } finally {
      await gw.close();
    }
  });
});
