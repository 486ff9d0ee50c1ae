import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TOTP, URI } from 'otpauth';
import { OpenAIEmulator } from '../emulators/openai.js';
import { removeDir, runCli, tempDir, type CliResult } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * `llmproxy users ...` and `llmproxy totp ...` as subprocesses on a config file, then a gateway
 * on the same SQLite file and the same TOTP encryption key accepting what the CLI enrolled.
 */

const PROVIDER_KEY = 'sk-provider-cli-totp-0b9c8d7e6f5a4321';
const TOTP_KEY = 'cli-totp-test-encryption-key-5e0f2a9d';
process.env['CLI_TOTP_OPENAI_KEY'] = PROVIDER_KEY;
process.env['CLI_TOTP_ENC_KEY'] = TOTP_KEY;
const ENV = { CLI_TOTP_OPENAI_KEY: PROVIDER_KEY, CLI_TOTP_ENC_KEY: TOTP_KEY };

describe('llmproxy users / totp CLI', () => {
  let dir: string;
  let configPath: string;
  let emu: OpenAIEmulator;
  let gw: TestGateway | undefined;
  const printed: string[] = [];

  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--config', configPath], { cwd: dir, env: ENV });

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    dir = tempDir('llmproxy-cli-totp-');
    configPath = join(dir, 'llmproxy.yaml');
    writeFileSync(
      configPath,
      [
        'storage: { sqlite: { path: ./llmproxy.db } }',
        'auth:',
        '  basic: { enabled: true }',
        '  totp: { encryption_key: "${env:CLI_TOTP_ENC_KEY}" }',
        'rbac: { roles: { auditor: { permissions: [llm:read] } } }',
        'instances:',
        `  openai: { type: openai, endpoint: "${emu.url}", authentication: { type: api_key, api_key: "\${CLI_TOTP_OPENAI_KEY}" } }`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await gw?.close();
    await emu.close();
    removeDir(dir);
  });

  test('users create / list / show: a generated password is printed once, never a hash', async () => {
    const r = await cli('users', 'create', 'carol', '--role', 'auditor', '--instances', 'openai', '--rpm', '30', '--json');
    assert.equal(r.code, 0, r.stderr);
    const carol = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(carol['name'], 'carol');
    assert.equal(carol['role'], 'auditor', 'a custom role from rbac.roles');
    assert.equal(carol['status'], 'active');
    assert.deepEqual(carol['scopes'], { instances: ['openai'], models: null, endpoints: null });
    assert.deepEqual(carol['limits'], { rpm: 30, tpm: null, budget_usd: null });
    assert.match(carol['password'] as string, /^[0-9A-Za-z]{24}$/);
    printed.push(carol['password'] as string);

    const text = await cli('users', 'create', 'dave');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Password \(shown once/);

    const list = await cli('users', 'list', '--json');
    const users = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(users.map((u) => u['name']), ['carol', 'dave']);
    for (const u of users) assert.equal(u['password'], undefined);
    assert.ok(!list.stdout.includes('argon2'), 'no hash in the output');
    const show = await cli('users', 'show', 'carol');
    assert.match(show.stdout, /role:\s+auditor/);
    assert.ok(!show.stdout.includes(carol['password'] as string));
  });

  test('users create refuses bad input with a clear error and changes nothing', async () => {
    const dup = await cli('users', 'create', 'carol');
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /exists/);
    const role = await cli('users', 'create', 'erin', '--role', 'root');
    assert.equal(role.code, 1);
    assert.match(role.stderr, /unknown role "root"/);
    const name = await cli('users', 'create', 'a:b');
    assert.equal(name.code, 2);
    const missing = await cli('users', 'show', 'nobody');
    assert.equal(missing.code, 1);
    const list = JSON.parse((await cli('users', 'list', '--json')).stdout) as unknown[];
    assert.equal(list.length, 2);
  });

  test('totp enroll --key --json prints exactly key_id, secret, otpauth_uri and backup_codes; the secret is stored encrypted', async () => {
    const key = JSON.parse((await cli('keys', 'create', '--name', 'ci-bot', '--json')).stdout) as { id: string; key: string };
    const r = await cli('totp', 'enroll', '--key', key.id, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no unencrypted-storage warning when encryption_key is set');
    const out = JSON.parse(r.stdout) as { key_id: string; secret: string; otpauth_uri: string; backup_codes: string[] };
    assert.deepEqual(Object.keys(out), ['key_id', 'secret', 'otpauth_uri', 'backup_codes']);
    assert.equal(out.key_id, key.id);
    assert.match(out.secret, /^[A-Z2-7]{32}$/);
    assert.equal(out.backup_codes.length, 10);
    const parsed = URI.parse(out.otpauth_uri) as TOTP;
    assert.ok(parsed instanceof TOTP);
    assert.equal(parsed.issuer, 'llmproxy');
    assert.equal(parsed.label, 'ci-bot');
    assert.equal(parsed.secret.base32, out.secret);
    printed.push(out.secret, ...out.backup_codes);

    const status = JSON.parse((await cli('totp', 'status', '--key', key.id, '--json')).stdout) as Record<string, unknown>;
    assert.equal(status['encrypted'], true);
    assert.equal(status['required'], true);
    assert.equal(status['backup_codes_left'], 10);
    const again = await cli('totp', 'enroll', '--key', key.id);
    assert.equal(again.code, 1, 'a second enrolment needs --force');
    assert.match(again.stderr, /--force/);

    // A gateway on the same store and key accepts a code from the printed secret.
    gw = await startGateway(
      {
        instances: { openai: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${CLI_TOTP_OPENAI_KEY}' } } },
        auth: { totp: { encryption_key: '${env:CLI_TOTP_ENC_KEY}' } },
      },
      { dir },
    );
    const call = (headers: Record<string, string>) => fetch(`${gw!.url}/transparent/openai/v1/models`, { headers, signal: AbortSignal.timeout(10_000) }).then((res) => res.status);
    assert.equal(await call({ authorization: `Bearer ${key.key}` }), 401);
    assert.equal(await call({ authorization: `Bearer ${key.key}`, 'x-totp-code': parsed.generate() }), 200);
    assert.equal(await call({ authorization: `Bearer ${key.key}`, 'x-totp-code': out.backup_codes[0]! }), 200);
    await gw.settle();
    const logs = gw.logs.join('\n');
    for (const s of [out.secret, ...out.backup_codes, TOTP_KEY]) assert.ok(!logs.includes(s), 'a secret reached the log');
  });

  test('totp enroll (text) shows the QR code and the URI; --user enrolls a user; disable removes it', async () => {
    const r = await cli('totp', 'enroll', '--user', 'carol', '--optional');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /[█▀▄]{10}/, 'a QR code drawn with block characters');
    assert.match(r.stdout, /otpauth:\/\/totp\/llmproxy:carol\?/);
    assert.equal(r.stdout.match(/^ {2}[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/gm)?.length, 10);
    const json = await cli('totp', 'enroll', '--user', 'dave', '--json');
    const out = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['user', 'secret', 'otpauth_uri', 'backup_codes']);
    assert.equal(out['user'], 'dave');

    const all = JSON.parse((await cli('totp', 'status', '--json')).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(all.map((e) => e['user'] ?? e['key_id']).length, 3);
    assert.equal(all.find((e) => e['user'] === 'carol')?.['required'], false);
    for (const e of all) for (const s of printed) assert.ok(!JSON.stringify(e).includes(s), 'status printed a secret');

    assert.equal((await cli('totp', 'disable', '--user', 'carol')).code, 0);
    assert.equal(JSON.parse((await cli('totp', 'status', '--user', 'carol', '--json')).stdout), null);
    assert.equal((await cli('totp', 'disable', '--user', 'carol')).code, 1, 'not enrolled any more');
    assert.equal((await cli('totp', 'enroll', '--user', 'nobody')).code, 1);
    assert.equal((await cli('totp', 'enroll', '--key', 'x', '--user', 'carol')).code, 2);
  });
});
