import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { validate } from '../../src/config/load.js';
import { removeDir, runCli, startServe, tempDir, type ServeProcess } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';

/**
 * Item 16 of issue 17: the seed's emergency switches from the environment of `llmproxy serve`.
 * LLM_DISABLE_ALL_PROVIDERS=true is the lockdown (503 on inference, admin still served);
 * LLM_DEFAULT_PROVIDER sends a bare model name on /v1 to that instance (by name or provider type)
 * when no alias matches; one naming no instance stops the start, naming the variable.
 */

const OPENAI_KEY = 'sk-switches-openai-2b3c4d5e6f7a8b9c';
const ANTHROPIC_KEY = 'sk-ant-switches-9c8b7a6f5e4d3c2b';
const KEY_SHAPE = /llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/;

describe('environment switches: LLM_DISABLE_ALL_PROVIDERS and LLM_DEFAULT_PROVIDER', () => {
  let openai: OpenAIEmulator;
  let anthropic: AnthropicEmulator;
  let root: string;
  let n = 0;
  const running = new Set<ServeProcess>();

  before(async () => {
    openai = await new OpenAIEmulator([OPENAI_KEY]).start();
    anthropic = await new AnthropicEmulator([ANTHROPIC_KEY]).start();
    root = tempDir('llmproxy-switches-');
  });
  after(async () => {
    for (const s of running) s.kill();
    await Promise.all([...running].map((s) => s.waitForExit(10_000).catch(() => undefined)));
    await openai?.close();
    await anthropic?.close();
    if (root) removeDir(root);
  });

  function writeConfig(): string {
    const path = join(root, `gateway-${++n}.yaml`);
    writeFileSync(
      path,
      [
        `storage: { sqlite: { path: ./data/switches-${n}.db } }`,
        'server: { host: 127.0.0.1, port: 0 }',
        'auth: { api_keys: { bootstrap_admin: true } }',
        'model_aliases: { house-model: "claude/claude-sonnet-4-5" }',
        'instances:',
        '  openai_main:',
        '    type: openai',
        `    endpoint: ${openai.url}`,
        '    authentication: { type: api_key, api_key: "${env:SWITCHES_OPENAI_KEY}" }',
        '  claude:',
        '    type: anthropic',
        `    endpoint: ${anthropic.url}`,
        '    authentication: { type: api_key, api_key: "${env:SWITCHES_ANTHROPIC_KEY}" }',
        '',
      ].join('\n'),
    );
    return path;
  }

  /** `llmproxy serve` with `env`, its bootstrap admin key, until `check` is done; then a clean stop. */
  async function withServe(env: Record<string, string | undefined>, check: (serve: ServeProcess, key: string) => Promise<void>): Promise<void> {
    const serve = await startServe(['--config', writeConfig()], {
      cwd: root,
      env: { SWITCHES_OPENAI_KEY: OPENAI_KEY, SWITCHES_ANTHROPIC_KEY: ANTHROPIC_KEY, LLM_EMERGENCY_MODE: undefined, LLM_DISABLE_ALL_PROVIDERS: undefined, LLM_DEFAULT_PROVIDER: undefined, ...env },
    });
    running.add(serve);
    try {
      await serve.waitForStdout((s) => KEY_SHAPE.test(s), 10_000);
      await check(serve, KEY_SHAPE.exec(serve.stdout())![0]);
    } finally {
      const exit = await serve.stop(20_000);
      running.delete(serve);
      assert.deepEqual(exit, { code: 0, signal: null }, serve.stderr());
    }
  }

  const sdk = (serve: ServeProcess, key: string) => new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: key, maxRetries: 0 });

  test('LLM_DISABLE_ALL_PROVIDERS=true: every inference route answers 503 lockdown, the admin API still works', async () => {
    await withServe({ LLM_DISABLE_ALL_PROVIDERS: 'true' }, async (serve, key) => {
      openai.reset();
      const err = await sdk(serve, key)
        .chat.completions.create({ model: 'openai_main/gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 503);
      assert.equal(err.code, 'lockdown');
      const transparent = await fetch(`${serve.url}/transparent/openai_main/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(transparent.status, 503);
      await transparent.arrayBuffer();
      assert.equal(openai.requests.length, 0, 'nothing reached the provider');

      const keys = await fetch(`${serve.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(keys.status, 200);
      await keys.arrayBuffer();
      const state = await fetch(`${serve.url}/admin/v1/lockdown`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(state.status, 200);
      const body = (await state.json()) as { on: boolean; source: string; reason: string };
      assert.equal(body.on, true);
      assert.equal(body.source, 'env');
      assert.equal(body.reason, 'LLM_DISABLE_ALL_PROVIDERS=true in the environment');
      assert.equal((await fetch(`${serve.url}/health`)).status, 200);
      assert.ok(serve.logs().some((l) => l['variable'] === 'LLM_DISABLE_ALL_PROVIDERS' && String(l['msg']).includes('503')));
    });
  });

  test('LLM_DEFAULT_PROVIDER=<instance>: a bare model goes there (OpenAI SDK); aliases and instance/model still win', async () => {
    await withServe({ LLM_DEFAULT_PROVIDER: 'openai_main' }, async (serve, key) => {
      const client = sdk(serve, key);
      openai.reset();
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(completion.choices[0]?.message.content);
      assert.equal(openai.last.path, '/v1/chat/completions');
      assert.equal((JSON.parse(openai.last.body.toString('utf8')) as { model: string }).model, 'gpt-4o-mini');
      // A name with a slash whose prefix is no instance is a bare name too (Hugging Face style ids).
      await client.chat.completions.create({ model: 'acme/house-llm', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal((JSON.parse(openai.last.body.toString('utf8')) as { model: string }).model, 'acme/house-llm');

      openai.reset();
      anthropic.reset();
      await client.chat.completions.create({ model: 'house-model', messages: [{ role: 'user', content: 'hi' }] });
      await client.chat.completions.create({ model: 'claude/claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(anthropic.requests.filter((q) => q.path === '/v1/messages').length, 2);
      assert.equal(openai.requests.length, 0);
    });
  });

  test('LLM_DEFAULT_PROVIDER=<provider type>: the default instance of that type; without the variable a bare model is 404 unknown_model', async () => {
    await withServe({ LLM_DEFAULT_PROVIDER: 'anthropic' }, async (serve, key) => {
      anthropic.reset();
      await sdk(serve, key).chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(anthropic.last.path, '/v1/messages');
      assert.equal((JSON.parse(anthropic.last.body.toString('utf8')) as { model: string }).model, 'claude-sonnet-4-5');
    });
    await withServe({}, async (serve, key) => {
      const err = await sdk(serve, key)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'unknown_model');
    });
  });

  test('LLM_DEFAULT_PROVIDER naming no instance: serve does not start, and says which variable is wrong', async () => {
    const r = await runCli(['serve', '--config', writeConfig()], {
      cwd: root,
      env: { SWITCHES_OPENAI_KEY: OPENAI_KEY, SWITCHES_ANTHROPIC_KEY: ANTHROPIC_KEY, LLM_DEFAULT_PROVIDER: 'opneai' },
      timeoutMs: 20_000,
    });
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, 'it exited by itself');
    assert.match(r.stderr, /LLM_DEFAULT_PROVIDER: no instance or provider type named "opneai" \(instances: openai_main, claude\)/);
  });

  test('llmproxy config check reports LLM_DEFAULT_PROVIDER: a wrong one fails the check, a right one is shown', async () => {
    const config = writeConfig();
    const env = { SWITCHES_OPENAI_KEY: OPENAI_KEY, SWITCHES_ANTHROPIC_KEY: ANTHROPIC_KEY };
    const wrong = await runCli(['config', 'check', '--config', config, '--json'], { cwd: root, env: { ...env, LLM_DEFAULT_PROVIDER: 'opneai' } });
    assert.equal(wrong.code, 1, wrong.stderr);
    const report = JSON.parse(wrong.stdout) as { ok: boolean; default_provider: { value: string; problem: string | null } };
    assert.equal(report.ok, false);
    assert.equal(report.default_provider.value, 'opneai');
    assert.match(report.default_provider.problem!, /^LLM_DEFAULT_PROVIDER: no instance or provider type named "opneai"/);
    const right = await runCli(['config', 'check', '--config', config], { cwd: root, env: { ...env, LLM_DEFAULT_PROVIDER: 'anthropic' } });
    assert.equal(right.code, 0, right.stdout + right.stderr);
    assert.match(right.stdout, /^default provider: anthropic \(LLM_DEFAULT_PROVIDER\)$/m);
  });

  test('LLM_DEFAULT_PROVIDER: a config reload that removes its instance is rejected, naming the variable', async () => {
    const instance = (name: string) => ({ [name]: { type: 'openai', endpoint: openai.url, authentication: { type: 'api_key', api_key: '${env:SWITCHES_OPENAI_KEY}' } } });
    process.env['SWITCHES_OPENAI_KEY'] = OPENAI_KEY;
    process.env['LLM_DEFAULT_PROVIDER'] = 'keeper';
    const gw = await startGateway({ instances: instance('keeper') }).finally(() => delete process.env['LLM_DEFAULT_PROVIDER']);
    try {
      const next = validate({ server: { host: '127.0.0.1', port: 0 }, storage: { sqlite: { path: join(gw.dir, 'llmproxy.db') } }, instances: instance('renamed') }, 'next');
      const result = await gw.app.reload({ config: next, source: 'next', baseDir: gw.dir });
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.error, /LLM_DEFAULT_PROVIDER: no instance or provider type named "keeper"/);
      assert.deepEqual(gw.app.instances.all.map((i) => i.name), ['keeper']);
    } finally {
      await gw.close();
      delete process.env['SWITCHES_OPENAI_KEY'];
    }
  });
});
