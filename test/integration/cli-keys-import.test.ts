import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { OpenAIEmulator } from '../emulators/openai.js';
import { pollUntil, removeDir, runCli, startServe, tempDir, type CliResult, type ServeProcess } from '../helpers/cli.js';

/**
 * Issue 17, items 6-8 through the real `llmproxy` subprocesses: pre-made keys imported from the
 * environment (the seed's `API_KEY_*` from a Kubernetes Secret) and from a file, used with the
 * OpenAI SDK against a running `llmproxy serve`, refused once revoked; `keys list --stale`;
 * `auth.api_keys.enabled: false` and `AUTH_ENABLED=false` at startup.
 */

const PROVIDER_KEY = 'sk-provider-cli-import-8c1d2e3f4a5b6c7d';
const USER1 = randomBytes(32).toString('hex'); // openssl rand -hex 32, as the seed makes them
const CI_BOT = randomBytes(24).toString('base64url');
const FROM_FILE = randomBytes(32).toString('hex');

interface KeyJson {
  id: string;
  name: string;
  role: string;
  status: string;
  imported: boolean;
  created_at: string;
  scopes: { instances: string[] | null };
  source?: string;
  result?: string;
}

describe('llmproxy keys import: pre-made keys become gateway keys, found without the llmp_ format', () => {
  let emu: OpenAIEmulator;
  let root: string;
  let work: string;
  let configPath: string;
  let dbPath: string;
  let serve: ServeProcess | undefined;

  const env = (extra: Record<string, string> = {}) => ({ IMPORT_TEST_OPENAI_KEY: PROVIDER_KEY, ...extra });
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli([...args, '--config', configPath], { cwd: work, env: env(extra) });
  const sdk = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${serve!.url}/transparent/openai/v1`, maxRetries: 0 });
  const auditRows = (sql: string, ...args: unknown[]) => {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...args) as Array<Record<string, unknown>>;
    } finally {
      db.close();
    }
  };

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    root = tempDir('llmproxy-cli-import-');
    work = join(root, 'work');
    mkdirSync(work);
    configPath = join(root, 'gateway.yaml');
    dbPath = join(root, 'keys.db');
    writeFileSync(
      configPath,
      [
        'server: { host: 127.0.0.1, port: 0, shutdown_timeout: 5s }',
        'storage: { sqlite: { path: ./keys.db } }',
        'auth:',
        '  api_keys: { revocation_poll: 200ms, bootstrap_admin: false }',
        'instances:',
        '  openai:',
        '    type: openai',
        `    endpoint: ${emu.url}`,
        '    authentication: { type: api_key, api_key: "${env:IMPORT_TEST_OPENAI_KEY}" }',
        '',
      ].join('\n'),
    );
    serve = await startServe(['--config', configPath], { cwd: work, env: env() });
  });

  after(async () => {
    serve?.kill();
    await serve?.waitForExit(10_000).catch(() => undefined);
    await emu?.close();
    if (root) removeDir(root);
  });

  test('--from-env API_KEY_: each variable becomes a key named after it, hashed, audited; the SDK works with the secret as it was', async () => {
    const r = await cli(['keys', 'import', '--from-env', 'K1TEST_API_KEY_', '--role', 'developer', '--instances', 'openai', '--json'], {
      K1TEST_API_KEY_USER1: USER1,
      K1TEST_API_KEY_CI_BOT: CI_BOT,
    });
    assert.equal(r.code, 0, r.stderr);
    const imported = JSON.parse(r.stdout) as KeyJson[];
    assert.deepEqual(
      imported.map((k) => [k.name, k.role, k.imported, k.result, k.source, k.scopes.instances]),
      [
        ['ci_bot', 'developer', true, 'imported', 'env:K1TEST_API_KEY_CI_BOT', ['openai']],
        ['user1', 'developer', true, 'imported', 'env:K1TEST_API_KEY_USER1', ['openai']],
      ],
    );
    assert.ok(!r.stdout.includes(USER1) && !r.stdout.includes(CI_BOT), 'no secret is printed');

    // Only hashes are stored: neither secret is anywhere in the database file's key rows.
    const rows = auditRows('SELECT secret_hash, lookup FROM api_keys');
    for (const row of rows) {
      assert.match(String(row['secret_hash']), /^\$argon2id\$/);
      assert.ok(![USER1, CI_BOT].includes(String(row['lookup'])));
    }
    const audited = auditRows(`SELECT detail FROM audit_log WHERE event = 'admin' AND reason = 'key.import' ORDER BY id`).map((a) => JSON.parse(String(a['detail'])) as { target: string; source: string });
    assert.deepEqual(audited.map((a) => a.source).sort(), ['env:K1TEST_API_KEY_CI_BOT', 'env:K1TEST_API_KEY_USER1']);
    assert.ok(!JSON.stringify(audited).includes(USER1));

    const models = await sdk(USER1).models.list();
    assert.ok(models.data.length > 0);
    const chat = await sdk(CI_BOT).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.object, 'chat.completion');
    // A near miss of an imported secret is refused like any wrong key.
    await assert.rejects(sdk(USER1.slice(0, -1) + (USER1.endsWith('0') ? '1' : '0')).models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);

    // Re-running the same import changes nothing.
    const again = await cli(['keys', 'import', '--from-env', 'K1TEST_API_KEY_', '--json'], { K1TEST_API_KEY_USER1: USER1, K1TEST_API_KEY_CI_BOT: CI_BOT });
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as KeyJson[];
    assert.deepEqual(second.map((k) => [k.name, k.result]), [['ci_bot', 'unchanged'], ['user1', 'unchanged']]);
    assert.deepEqual(second.map((k) => k.id).sort(), imported.map((k) => k.id).sort());
    assert.equal(auditRows('SELECT id FROM api_keys').length, 2);
    assert.equal(auditRows(`SELECT id FROM audit_log WHERE event = 'admin' AND reason = 'key.import'`).length, 2, 'an unchanged key is not audited again');
  });

  test('weak, duplicated or clashing secrets stop the whole import, naming the variable and never the value', async () => {
    const fresh = randomBytes(32).toString('hex');
    const r = await cli(['keys', 'import', '--from-env', 'K1WEAK_API_KEY_'], {
      K1WEAK_API_KEY_SHORT: 'hunter2hunter2',
      K1WEAK_API_KEY_REPEAT: 'abababababababababababababababab',
      K1WEAK_API_KEY_STOLEN: USER1, // already key user1
      K1WEAK_API_KEY_FINE: fresh,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing imported/);
    assert.match(r.stderr, /env:K1WEAK_API_KEY_SHORT \(short\): the secret is 14 characters/);
    assert.match(r.stderr, /env:K1WEAK_API_KEY_REPEAT \(repeat\): the secret looks too weak/);
    assert.match(r.stderr, /env:K1WEAK_API_KEY_STOLEN \(stolen\): this secret is already key \w+ \(user1\)/);
    for (const secret of ['hunter2hunter2', USER1, fresh]) assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret));
    assert.equal(auditRows(`SELECT id FROM api_keys WHERE name = 'fine'`).length, 0, 'all or nothing');

    const none = await cli(['keys', 'import', '--from-env', 'K1NOTHING_']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no environment variable starts with K1NOTHING_/);
    const both = await cli(['keys', 'import', '--from-env', 'A_', '--from-file', 'x']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --from-env PREFIX and --from-file FILE/);
  });

  test('--from-file: dotenv lines, revoked → refused by the running gateway within seconds, and never re-imported', async () => {
    const file = join(root, 'keys.env');
    writeFileSync(file, ['# from the Kubernetes Secret', '', `export API_KEY_BATCH="${FROM_FILE}"`, 'OTHER_SETTING=ignored-because-of-prefix-0123456789abcdef', ''].join('\n'));
    const r = await cli(['keys', 'import', '--from-file', file, '--prefix', 'API_KEY_', '--role', 'viewer', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [batch] = JSON.parse(r.stdout) as KeyJson[];
    assert.deepEqual([batch!.name, batch!.role, batch!.source, batch!.result], ['batch', 'viewer', `file:${file}:3`, 'imported']);

    assert.ok((await sdk(FROM_FILE).models.list()).data.length > 0);
    const revoked = await cli(['keys', 'revoke', batch!.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const refused = await pollUntil(
      async () => {
        try {
          await sdk(FROM_FILE).models.list();
          return false;
        } catch (e) {
          return e instanceof OpenAI.AuthenticationError;
        }
      },
      5000,
      100,
    );
    assert.ok(refused, 'the revoked imported key is refused');
    const again = await cli(['keys', 'import', '--from-file', file, '--prefix', 'API_KEY_']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /which is revoked; a revoked key is not brought back/);

    const bad = join(root, 'bad.env');
    writeFileSync(bad, `good=${randomBytes(16).toString('hex')}\nthis line has no equals sign ${FROM_FILE}\n`);
    const malformed = await cli(['keys', 'import', '--from-file', bad]);
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /bad\.env:2: not a NAME=secret line/);
    assert.ok(!malformed.stderr.includes(FROM_FILE));
  });

  test('keys list --stale 60d lists the active keys created more than 60 days ago', async () => {
    const created = await cli(['keys', 'create', '--name', 'aged', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const aged = JSON.parse(created.stdout) as KeyJson;
    // Age the key as time would: its creation 61 days back.
    const db = new Database(dbPath, { fileMustExist: true });
    try {
      db.prepare('UPDATE api_keys SET created_at = ? WHERE id = ?').run(Date.now() - 61 * 86_400_000, aged.id);
    } finally {
      db.close();
    }
    const stale = await cli(['keys', 'list', '--stale', '60d', '--json']);
    assert.equal(stale.code, 0, stale.stderr);
    assert.deepEqual((JSON.parse(stale.stdout) as KeyJson[]).map((k) => k.name), ['aged']);
    const table = await cli(['keys', 'list', '--stale', '60d']);
    assert.match(table.stdout, /aged/);
    assert.doesNotMatch(table.stdout, /user1/);
    assert.match((await cli(['keys', 'list', '--stale', '365d'])).stdout, /no active key older than 365d/);
    const bad = await cli(['keys', 'list', '--stale', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--stale must be a duration such as 60d/);
  });
});

/** One instance that is never called (the gateway needs one to start). */
const INSTANCES = ['instances:', '  openai: { type: openai, endpoint: "http://127.0.0.1:9", authentication: { type: api_key, api_key: "${env:K1_NEVER_CALLED_KEY}" } }', ''].join('\n');
process.env['K1_NEVER_CALLED_KEY'] = 'sk-never-called-0123456789';

describe('llmproxy serve: API keys switched off, authentication switched off', () => {
  let root: string;
  before(() => {
    root = tempDir('llmproxy-cli-authoff-');
  });
  after(() => removeDir(root));

  test('auth.api_keys.enabled: false creates no bootstrap key and refuses every key, audited', async () => {
    const configPath = join(root, 'keys-off.yaml');
    writeFileSync(configPath, ['server: { host: 127.0.0.1, port: 0 }', 'storage: { sqlite: { path: ./off.db } }', 'auth: { api_keys: { enabled: false } }', INSTANCES].join('\n'));
    const serve = await startServe(['--config', configPath], { cwd: root });
    try {
      assert.doesNotMatch(serve.stdout(), /llmp_/, 'no bootstrap key was made or printed');
      const created = await runCli(['keys', 'create', '--name', 'made-anyway', '--role', 'admin', '--json', '--config', configPath], { cwd: root });
      const key = (JSON.parse(created.stdout) as { key: string }).key;
      const res = await fetch(`${serve.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 401);
    } finally {
      await serve.stop(10_000);
    }
    const db = new Database(join(root, 'off.db'), { readonly: true });
    try {
      assert.deepEqual(db.prepare(`SELECT name FROM api_keys`).all(), [{ name: 'made-anyway' }]);
      assert.deepEqual(db.prepare(`SELECT result, reason FROM audit_log WHERE event = 'auth'`).all(), [{ result: 'failure', reason: 'api_keys_disabled' }]);
    } finally {
      db.close();
    }
  });

  test('AUTH_ENABLED=false (auth.mode: none) is refused on a non-loopback address and serves the local admin on 127.0.0.1', async () => {
    const configPath = join(root, 'none.yaml');
    writeFileSync(configPath, ['server: { host: 127.0.0.1, port: 0 }', 'storage: { sqlite: { path: ./none.db } }', INSTANCES].join('\n'));
    const everywhere = await runCli(['serve', '--config', configPath, '--host', '0.0.0.0'], { cwd: root, env: { AUTH_ENABLED: 'false' } });
    assert.notEqual(everywhere.code, 0);
    assert.match(everywhere.stderr + everywhere.stdout, /auth\.mode: none \(AUTH_ENABLED=false\).*must listen on a loopback address/);

    const serve = await startServe(['--config', configPath], { cwd: root, env: { AUTH_ENABLED: 'false' } });
    try {
      assert.doesNotMatch(serve.stdout(), /llmp_/, 'no bootstrap key without authentication');
      const warning = serve.logs().find((l) => l['auth_mode'] === 'none');
      assert.equal(warning?.['level'], 'warn');
      assert.match(String(warning?.['msg']), /AUTHENTICATION IS OFF/);
      const res = await fetch(`${serve.url}/admin/v1/keys`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-llmproxy-auth'), 'none');
    } finally {
      await serve.stop(10_000);
    }
    const bad = await runCli(['config', 'check', '--config', configPath], { cwd: root, env: { AUTH_ENABLED: 'maybe' } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /AUTH_ENABLED/);
  });
});
