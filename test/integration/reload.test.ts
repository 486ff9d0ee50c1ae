import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Pool } from 'undici';
import { createApp, type App } from '../../src/app.js';
import { issueKey } from '../../src/clientauth/api-key/issue.js';
import { loadConfig } from '../../src/config/load.js';
import type { Exchange } from '../emulators/base.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { closedPort } from '../helpers/net.js';
import { removeDir, runCliJson, startServe, tempDir, type ServeProcess } from '../helpers/cli.js';
import type { TestGateway } from '../helpers/gateway.js';
import { metricValue, until } from '../helpers/wait.js';

/**
 * Config reload (App.reload, SIGHUP in `llmproxy serve`): a good file changes instances and
 * aliases for new requests while a stream on a replaced instance finishes; a bad file changes
 * nothing, is counted and logged without a secret.
 */

const KEY_A = 'sk-reload-provider-a-5d0c8b1e7f2a9364';
const KEY_B = 'sk-reload-provider-b-93e1a7c4b2d60f58';
const LITERAL = 'sk-literal-in-config-77aa31c0d9e8f4b2';

/** The OpenAI emulator whose streams stop after the first event until `release()`. */
class GatedOpenAIEmulator extends OpenAIEmulator {
  #waiting: Array<() => void> = [];
  #open = true;

  hold(): void {
    this.#open = false;
  }

  release(): void {
    this.#open = true;
    for (const go of this.#waiting.splice(0)) go();
  }

  protected override async sse(ex: Exchange, frames: string[]): Promise<void> {
    ex.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...this.responseHeaders() });
    ex.res.write(frames[0]!);
    if (!this.#open) await new Promise<void>((r) => this.#waiting.push(r));
    for (const frame of frames.slice(1)) ex.res.write(frame);
    ex.res.end();
  }
}

interface InstanceSpec {
  name: string;
  keyFile: string;
  endpoint: string;
}

/** The YAML of a gateway config with these instances and aliases (keys come from `${file:...}`). */
function configYaml(instances: InstanceSpec[], aliases: Record<string, string>, extra: string[] = []): string {
  return [
    'server: { host: 127.0.0.1, port: 0 }',
    'storage: { sqlite: { path: ./llmproxy.db } }',
    'auth: { api_keys: { bootstrap_admin: false } }',
    ...extra,
    'instances:',
    ...instances.map((i) => `  ${i.name}: { type: openai, endpoint: "${i.endpoint}", authentication: { type: api_key, api_key: "\${file:./${i.keyFile}}" } }`),
    ...(Object.keys(aliases).length === 0 ? [] : ['model_aliases:', ...Object.entries(aliases).map(([a, t]) => `  ${a}: ${t}`)]),
    '',
  ].join('\n');
}

interface Answer {
  status: number;
  body: string;
}

async function call(url: string, key: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.text() };
}

/** The concatenated `content` deltas of an OpenAI SSE body. */
function streamedText(body: string): string {
  let text = '';
  for (const block of body.split('\n\n')) {
    if (!block.startsWith('data: ') || block === 'data: [DONE]') continue;
    const chunk = JSON.parse(block.slice(6)) as { choices: Array<{ delta?: { content?: string } }> };
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return text;
}

const chatBody = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

/** A streaming chat completion on a plain HTTP/1.1 connection; resolves at the response headers. */
function startStream(url: string, key: string, path: string): Promise<{ status: number; firstChunk: Promise<void>; outcome: Promise<{ body: string; complete: boolean }> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      let body = '';
      let gotFirst: () => void = () => {};
      const firstChunk = new Promise<void>((r) => (gotFirst = r));
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        body += s;
        gotFirst();
      });
      res.on('error', () => {});
      const outcome = new Promise<{ body: string; complete: boolean }>((r) => res.once('close', () => r({ body, complete: res.complete })));
      resolve({ status: res.statusCode ?? 0, firstChunk, outcome });
    });
    req.once('error', reject);
    req.end(JSON.stringify({ ...chatBody('gpt-4o'), stream: true }));
  });
}

describe('config reload in process (App.reload)', () => {
  let emuA: GatedOpenAIEmulator;
  let emuB: OpenAIEmulator;
  let dir: string;
  let configPath: string;
  let app: App;
  let url: string;
  let key: string;
  const logs: string[] = [];
  const A: () => InstanceSpec = () => ({ name: 'first', keyFile: 'key-a', endpoint: emuA.url });
  const B: () => InstanceSpec = () => ({ name: 'second', keyFile: 'key-b', endpoint: emuB.url });
  const gw = () => ({ url }) as TestGateway;

  before(async () => {
    emuA = await new GatedOpenAIEmulator([KEY_A]).start();
    emuB = await new OpenAIEmulator([KEY_B]).start();
    dir = tempDir('llmproxy-reload-');
    writeFileSync(join(dir, 'key-a'), KEY_A);
    writeFileSync(join(dir, 'key-b'), KEY_B);
    configPath = join(dir, 'llmproxy.yaml');
    writeFileSync(configPath, configYaml([A()], { alpha: 'first/gpt-4o' }));
    app = await createApp({ loaded: loadConfig(configPath), logDestination: { write: (line: string) => void logs.push(line) }, listen: { host: '127.0.0.1', port: 0 } });
    url = `http://127.0.0.1:${(await app.listen()).main.port}`;
    key = (await issueKey(app.store.keys, { name: 'reload' })).key;
  });
  after(async () => {
    emuA.release();
    await app.close();
    await emuA.close();
    await emuB.close();
    removeDir(dir);
  });

  const logLines = () => logs.map((l) => JSON.parse(l) as Record<string, unknown>);

  test('an added instance and alias answer after reload; a removed instance and alias are gone', async () => {
    writeFileSync(configPath, configYaml([A()], { alpha: 'first/gpt-4o' }));
    await app.reload(); // a known starting point whatever ran before
    assert.equal((await call(url, key, '/v1/chat/completions', chatBody('beta'))).status, 404, 'beta is not an alias yet');
    assert.equal((await call(url, key, '/transparent/second/v1/chat/completions', chatBody('gpt-4o'))).status, 404);

    writeFileSync(configPath, configYaml([A(), B()], { alpha: 'first/gpt-4o', beta: 'second/gpt-4o-mini' }));
    const result = await app.reload();
    assert.deepEqual(result, { ok: true, added: ['second'], removed: [], changed: [], aliasesChanged: true, restartRequired: [] });

    const viaAlias = await call(url, key, '/v1/chat/completions', chatBody('beta'));
    assert.equal(viaAlias.status, 200, viaAlias.body);
    assert.equal(emuB.last.headers.authorization, `Bearer ${KEY_B}`);
    assert.equal(JSON.parse(emuB.last.body.toString('utf8')).model, 'gpt-4o-mini');
    assert.equal((await call(url, key, '/transparent/second/v1/chat/completions', chatBody('gpt-4o'))).status, 200);
    const models = JSON.parse((await call(url, key, '/v1/models')).body) as { data: Array<{ id: string }> };
    const EMULATED = ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'];
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['alpha', 'beta', ...EMULATED.map((m) => `first/${m}`), ...EMULATED.map((m) => `second/${m}`)]);
    assert.equal((await call(url, key, '/transparent/first/v1/chat/completions', chatBody('gpt-4o'))).status, 200, 'the kept instance still answers');

    writeFileSync(configPath, configYaml([B()], { beta: 'second/gpt-4o-mini' }));
    const removed = await app.reload();
    assert.ok(removed.ok);
    assert.deepEqual(removed.removed, ['first']);
    const gone = await call(url, key, '/transparent/first/v1/chat/completions', chatBody('gpt-4o'));
    assert.equal(gone.status, 404);
    assert.equal(JSON.parse(gone.body).error.code, 'unknown_instance');
    assert.equal((await call(url, key, '/v1/chat/completions', chatBody('alpha'))).status, 404, 'the removed alias still resolves');
    assert.equal((await call(url, key, '/v1/chat/completions', chatBody('beta'))).status, 200);
    assert.deepEqual(app.instances.all.map((i) => i.name), ['second']);
    const remaining = JSON.parse((await call(url, key, '/v1/models')).body) as { data: Array<{ id: string }> };
    assert.deepEqual(remaining.data.map((m) => m.id).sort(), ['beta', ...EMULATED.map((m) => `second/${m}`)], 'the removed instance and alias are not listed');
    assert.ok(logLines().some((l) => l['msg'] === 'configuration reloaded' && JSON.stringify(l['removed']) === '["first"]'));
  });

  test('bad files are rejected, counted and logged without secrets; the running config keeps serving', async () => {
    writeFileSync(configPath, configYaml([A()], { alpha: 'first/gpt-4o' }));
    assert.ok((await app.reload()).ok);
    const failuresBefore = await metricValue(gw(), 'llmproxy_config_reloads_total', { result: 'failure' });
    const running = app.instances.resolve('first');
    const iamPort = await closedPort();
    const unobtainable = [
      '  wx: { type: watsonx, region: us-south, project_id: p1, endpoint: "http://127.0.0.1:9",',
      `        authentication: { type: api_key, api_key: "\${file:./key-a}", iam_url: "http://127.0.0.1:${iamPort}" } }`,
    ];

    const cases: Array<{ what: string; text: string; error: RegExp }> = [
      { what: 'YAML error', text: 'instances:\n  first: { type: openai\n', error: /YAML/ },
      {
        what: 'schema error (unknown field)',
        text: configYaml([A()], {}).replace('type: openai,', 'type: openai, bogus: 1,'),
        error: /instances\.first\.bogus: unknown field/,
      },
      {
        what: 'literal secret',
        text: configYaml([A()], {}).replace('"${file:./key-a}"', `"${LITERAL}"`),
        error: /instances\.first\.authentication\.api_key/,
      },
      { what: 'unresolvable ${file:...}', text: configYaml([{ ...A(), keyFile: 'no-such-key' }], {}), error: /\$\{file:\.\/no-such-key\}/ },
      {
        what: 'a credential that cannot be obtained (IAM unreachable)',
        text: configYaml([A()], {}).replace(/\n$/, `\n${unobtainable.join('\n')}\n`),
        error: /cannot obtain provider credentials:[\s\S]*instances\.wx/,
      },
    ];
    for (const [n, c] of cases.entries()) {
      writeFileSync(configPath, c.text);
      const result = await app.reload();
      assert.equal(result.ok, false, c.what);
      assert.match((result as { error: string }).error, c.error, c.what);
      assert.equal(await metricValue(gw(), 'llmproxy_config_reloads_total', { result: 'failure' }), failuresBefore + n + 1, c.what);
      assert.equal(app.instances.resolve('first'), running, `${c.what}: the running instance was replaced`);
      const still = await call(url, key, '/v1/chat/completions', chatBody('alpha'));
      assert.equal(still.status, 200, `${c.what}: ${still.body}`);
    }
    const rejections = logLines().filter((l) => l['msg'] === 'configuration reload rejected; the running configuration stays');
    assert.ok(rejections.length >= cases.length);
    assert.ok(rejections.every((l) => l['config'] === configPath), 'a rejection log line does not name the file');
    assert.ok(rejections.some((l) => String(l['error']).includes(`invalid configuration (${configPath})`) && /YAML/.test(String(l['error']))), 'the YAML error is not logged');
    const text = logs.join('\n');
    for (const secret of [KEY_A, KEY_B, LITERAL]) assert.ok(!text.includes(secret), 'a secret reached the log');
  });

  test('a changed setting that needs a restart is reported and kept; the rest applies', async () => {
    writeFileSync(configPath, configYaml([A()], { alpha: 'first/gpt-4o' }));
    assert.ok((await app.reload()).ok);
    const timeout = app.config.server.shutdown_timeout;
    writeFileSync(configPath, configYaml([A()], { alpha: 'first/gpt-4o', gamma: 'first/gpt-4o-mini' }).replace('port: 0 }', 'port: 0, shutdown_timeout: 7s }'));
    const result = await app.reload();
    assert.ok(result.ok);
    assert.deepEqual(result.restartRequired, ['server']);
    assert.equal(app.config.server.shutdown_timeout, timeout, 'server settings changed without a restart');
    assert.equal((await call(url, key, '/v1/chat/completions', chatBody('gamma'))).status, 200);
    assert.ok(logLines().some((l) => l['msg'] === 'configuration changes need a restart to take effect; running values kept' && JSON.stringify(l['sections']) === '["server"]'));
  });

  test('a stream in flight on a replaced instance completes; the old instance closes after it', async () => {
    writeFileSync(configPath, configYaml([A()], { alpha: 'first/gpt-4o' }));
    assert.ok((await app.reload()).ok);
    const old = app.instances.resolve('first')!;
    emuA.hold();
    const stream = await startStream(url, key, '/transparent/first/v1/chat/completions');
    assert.equal(stream.status, 200);
    await stream.firstChunk;

    // `first` moves to the other provider account: the new generation has a new instance object.
    writeFileSync(configPath, configYaml([{ ...B(), name: 'first' }], {}));
    const result = await app.reload();
    assert.ok(result.ok);
    assert.deepEqual(result.changed, ['first']);
    assert.notEqual(app.instances.resolve('first'), old);
    const during = await call(url, key, '/transparent/first/v1/chat/completions', chatBody('gpt-4o'));
    assert.equal(during.status, 200, during.body);
    assert.equal(emuB.last.headers.authorization, `Bearer ${KEY_B}`, 'a new request went to the replaced instance');
    assert.equal((old.pool as Pool).closed, false, 'the replaced instance was closed under a running stream');

    emuA.release();
    const outcome = await stream.outcome;
    assert.equal(outcome.complete, true, 'the stream was cut');
    assert.equal(streamedText(outcome.body), OpenAIEmulator.REPLY.join(''));
    assert.ok(outcome.body.endsWith('data: [DONE]\n\n'));
    await until('the replaced instance is closed', () => (old.pool as Pool).closed);
  });
});

describe('SIGHUP reloads llmproxy serve', () => {
  let emu: OpenAIEmulator;
  let dir: string;
  let serve: ServeProcess | undefined;

  before(async () => {
    emu = await new OpenAIEmulator([KEY_A]).start();
    dir = tempDir('llmproxy-sighup-');
  });
  after(async () => {
    serve?.kill();
    await serve?.waitForExit(10_000).catch(() => undefined);
    await emu.close();
    removeDir(dir);
  });

  test('a new alias and instance take effect after SIGHUP; a bad file after another SIGHUP changes nothing', async () => {
    writeFileSync(join(dir, 'key-a'), KEY_A);
    const configPath = join(dir, 'llmproxy.yaml');
    const spec = (name: string) => ({ name, keyFile: 'key-a', endpoint: emu.url });
    writeFileSync(configPath, configYaml([spec('first')], {}));
    const { key } = await runCliJson<{ key: string }>(['keys', 'create', '--name', 'hup', '--json', '--config', configPath], { cwd: dir });
    serve = await startServe(['--config', configPath], { cwd: dir });
    const s = serve;
    assert.equal((await call(s.url, key, '/v1/chat/completions', chatBody('delta'))).status, 404);

    writeFileSync(configPath, configYaml([spec('first'), spec('added')], { delta: 'added/gpt-4o' }));
    s.child.kill('SIGHUP');
    await s.waitForStdout(() => s.logs().some((l) => l['msg'] === 'configuration reloaded'), 15_000);
    const answer = await call(s.url, key, '/v1/chat/completions', chatBody('delta'));
    assert.equal(answer.status, 200, answer.body);
    assert.equal(JSON.parse(emu.last.body.toString('utf8')).model, 'gpt-4o');

    writeFileSync(configPath, 'instances: [\n');
    s.child.kill('SIGHUP');
    await s.waitForStdout(() => s.logs().some((l) => l['msg'] === 'configuration reload rejected; the running configuration stays'), 15_000);
    assert.equal((await call(s.url, key, '/v1/chat/completions', chatBody('delta'))).status, 200, 'the bad file replaced the running config');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /^llmproxy_config_reloads_total\{result="success"\} 1$/m);
    assert.match(metrics, /^llmproxy_config_reloads_total\{result="failure"\} 1$/m);
    assert.equal(s.child.exitCode, null, 'SIGHUP ended the process');
    assert.deepEqual(await s.stop(), { code: 0, signal: null });
  });
});
