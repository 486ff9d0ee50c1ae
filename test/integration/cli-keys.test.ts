import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { OpenAIEmulator } from '../emulators/openai.js';
import { pollUntil, removeDir, runCli, startServe, tempDir, type CliResult, type ServeProcess } from '../helpers/cli.js';

/**
 * The key lifecycle through the real `llmproxy keys ...` subprocess, against a config file, while
 * a real `llmproxy serve` subprocess on the same config and SQLite file serves requests: changes
 * made by the CLI must reach the running gateway through the store alone.
 */

const PROVIDER_KEY = 'sk-provider-cli-keys-5f2a9c0e71d4b8a3';
const ENV = { CLI_KEYS_OPENAI_KEY: PROVIDER_KEY };

interface KeyJson {
  id: string;
  name: string;
  user: string | null;
  role: string;
  status: 'active' | 'revoked' | 'expired';
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  scopes: { instances: string[] | null; models: string[] | null; endpoints: string[] | null };
  limits: { rpm: number | null; tpm: number | null; budget_usd: number | null };
  rotated_from: string | null;
  key?: string;
  replaced?: KeyJson;
}

const KEY_SHAPE = /llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/g;

describe('llmproxy keys: the key lifecycle through the CLI, seen by a running gateway', () => {
  let emu: OpenAIEmulator;
  let root: string;
  let confDir: string;
  let work: string;
  let configPath: string;
  let dbPath: string;
  let serve: ServeProcess | undefined;
  /** Every full key the CLI printed, to check none reaches the gateway's log. */
  const issuedKeys: string[] = [];

  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--config', configPath], { cwd: work, env: ENV });
  async function cliJson(...args: string[]): Promise<KeyJson> {
    const r = await cli(...args, '--json');
    assert.equal(r.code, 0, `llmproxy ${args.join(' ')} failed: ${r.stderr}`);
    assert.equal(r.stderr, '');
    const parsed = JSON.parse(r.stdout) as KeyJson;
    if (parsed.key) issuedKeys.push(parsed.key);
    return parsed;
  }

  async function call(key: string, path = '/transparent/openai/v1/models', init: RequestInit = {}): Promise<{ status: number; body: string }> {
    const res = await fetch(serve!.url + path, { ...init, signal: AbortSignal.timeout(10_000), headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) } });
    return { status: res.status, body: await res.text() };
  }
  const chat = (key: string, model: string, instance = 'openai') =>
    call(key, `/transparent/${instance}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
  const errorCode = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code;

  /** Polls the gateway with `key` until it answers `want` (at most `timeoutMs`); returns the last status. */
  async function waitForStatus(key: string, want: number, timeoutMs: number): Promise<number> {
    let last = 0;
    await pollUntil(async () => (last = (await call(key)).status) === want, timeoutMs, 50);
    return last;
  }

  function auditRows(keyId: string): Array<{ result: string; reason: string | null; path: string; instance: string | null }> {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT result, reason, path, instance FROM audit_log WHERE key_id = ? ORDER BY id').all(keyId) as Array<{
        result: string;
        reason: string | null;
        path: string;
        instance: string | null;
      }>;
    } finally {
      db.close();
    }
  }

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    root = tempDir('llmproxy-cli-keys-');
    confDir = join(root, 'conf');
    work = join(root, 'work');
    mkdirSync(confDir);
    mkdirSync(work);
    configPath = join(confDir, 'gateway.yaml');
    // The SQLite path is relative: it resolves against the config file's folder, not the cwd.
    dbPath = join(confDir, 'state', 'keys.db');
    writeFileSync(
      configPath,
      [
        'server: { host: 127.0.0.1, port: 0, shutdown_timeout: 5s }',
        'storage: { sqlite: { path: ./state/keys.db } }',
        'auth:',
        '  api_keys: { revocation_poll: 200ms, bootstrap_admin: false }',
        'instances:',
        '  openai:',
        '    type: openai',
        `    endpoint: ${emu.url}`,
        '    authentication: { type: api_key, api_key: "${env:CLI_KEYS_OPENAI_KEY}" }',
        '  other:',
        '    type: openai',
        `    endpoint: ${emu.url}`,
        '    authentication: { type: api_key, api_key: "${env:CLI_KEYS_OPENAI_KEY}" }',
        '',
      ].join('\n'),
    );
    serve = await startServe(['--config', configPath], { cwd: work, env: ENV });
  });

  after(async () => {
    serve?.kill();
    await serve?.waitForExit(10_000).catch(() => undefined);
    await emu?.close();
    if (root) removeDir(root);
  });

  test('keys create shows the secret once; list and show never show it or its hash', async () => {
    const created = await cliJson('keys', 'create', '--name', 'ci-bot', '--user', 'alice');
    assert.match(created.id, /^[0-9A-Za-z]{12}$/);
    assert.ok(created.key?.startsWith(`llmp_${created.id}_`), 'the key names its id');
    assert.equal(created.name, 'ci-bot');
    assert.equal(created.user, 'alice');
    assert.equal(created.role, 'developer', 'a key created without --role is a developer key');
    assert.equal(created.status, 'active');
    assert.equal(created.expires_at, null);
    assert.equal(created.revoked_at, null);
    assert.deepEqual(created.scopes, { instances: null, models: null, endpoints: null });
    assert.deepEqual(created.limits, { rpm: null, tpm: null, budget_usd: null });
    assert.equal(created.rotated_from, null);
    for (const field of Object.keys(created)) assert.doesNotMatch(field, /hash/i);
    const secret = created.key!.slice(`llmp_${created.id}_`.length);

    // The store is where the config says, relative to the config file; nothing lands in the cwd.
    assert.ok(existsSync(dbPath), 'the SQLite file is next to the config');
    assert.ok(!existsSync(join(work, 'data')) && !existsSync(join(work, 'state')), 'nothing was created in the cwd');

    // The running gateway accepts the key the CLI wrote, and swaps in the provider key.
    emu.reset();
    assert.equal((await call(created.key!)).status, 200);
    assert.equal(emu.last.headers.authorization, `Bearer ${PROVIDER_KEY}`);

    // Human output: the key once, with the warning.
    const human = await cli('keys', 'create', '--name', 'by-hand');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /shown once/);
    const printed = human.stdout.match(KEY_SHAPE) ?? [];
    assert.equal(printed.length, 1, 'exactly one key printed');
    issuedKeys.push(printed[0]!);
    assert.equal((await call(printed[0]!)).status, 200);

    const table = await cli('keys', 'list');
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+USER\s+ROLE\s+STATUS\s+CREATED\s+EXPIRES\s+LAST USED$/);
    const row = lines.find((l) => l.startsWith(created.id));
    assert.ok(row, 'the key is listed');
    assert.match(row, /\bci-bot\s+alice\s+developer\s+active\b/);
    assert.ok(lines.some((l) => /\bby-hand\b/.test(l)));

    const listed = JSON.parse((await cli('keys', 'list', '--json')).stdout) as KeyJson[];
    const entry = listed.find((k) => k.id === created.id);
    assert.ok(entry);
    assert.equal(entry.name, 'ci-bot');
    assert.equal(entry.status, 'active');
    assert.ok(!('key' in entry), 'list --json carries no key');

    const show = await cli('keys', 'show', created.id);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^id:\\s+${created.id}$`, 'm'));
    assert.match(show.stdout, /^name:\s+ci-bot$/m);
    assert.match(show.stdout, /^role:\s+developer$/m);
    assert.match(show.stdout, /^status:\s+active$/m);
    assert.match(show.stdout, /^expires:\s+never$/m);
    const shown = await cliJson('keys', 'show', created.id);
    const { last_used_at: _a, ...shownRest } = shown;
    const { last_used_at: _b, key: _c, ...createdRest } = created;
    assert.deepEqual(shownRest, createdRest);

    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    const hash = (db.prepare('SELECT secret_hash FROM api_keys WHERE id = ?').get(created.id) as { secret_hash: string }).secret_hash;
    db.close();
    assert.match(hash, /^\$argon2id\$/, 'only a slow hash is stored');
    assert.ok(!hash.includes(secret));

    for (const out of [table, show, await cli('keys', 'list', '--json'), await cli('keys', 'show', created.id, '--json')]) {
      const text = out.stdout + out.stderr;
      assert.ok(!text.includes(secret), 'a listing shows the secret');
      assert.ok(!text.includes(hash) && !text.includes('$argon2'), 'a listing shows the hash');
      assert.doesNotMatch(text, KEY_SHAPE);
    }
  });

  test('--user, --role, --instances, --models, --expires and limits are stored, shown and enforced', async () => {
    const before = Date.now();
    const scoped = await cliJson(
      'keys', 'create', '--name', 'scoped', '--user', 'bob', '--role', 'developer',
      '--instances', 'openai', '--models', 'gpt-4o-mini,ft:gpt-4o:*',
      '--expires', '30d', '--rpm', '60', '--tpm', '1000', '--budget-usd', '12.5',
    );
    const afterCreate = Date.now();
    assert.deepEqual(scoped.scopes, { instances: ['openai'], models: ['gpt-4o-mini', 'ft:gpt-4o:*'], endpoints: null });
    assert.deepEqual(scoped.limits, { rpm: 60, tpm: 1000, budget_usd: 12.5 });
    assert.equal(scoped.user, 'bob');
    const expires = Date.parse(scoped.expires_at!);
    const thirtyDays = 30 * 86_400_000;
    assert.ok(expires >= before + thirtyDays && expires <= afterCreate + thirtyDays, `expires_at ${scoped.expires_at}`);
    const show = await cli('keys', 'show', scoped.id);
    assert.match(show.stdout, /^instances:\s+openai$/m);
    assert.match(show.stdout, /^models:\s+gpt-4o-mini, ft:gpt-4o:\*$/m);
    assert.match(show.stdout, /^limits:\s+rpm 60, tpm 1000, budget \$12\.5$/m);
    assert.match(show.stdout, new RegExp(`^expires:\\s+${scoped.expires_at!.replace(/[.]/g, '\\.')}$`, 'm'));

    emu.reset();
    assert.equal((await chat(scoped.key!, 'gpt-4o-mini')).status, 200);
    assert.equal((await chat(scoped.key!, 'ft:gpt-4o:acme:x')).status, 200);
    const wrongModel = await chat(scoped.key!, 'gpt-4o');
    assert.equal(wrongModel.status, 403);
    assert.equal(errorCode(wrongModel.body), 'model_not_in_scope');
    const wrongInstance = await chat(scoped.key!, 'gpt-4o-mini', 'other');
    assert.equal(wrongInstance.status, 403);
    assert.equal(errorCode(wrongInstance.body), 'instance_not_in_scope');
    assert.equal(emu.requests.length, 2, 'refused requests never reached the provider');

    const viewer = await cliJson('keys', 'create', '--name', 'dashboards', '--role', 'viewer');
    assert.equal(viewer.role, 'viewer');
    assert.equal((await call(viewer.key!)).status, 200, 'a viewer may list models');
    const denied = await chat(viewer.key!, 'gpt-4o');
    assert.equal(denied.status, 403, 'a viewer may not call models');
    assert.equal(errorCode(denied.body), 'permission_denied');

    const admin = await cliJson('keys', 'create', '--name', 'ops', '--role', 'admin');
    assert.equal(admin.role, 'admin');
    assert.equal((await chat(admin.key!, 'gpt-4o')).status, 200);
  });

  test('keys revoke: the running gateway refuses the key within the revocation poll interval', async () => {
    const k = await cliJson('keys', 'create', '--name', 'to-revoke');
    // Used once, so the gateway holds a verified, cached result for it.
    assert.equal((await call(k.key!)).status, 200);
    assert.equal((await call(k.key!)).status, 200);

    const revoked = await cli('keys', 'revoke', k.id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked ${k.id} \\(to-revoke\\)`));
    // revocation_poll is 200ms; the design allows at most 5 s for another process to see it.
    assert.equal(await waitForStatus(k.key!, 401, 5000), 401, 'the revoked key is still accepted');
    const refused = await call(k.key!);
    assert.equal(refused.status, 401);
    assert.equal(errorCode(refused.body), 'unauthorized');

    const shown = await cliJson('keys', 'show', k.id);
    assert.equal(shown.status, 'revoked');
    assert.ok(shown.revoked_at !== null);
    // Revoking again changes nothing.
    const again = await cliJson('keys', 'revoke', k.id);
    assert.equal(again.status, 'revoked');
    assert.equal(again.revoked_at, shown.revoked_at);

    // The audit trail records both the accepted and the refused requests, with the real reason.
    const audited = await pollUntil(async () => auditRows(k.id).some((r) => r.result === 'failure' && r.reason === 'revoked'), 5000);
    assert.ok(audited, 'no audit row for the refused request');
    const rows = auditRows(k.id);
    assert.ok(rows.filter((r) => r.result === 'success').length >= 2);
    for (const r of rows) {
      assert.equal(r.path, '/transparent/openai/v1/models');
      assert.equal(r.instance, 'openai');
    }
  });

  test('keys rotate --overlap 2s: the new key works at once, the old one until the overlap ends', async () => {
    const old = await cliJson('keys', 'create', '--name', 'rotating', '--user', 'carol', '--models', 'gpt-4o');
    assert.equal((await call(old.key!)).status, 200);

    const before = Date.now();
    const rotated = await cliJson('keys', 'rotate', old.id, '--overlap', '2s');
    const afterRotate = Date.now();
    assert.notEqual(rotated.id, old.id);
    assert.ok(rotated.key?.startsWith(`llmp_${rotated.id}_`));
    assert.notEqual(rotated.key, old.key);
    assert.equal(rotated.rotated_from, old.id);
    assert.equal(rotated.name, 'rotating');
    assert.equal(rotated.user, 'carol');
    assert.deepEqual(rotated.scopes, old.scopes, 'the new key keeps the old scopes');
    assert.equal(rotated.replaced?.id, old.id);
    const oldExpiresAt = Date.parse(rotated.replaced!.expires_at!);
    assert.ok(oldExpiresAt >= before + 2000 && oldExpiresAt <= afterRotate + 2000, `old key expires ${rotated.replaced!.expires_at}`);

    assert.equal((await call(rotated.key!)).status, 200, 'the new key works at once');
    const during = await call(old.key!);
    // Only asserted if the answer came within the overlap (a slow machine may take longer).
    if (Date.now() < oldExpiresAt) assert.equal(during.status, 200, 'the old key must work during the overlap');

    // After the overlap the old key is refused (the gateway learns the new expiry by polling).
    await new Promise((r) => setTimeout(r, Math.max(0, oldExpiresAt - Date.now() + 10)));
    assert.equal(await waitForStatus(old.key!, 401, 5000), 401, 'the old key still works after the overlap');
    assert.equal((await call(rotated.key!)).status, 200, 'the new key still works');
    assert.equal((await chat(rotated.key!, 'gpt-4o-mini')).status, 403, 'scopes carried over');

    const listed = JSON.parse((await cli('keys', 'list', '--json')).stdout) as KeyJson[];
    assert.equal(listed.find((k) => k.id === old.id)?.status, 'expired');
    assert.equal(listed.find((k) => k.id === rotated.id)?.status, 'active');
    assert.equal(listed.find((k) => k.id === rotated.id)?.rotated_from, old.id);
    const shown = await cli('keys', 'show', rotated.id);
    assert.match(shown.stdout, new RegExp(`^rotated from: ${old.id}$`, 'm'));

    // Human output of a rotation: the new key once, and when the old one stops.
    const human = await cli('keys', 'rotate', rotated.id, '--overlap', '1h');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /keeps working until \d{4}-\d\d-\d\dT/);
    assert.match(human.stdout, /shown once/);
    assert.equal((human.stdout.match(KEY_SHAPE) ?? []).length, 1);
    issuedKeys.push(...(human.stdout.match(KEY_SHAPE) ?? []));
  });

  test('keys rotate without --overlap revokes the old key at once; a revoked key cannot be rotated', async () => {
    const old = await cliJson('keys', 'create', '--name', 'rotate-now');
    assert.equal((await call(old.key!)).status, 200);
    const rotated = await cliJson('keys', 'rotate', old.id);
    assert.equal(rotated.replaced?.status, 'revoked');
    assert.equal((await call(rotated.key!)).status, 200);
    assert.equal(await waitForStatus(old.key!, 401, 5000), 401, 'the replaced key is still accepted');

    const again = await cli('keys', 'rotate', old.id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`key ${old.id} is revoked`));
    assert.equal(again.stdout, '');
  });

  test('an expired key is refused with 401', async () => {
    const k = await cliJson('keys', 'create', '--name', 'short-lived', '--expires', '2s');
    const expiresAt = Date.parse(k.expires_at!);
    const early = await call(k.key!);
    if (Date.now() < expiresAt) assert.equal(early.status, 200, 'the key must work before it expires');
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 10)));
    // Expiry is decided per request from the record: the first request after it is refused.
    const late = await call(k.key!);
    assert.equal(late.status, 401);
    assert.equal(errorCode(late.body), 'unauthorized');
    assert.equal((await cliJson('keys', 'show', k.id)).status, 'expired');
    assert.ok(await pollUntil(async () => auditRows(k.id).some((r) => r.result === 'failure' && r.reason === 'expired'), 5000), 'no audit row for the expired key');
  });

  test('bad usage exits 2 with a message on stderr, and changes nothing', async () => {
    const countBefore = (JSON.parse((await cli('keys', 'list', '--json')).stdout) as KeyJson[]).length;
    const cases: Array<[string[], RegExp]> = [
      [['keys', 'frobnicate'], /unknown keys subcommand "frobnicate"/],
      [['keys', 'create'], /--name is required/],
      [['keys', 'create', '--name', 'x', '--bogus'], /--bogus/],
      [['keys', 'create', '--name', 'x', '--expires', '30'], /--expires must be a duration/],
      [['keys', 'create', '--name', 'x', '--expires', '0s'], /--expires must be a duration/],
      [['keys', 'create', '--name', 'x', '--rpm=lots'], /--rpm must be a positive number/],
      [['keys', 'create', '--name', 'x', '--budget-usd=-3'], /--budget-usd must be a positive number/],
      [['keys', 'show'], /a key id is required/],
      [['keys', 'revoke'], /a key id is required/],
      [['keys', 'rotate', 'AAAAAAAAAAAA', '--overlap', '2'], /--overlap must be a duration/],
    ];
    const bare = await runCli(['keys'], { cwd: work, env: ENV });
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^llmproxy: missing keys subcommand\n/);
    assert.match(bare.stderr, /usage:/);
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
      assert.match(r.stderr, /^llmproxy: /, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /usage:/, `${args.join(' ')}: usage shown`);
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
    }
    const badRole = await cli('keys', 'create', '--name', 'x', '--role', 'superuser');
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /unknown role "superuser"/);
    assert.equal(badRole.stdout, '');
    const countAfter = (JSON.parse((await cli('keys', 'list', '--json')).stdout) as KeyJson[]).length;
    assert.equal(countAfter, countBefore, 'a refused command created a key');
  });

  test('an unknown key id is a clear error with a non-zero exit', async () => {
    for (const sub of ['show', 'revoke', 'rotate']) {
      const r = await cli('keys', sub, 'NoSuchKey123');
      assert.equal(r.code, 1, `keys ${sub}: exit ${r.code}`);
      assert.equal(r.stderr.trim(), 'llmproxy: no key with id NoSuchKey123', `keys ${sub}`);
      assert.equal(r.stdout, '');
    }
  });

  test('the config can come from LLMPROXY_CONFIG instead of --config', async () => {
    const viaFlag = JSON.parse((await cli('keys', 'list', '--json')).stdout) as KeyJson[];
    const viaEnv = await runCli(['keys', 'list', '--json'], { cwd: root, env: { ...ENV, LLMPROXY_CONFIG: configPath } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const listed = JSON.parse(viaEnv.stdout) as KeyJson[];
    assert.ok(viaFlag.length > 0);
    assert.deepEqual(listed.map((k) => k.id), viaFlag.map((k) => k.id));
  });

  test('the gateway stops cleanly, and its log names keys by id but never holds a key', async () => {
    const stopped = await serve!.stop(20_000);
    assert.deepEqual(stopped, { code: 0, signal: null });
    const out = serve!.stdout();
    assert.ok(issuedKeys.length >= 8);
    for (const key of issuedKeys) assert.ok(!out.includes(key.slice(18)), 'a key secret reached the gateway log');
    assert.doesNotMatch(out, KEY_SHAPE);
    assert.ok(!out.includes(PROVIDER_KEY), 'the provider key reached the gateway log');
    // Each request's decision is in the JSON log.
    const requests = serve!.logs().filter((l) => l['msg'] === 'request');
    const reasons = new Set(requests.map((l) => (l['auth'] as { reason?: string } | undefined)?.reason));
    assert.ok(reasons.has('revoked') && reasons.has('expired'), `logged reasons: ${[...reasons].join(', ')}`);
    assert.ok(requests.some((l) => l['status'] === 200 && (l['auth'] as { result?: string } | undefined)?.result === 'success'));
  });
});
