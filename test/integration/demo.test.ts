import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { removeDir, runCli, startServe, tempDir, type ServeProcess } from '../helpers/cli.js';

/**
 * `llmproxy serve` with no config at all, in an empty folder: the built-in demo. The first start
 * creates the store and prints one admin key; the OpenAI SDK works through the gateway against
 * the demo upstream; a restart keeps the key and prints nothing new.
 */

const KEY_SHAPE = /llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/g;

describe('the built-in demo: serve with no config in an empty folder', () => {
  let cwd: string;
  let serve: ServeProcess | undefined;
  let key: string;

  before(() => {
    cwd = tempDir('llmproxy-demo-');
  });
  after(async () => {
    serve?.kill();
    await serve?.waitForExit(10_000).catch(() => undefined);
    if (cwd) removeDir(cwd);
  });

  const client = (base: string, apiKey: string) => new OpenAI({ apiKey, baseURL: `${base}/transparent/demo/v1`, maxRetries: 0, timeout: 20_000 });

  async function chatWorks(base: string, apiKey: string, word: string): Promise<void> {
    const openai = client(base, apiKey);
    const completion = await openai.chat.completions.create({ model: 'demo-echo', messages: [{ role: 'user', content: word }] });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.match(completion.choices[0]?.message.content ?? '', new RegExp(`^You said: "${word}"\\.`));
    assert.ok((completion.usage?.total_tokens ?? 0) > 0);
  }

  test('first start: the store is created under ./data and one admin key is printed, once', async () => {
    assert.deepEqual(readdirSync(cwd), [], 'the folder starts empty');
    serve = await startServe(['--port', '0'], { cwd, env: { LLMPROXY_CONFIG: undefined } });
    assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the demo listens on loopback only');
    assert.notEqual(serve.port, 8080, '--port 0 picks a free port');
    // The banner is written right after the listening line; wait for its closing rule.
    await serve.waitForStdout((s) => /Key id \w+:\n\s+llmp_\S+\n[\s\S]*={20,}/.test(s), 10_000);
    const out = serve.stdout();
    const keys = out.match(KEY_SHAPE) ?? [];
    assert.equal(keys.length, 1, `exactly one key in the output, got ${keys.length}`);
    key = keys[0]!;
    assert.match(out, /shown only this once/);
    assert.ok(out.includes(`Admin console: ${serve.url}/console/ (sign in with the key above)`), 'the banner names the console');
    const id = /Key id (\w+):/.exec(out)?.[1];
    assert.ok(key.startsWith(`llmp_${id}_`), 'the banner names the key id');
    assert.ok(existsSync(join(cwd, 'data', 'llmproxy.db')), './data/llmproxy.db was created');
    const listening = serve.logs().find((l) => l['msg'] === 'gateway listening');
    assert.equal(listening?.['config'], 'built-in demo');
    assert.deepEqual(listening?.['instances'], ['demo']);
    assert.equal(listening?.['console'], `${serve.url}/console/`);

    // The key is an admin key in the store (the CLI on the same folder sees it, without the secret).
    const listed = await runCli(['keys', 'list', '--json'], { cwd });
    assert.equal(listed.code, 0, listed.stderr);
    const records = JSON.parse(listed.stdout) as Array<{ id: string; name: string; role: string; status: string }>;
    assert.deepEqual(records.map((r) => [r.id, r.name, r.role, r.status]), [[id, 'bootstrap-admin', 'admin', 'active']]);
    assert.ok(!listed.stdout.includes(key.slice(18)));
  });

  test('the OpenAI SDK works through the gateway: chat completion and streaming, the Responses and Messages APIs', async () => {
    const base = serve!.url;
    await chatWorks(base, key, 'Hello gateway');

    const stream = await client(base, key).chat.completions.create({
      model: 'demo-echo',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.match(text, /^You said: "stream please"\. This reply comes from the built-in demo upstream/);
    assert.ok(chunks > 5, `streamed in ${chunks} chunks`);
    assert.equal(finish, 'stop');
    assert.ok((usage?.completion_tokens ?? 0) > 0, 'usage chunk received');

    const models = await client(base, key).models.list();
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['demo-echo', 'demo-embed']);

    // Protocol mode on the unified /v1 routes: the demo config names its models as aliases.
    const unified = new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0 });
    const viaAlias = await unified.chat.completions.create({ model: 'demo-echo', messages: [{ role: 'user', content: 'via v1' }] });
    assert.match(viaAlias.choices[0]?.message.content ?? '', /^You said: "via v1"/);
    // The Responses API on the demo (its upstream speaks chat only: through the hub), and the
    // Anthropic Messages API on the same instance.
    const response = await unified.responses.create({ model: 'demo-echo', input: 'via responses' });
    assert.match(response.output_text, /^You said: "via responses"/);
    const messages = await fetch(`${base}/anthropic/demo/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'demo-echo', max_tokens: 64, messages: [{ role: 'user', content: 'via messages' }] }),
    });
    assert.equal(messages.status, 200);
    const message = (await messages.json()) as { type: string; content: Array<{ text?: string }> };
    assert.equal(message.type, 'message');
    assert.match(message.content[0]?.text ?? '', /^You said: "via messages"/);
    // /v1/models: the demo's own list as instance/model, and the aliases.
    assert.deepEqual((await unified.models.list()).data.map((m) => m.id).sort(), ['demo-echo', 'demo-embed', 'demo/demo-echo', 'demo/demo-embed']);

    // Without the key, or with a wrong one, the SDK gets a 401.
    const denied = await client(base, `${key.slice(0, 18)}${'A'.repeat(key.length - 18)}`)
      .chat.completions.create({ model: 'demo-echo', messages: [{ role: 'user', content: 'x' }] })
      .then(() => undefined, (err: unknown) => err);
    assert.ok(denied instanceof OpenAI.AuthenticationError, `expected a 401, got ${String(denied)}`);
  });

  test('a restart on the same folder prints no new key, and the first key still works', async () => {
    const first = await serve!.stop(20_000);
    assert.deepEqual(first, { code: 0, signal: null });
    assert.equal((serve!.stdout().match(KEY_SHAPE) ?? []).length, 1, 'the key was printed once in the whole run');

    serve = await startServe(['--port', '0'], { cwd, env: { LLMPROXY_CONFIG: undefined } });
    await chatWorks(serve.url, key, 'Hello again');
    const out = serve.stdout();
    assert.doesNotMatch(out, /llmp_/, 'a restart printed a key');
    assert.doesNotMatch(out, /First start/);

    const listed = JSON.parse((await runCli(['keys', 'list', '--json'], { cwd })).stdout) as unknown[];
    assert.equal(listed.length, 1, 'no second key was created');
    const second = await serve.stop(20_000);
    assert.deepEqual(second, { code: 0, signal: null });
    assert.doesNotMatch(serve.stdout(), /llmp_/);
  });
});
