import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { chat, openaiInstances, waitFinished } from './governance-support.js';

const PROVIDER_KEY = 'sk-provider-usage-0123456789';

describe('usage accounting', () => {
  let emu: OpenAIEmulator;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['USAGE_TEST_KEY'] = PROVIDER_KEY;
  });
  after(async () => {
    await emu.close();
  });

  const rowsIn = (dir: string) => {
    const store = openSqliteStore(join(dir, 'llmproxy.db'));
    return store.governance.usage.summary({ by: 'key', since: 0 }).finally(() => store.close());
  };

  test('rows are written in batches of usage.batch_size without waiting for the interval, the rest on shutdown', async () => {
    // An interval far away: only a full batch or the shutdown writes rows.
    const gw = await startGateway({ instances: openaiInstances(emu.url, 'USAGE_TEST_KEY'), usage: { flush_interval: '1h', batch_size: 3 } });
    const dir = gw.dir;
    try {
      const key = await gw.issued({ name: 'batch', user: 'alice' });
      for (let i = 0; i < 4; i++) assert.equal((await chat(gw, key.key)).status, 200);
      await waitFinished(gw, 4);
      await until('the first batch of 3 is written', async () => (await rowsIn(dir))[0]?.requests === 3);
      assert.equal((await rowsIn(dir))[0]?.requests, 3, 'the 4th row waits for the next batch or the shutdown');
      await gw.app.close();
      const [row] = await rowsIn(dir);
      assert.equal(row?.requests, 4);
      const store = openSqliteStore(join(dir, 'llmproxy.db'));
      try {
        const byUser = await store.governance.usage.summary({ by: 'user', since: 0 });
        assert.deepEqual(byUser, [{ group: 'alice', requests: 4, input_tokens: 36, output_tokens: 24, cost_usd: byUser[0]!.cost_usd }]);
        // gpt-4o list price: 9 × $2.50 + 6 × $10 per million tokens → 83 micro-dollars each (rounded)
        assert.equal(byUser[0]!.cost_usd, 0.000332);
        assert.deepEqual((await store.governance.usage.summary({ by: 'instance', since: 0 })).map((r) => r.group), ['oai']);
        assert.deepEqual((await store.governance.usage.summary({ by: 'model', since: 0 })).map((r) => r.group), ['gpt-4o']);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('llmproxy usage (CLI) over the same store', () => {
    let gw: TestGateway;
    let config: string;
    let alice: { key: string; id: string };
    let bob: { key: string; id: string };
    before(async () => {
      gw = await startGateway({ instances: openaiInstances(emu.url, 'USAGE_TEST_KEY', ['oai', 'oai2']), usage: { flush_interval: '100ms' } });
      config = join(gw.dir, 'llmproxy.yaml');
      writeFileSync(
        config,
        [
          'storage: { sqlite: { path: ./llmproxy.db } }',
          'instances:',
          `  oai: { type: openai, endpoint: "${emu.url}", authentication: { type: api_key, api_key: "\${env:USAGE_TEST_KEY}" } }`,
        ].join('\n'),
      );
      alice = await gw.issued({ name: 'alice', user: 'alice' });
      bob = await gw.issued({ name: 'bob', user: 'bob' });
      for (let i = 0; i < 3; i++) await chat(gw, alice.key);
      await chat(gw, bob.key, {}, 'oai2');
      await waitFinished(gw, 4);
      await until('rows flushed', async () => (await rowsIn(gw.dir)).reduce((t, r) => t + r.requests, 0) === 4);
    });
    after(async () => {
      await gw.close();
    });

    test('--by key --since 30d --json', async () => {
      const out = await runCliJson<{ by: string; since: string; rows: Array<Record<string, unknown>> }>(['usage', '--by', 'key', '--since', '30d', '--json', '--config', config], { cwd: gw.dir });
      assert.equal(out.by, 'key');
      assert.ok(Math.abs(Date.parse(out.since) - (Date.now() - 30 * 86_400_000)) < 60_000);
      const byGroup = Object.fromEntries(out.rows.map((r) => [r['group'], r]));
      assert.equal(byGroup[alice.id]?.['requests'], 3);
      assert.equal(byGroup[alice.id]?.['input_tokens'], 27);
      assert.equal(byGroup[alice.id]?.['output_tokens'], 18);
      assert.equal(byGroup[bob.id]?.['requests'], 1);
    });

    test('--by user, --by instance, --by model; a --since after the requests finds nothing', async () => {
      const group = async (by: string) => (await runCliJson<{ rows: Array<{ group: string; requests: number }> }>(['usage', '--by', by, '--json', '--config', config], { cwd: gw.dir })).rows.map((r) => [r.group, r.requests]);
      assert.deepEqual(await group('user'), [['alice', 3], ['bob', 1]]);
      assert.deepEqual(await group('instance'), [['oai', 3], ['oai2', 1]]);
      assert.deepEqual(await group('model'), [['gpt-4o', 4]]);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      const later = await runCliJson<{ rows: unknown[] }>(['usage', '--since', tomorrow, '--json', '--config', config], { cwd: gw.dir });
      assert.deepEqual(later.rows, []);
    });

    test('a table by default; bad --by is a usage error (exit 2)', async () => {
      const table = await runCli(['usage', '--by', 'user', '--since', '1d', '--config', config], { cwd: gw.dir });
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trim().split('\n');
      assert.match(lines[0]!, /^USER\s+REQUESTS\s+INPUT TOKENS\s+OUTPUT TOKENS\s+COST USD$/);
      assert.match(table.stdout, /^alice\s+3\s+27\s+18\s+0\.0002$/m);
      assert.match(lines.at(-1)!, /^TOTAL\s+4\s+36\s+24/);
      const bad = await runCli(['usage', '--by', 'secret', '--config', config], { cwd: gw.dir });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--by must be one of key, user, instance, model/);
    });
  });
});
