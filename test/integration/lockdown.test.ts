import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeLockdown } from '../../src/governance/lockdown.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { chat, errorCode, openaiInstances } from './governance-support.js';

const PROVIDER_KEY = 'sk-provider-lockdown-0123456789';

describe('emergency lockdown', () => {
  let emu: OpenAIEmulator;
  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    process.env['LOCKDOWN_TEST_KEY'] = PROVIDER_KEY;
  });
  after(async () => {
    await emu.close();
  });

  describe('through the CLI, with a running gateway on the same SQLite file', () => {
    let gw: TestGateway;
    let config: string;
    let key: string;
    before(async () => {
      gw = await startGateway({ instances: openaiInstances(emu.url, 'LOCKDOWN_TEST_KEY', ['oai', 'oai2']), lockdown: { poll_interval: '200ms' } });
      key = await gw.key({ name: 'lockdown' });
      config = join(gw.dir, 'llmproxy.yaml');
      writeFileSync(
        config,
        [
          'storage: { sqlite: { path: ./llmproxy.db } }',
          'instances:',
          ...['oai', 'oai2'].map((n) => `  ${n}: { type: openai, endpoint: "${emu.url}", authentication: { type: api_key, api_key: "\${env:LOCKDOWN_TEST_KEY}" } }`),
        ].join('\n'),
      );
    });
    after(async () => {
      await gw.close();
    });

    test('lockdown on → every inference route answers 503 within the poll interval; /health, /ready and /metrics keep working; off restores service', async () => {
      assert.equal((await chat(gw, key)).status, 200);
      const on = await runCli(['lockdown', 'on', '--reason', 'incident 7', '--config', config], { cwd: gw.dir });
      assert.equal(on.code, 0, on.stderr);
      assert.match(on.stdout, /lockdown ON/);
      await until('the gateway answers 503', async () => (await chat(gw, key)).status === 503, 3000);
      const refused = await chat(gw, key);
      assert.equal(errorCode(refused), 'lockdown');
      // Before authentication: even without a credential the answer is the lockdown.
      const anonymous = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
      assert.equal(anonymous.status, 503);
      const transparent = await fetch(`${gw.url}/transparent/oai/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(transparent.status, 503);
      await transparent.text();
      const bedrock = await fetch(`${gw.url}/model/anthropic.claude-3-haiku/invoke`, { method: 'POST', body: '{}' });
      assert.equal(bedrock.status, 503);
      await bedrock.text();
      assert.equal((await fetch(`${gw.url}/health`)).status, 200);
      assert.equal((await fetch(`${gw.url}/ready`)).status, 200);
      const metrics = await fetch(`${gw.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^llmproxy_lockdown_active 1$/m);
      const admin = await fetch(`${gw.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
      assert.notEqual(admin.status, 503, 'the admin API is never locked down');
      await admin.text();

      const status = await runCliJson<{ on: boolean; source: string; reason: string; actor: string }>(['lockdown', 'status', '--json', '--config', config], { cwd: gw.dir });
      assert.equal(status.on, true);
      assert.equal(status.source, 'store');
      assert.equal(status.reason, 'incident 7');
      assert.match(status.actor, /^cli:/);
      await gw.settle();
      const audited = (await gw.app.store.audit.query({ limit: 50 })).filter((e) => e.event === 'lockdown');
      assert.equal(audited[0]?.reason, 'lockdown on: incident 7');

      const off = await runCli(['lockdown', 'off', '--config', config], { cwd: gw.dir });
      assert.equal(off.code, 0, off.stderr);
      await until('the gateway serves again', async () => (await chat(gw, key)).status === 200, 3000);
    });

    test('lockdown instance NAME on → 503 instance_disabled for that instance only', async () => {
      const on = await runCli(['lockdown', 'instance', 'oai', 'on', '--reason', 'provider outage', '--config', config], { cwd: gw.dir });
      assert.equal(on.code, 0, on.stderr);
      await until('oai is disabled', async () => (await chat(gw, key)).status === 503, 3000);
      const refused = await chat(gw, key);
      assert.equal(errorCode(refused), 'instance_disabled');
      assert.equal((await chat(gw, key, {}, 'oai2')).status, 200);
      const status = await runCliJson<{ disabledInstances: Record<string, { reason: string }> }>(['lockdown', 'status', '--json', '--config', config], { cwd: gw.dir });
      assert.deepEqual(Object.keys(status.disabledInstances), ['oai']);
      assert.equal(status.disabledInstances['oai']?.reason, 'provider outage');
      const unknown = await runCli(['lockdown', 'instance', 'nope', 'on', '--config', config], { cwd: gw.dir });
      assert.equal(unknown.code, 2);
      assert.equal((await runCli(['lockdown', 'instance', 'oai', 'off', '--config', config], { cwd: gw.dir })).code, 0);
      await until('oai serves again', async () => (await chat(gw, key)).status === 200, 3000);
    });

    test('a request waiting for the provider when the switch is thrown gets 503 lockdown at once', async () => {
      emu.behaviour.firstByteDelayMs = 5000;
      try {
        const pending = chat(gw, key);
        await until('the provider received the request', () => emu.requests.some((r) => !r.completed && !r.aborted), 3000);
        const upstream = emu.last;
        await writeLockdown(gw.app.store.governance.settings, true, 'test', 'cut waiting requests');
        const answer = await pending;
        assert.equal(answer.status, 503);
        assert.equal(errorCode(answer), 'lockdown');
        await until('the upstream request is aborted', () => upstream.aborted, 3000);
        assert.equal(upstream.completed, false, 'cut before the provider answered');
      } finally {
        emu.behaviour.firstByteDelayMs = 0;
        await writeLockdown(gw.app.store.governance.settings, false, 'test', undefined);
        await until('the gateway serves again', async () => (await chat(gw, key)).status === 200, 3000);
      }
    });

    test('lockdown during a stream cuts it (and aborts the upstream request)', async () => {
      emu.behaviour.chunkDelayMs = 200;
      try {
        const res = await fetch(`${gw.url}/openai/oai/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        });
        assert.equal(res.status, 200);
        const reader = res.body!.getReader();
        const first = await reader.read();
        assert.equal(first.done, false);
        const upstream = emu.last;
        // Another process (here: a write to the shared store) throws the switch.
        await writeLockdown(gw.app.store.governance.settings, true, 'test', 'cut the stream');
        let text = new TextDecoder().decode(first.value);
        const outcome = await (async () => {
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return 'ended';
              text += new TextDecoder().decode(value);
            }
          } catch {
            return 'failed';
          }
        })();
        assert.equal(outcome, 'failed', 'the client sees a broken stream, not a clean end');
        assert.doesNotMatch(text, /\[DONE\]/);
        await until('the upstream request is aborted', () => upstream.aborted, 3000);
        assert.equal((await chat(gw, key)).status, 503);
      } finally {
        emu.behaviour.chunkDelayMs = 0;
        await writeLockdown(gw.app.store.governance.settings, false, 'test', undefined);
        await until('the gateway serves again', async () => (await chat(gw, key)).status === 200, 3000);
      }
    });
  });

  test('LLM_EMERGENCY_MODE=true: 503 on inference from the start, /health still 200, and the store cannot lift it', async () => {
    process.env['LLM_EMERGENCY_MODE'] = 'true';
    let gw: TestGateway;
    try {
      gw = await startGateway({ instances: openaiInstances(emu.url, 'LOCKDOWN_TEST_KEY'), lockdown: { poll_interval: '100ms' } });
    } finally {
      delete process.env['LLM_EMERGENCY_MODE'];
    }
    try {
      const key = await gw.key({ name: 'emergency' });
      const refused = await chat(gw, key);
      assert.equal(refused.status, 503);
      assert.equal(errorCode(refused), 'lockdown');
      assert.equal((await fetch(`${gw.url}/health`)).status, 200);
      await writeLockdown(gw.app.store.governance.settings, false, 'test', undefined);
      await new Promise((r) => setTimeout(r, 300)); // several poll intervals
      assert.equal((await chat(gw, key)).status, 503);
    } finally {
      await gw.close();
    }
  });
});
