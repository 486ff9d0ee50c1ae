import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/clientauth/basic/password.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { CLI_MAIN, childEnv, pollUntil, removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-basic-test-31d0c9e8a7b6f542';
process.env['BASIC_TEST_OPENAI_KEY'] = PROVIDER_KEY;

function config(emuUrl: string, auth: Record<string, unknown> = {}) {
  return {
    instances: {
      openai: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${BASIC_TEST_OPENAI_KEY}' } },
      other: { type: 'openai', endpoint: emuUrl, authentication: { type: 'api_key', api_key: '${BASIC_TEST_OPENAI_KEY}' } },
    },
    auth: { api_keys: { revocation_poll: '100ms' }, basic: { enabled: true, change_poll: '100ms' }, ...auth },
  };
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };

async function call(gw: TestGateway, headers: Record<string, string>, path = '/transparent/openai/v1/models') {
  const res = await fetch(gw.url + path, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** `llmproxy <args>` with `input` on stdin (runCli gives the child no stdin). */
function runCliWithInput(args: string[], input: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe('Basic auth for users', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let dir: string;
  let configPath: string;
  const PASSWORD = 'alice-password-1234';

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    dir = tempDir('llmproxy-basic-');
    gw = await startGateway(config(emu.url, { failed_attempts: { limit: 5, window: '1m' } }), { dir });
    // The CLI works on the same SQLite file, as an operator's shell next to a running gateway would.
    configPath = join(dir, 'cli.yaml');
    writeFileSync(
      configPath,
      [
        'storage: { sqlite: { path: ./llmproxy.db } }',
        'auth: { basic: { enabled: true } }',
        'instances:',
        '  openai: { type: openai, authentication: { type: api_key, api_key: "${BASIC_TEST_OPENAI_KEY}" } }',
        '',
      ].join('\n'),
    );
    await gw.app.store.identity.users.create({ name: 'alice', role: 'developer', passwordHash: await hashPassword(PASSWORD), scopes: { instances: null, models: null }, limits: NO_LIMITS });
  });
  after(async () => {
    await gw.close();
    await emu.close();
    removeDir(dir);
  });

  test('a user with the right password is served as a basic principal, audited with the user name', async () => {
    const r = await call(gw, basic('alice', PASSWORD));
    assert.equal(r.status, 200, r.text);
    assert.equal(emu.last.headers.authorization, `Bearer ${PROVIDER_KEY}`, 'the Basic credential is replaced by the provider key');
    await gw.settle();
    const success = (await gw.app.store.audit.query({ result: 'success', limit: 5 }))[0];
    assert.equal(success?.method, 'basic');
    assert.equal(success?.user, 'alice');
  });

  test('a wrong password and an unknown user get the same 401 as a bad API key', async () => {
    const wrong = await call(gw, basic('alice', 'not-the-password'));
    const unknown = await call(gw, basic('nobody', PASSWORD));
    const badKey = await call(gw, { authorization: 'Bearer sk-nonsense' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.text, badKey.text);
    await gw.settle();
    const reasons = (await gw.app.store.audit.query({ result: 'failure', limit: 10 })).map((e) => e.reason);
    assert.ok(reasons.includes('bad_password') && reasons.includes('unknown_user'));
  });

  test('the user\'s scopes apply: an instance outside them is refused', async () => {
    await gw.app.store.identity.users.create({ name: 'scoped', role: 'developer', passwordHash: await hashPassword('scoped-password-1'), scopes: { instances: ['other'], models: null }, limits: NO_LIMITS });
    assert.equal((await call(gw, basic('scoped', 'scoped-password-1'), '/transparent/other/v1/models')).status, 200);
    const r = await call(gw, basic('scoped', 'scoped-password-1'), '/transparent/openai/v1/models');
    assert.equal(r.status, 403);
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'instance_not_in_scope');
  });

  test('disable takes effect at once in this process; enable restores the user', async () => {
    assert.equal((await call(gw, basic('alice', PASSWORD))).status, 200);
    await gw.app.store.identity.users.setDisabled('alice', true, Date.now());
    assert.equal((await call(gw, basic('alice', PASSWORD))).status, 401);
    await gw.app.store.identity.users.setDisabled('alice', false, Date.now());
    assert.equal((await call(gw, basic('alice', PASSWORD))).status, 200);
  });

  test('`llmproxy users disable` and `users passwd` in another process reach the running gateway within seconds', async () => {
    const created = await runCli(['users', 'create', 'bob', '--role', 'viewer', '--config', configPath, '--json'], { cwd: dir });
    assert.equal(created.code, 0, created.stderr);
    const bob = JSON.parse(created.stdout) as { name: string; role: string; password: string };
    assert.equal(bob.role, 'viewer');
    assert.equal((await call(gw, basic('bob', bob.password))).status, 200);

    const disabled = await runCli(['users', 'disable', 'bob', '--config', configPath], { cwd: dir });
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.ok(await pollUntil(async () => (await call(gw, basic('bob', bob.password))).status === 401, 5000), 'disable not seen within 5 s');
    assert.equal((await runCli(['users', 'enable', 'bob', '--config', configPath], { cwd: dir })).code, 0);
    assert.ok(await pollUntil(async () => (await call(gw, basic('bob', bob.password))).status === 200, 5000), 'enable not seen within 5 s');

    const changed = await runCliWithInput(['users', 'passwd', 'bob', '--password-stdin', '--config', configPath], 'bob-new-password-42\n', dir);
    assert.equal(changed.code, 0, changed.stderr);
    assert.ok(!changed.stdout.includes('bob-new-password-42'), 'a password given on stdin is not printed');
    assert.ok(await pollUntil(async () => (await call(gw, basic('bob', bob.password))).status === 401, 5000), 'the old password still works after 5 s');
    assert.equal((await call(gw, basic('bob', 'bob-new-password-42'))).status, 200);
  });

  test('brute force against Basic: failed guesses from one address get 429 with Retry-After, even for the right password', async () => {
    for (let i = 0; i < 5; i++) await call(gw, basic('alice', `guess-number-${i}`));
    const r = await call(gw, basic('alice', PASSWORD));
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'too_many_auth_failures');
  });

  test('no password reaches the log', async () => {
    await gw.settle();
    const logs = gw.logs.join('\n');
    for (const s of [PASSWORD, 'scoped-password-1', 'bob-new-password-42', Buffer.from(`alice:${PASSWORD}`).toString('base64')]) assert.ok(!logs.includes(s));
  });
});

describe('Basic auth is opt-in', () => {
  test('with auth.basic.enabled false (the default) a Basic credential is not accepted', async () => {
    const emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    const gw = await startGateway(config(emu.url, { basic: { enabled: false } }));
    try {
      await gw.app.store.identity.users.create({ name: 'alice', role: 'developer', passwordHash: await hashPassword('alice-password-1234'), scopes: { instances: null, models: null }, limits: NO_LIMITS });
      assert.equal((await call(gw, basic('alice', 'alice-password-1234'))).status, 401);
    } finally {
      await gw.close();
      await emu.close();
    }
  });
});
