import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedPort } from '../helpers/net.js';
import { removeDir, runCli, startServe, tempDir } from '../helpers/cli.js';

/**
 * File-permission warnings (config/permissions.ts) through the real CLI: `config check` and
 * `serve` name each sensitive file others could read or change with its mode; with
 * `--strict-permissions` (or `server.strict_permissions`) that is an error.
 */

const SECRET = 'sk-perm-test-0c1d2e3f4a5b6c7d8e9f';
const isRoot = process.geteuid?.() === 0;

interface PermissionsJson {
  ok: boolean;
  permissions: { strict: boolean; problems: Array<{ file: string; role: string; mode: string; problems: string[] }> };
}

describe('file-permission warnings', () => {
  let root: string;
  let port: number;
  let n = 0;
  before(async () => {
    root = tempDir('llmproxy-perms-');
    port = await closedPort();
  });
  after(() => removeDir(root));

  /** A folder with a config (mode `configMode`), a `${file:}` secret, a TLS key and a SQLite file (each `mode`). */
  function setup(mode: number, configMode = mode, extra: string[] = []) {
    const dir = join(root, `case-${++n}`);
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'openai-key'), `${SECRET}\n`);
    writeFileSync(join(dir, 'tls.key'), 'not checked by config check\n');
    writeFileSync(join(dir, 'tls.crt'), 'not checked by config check\n');
    writeFileSync(join(dir, 'data', 'gw.db'), '');
    const config = join(dir, 'llmproxy.yaml');
    writeFileSync(
      config,
      [
        'server: { tls: { cert_file: ./tls.crt, key_file: ./tls.key } }',
        'storage: { sqlite: { path: ./data/gw.db } }',
        ...extra,
        'instances:',
        '  openai:',
        '    type: openai',
        `    endpoint: http://127.0.0.1:${port}`,
        '    authentication: { type: api_key, api_key: "${file:./openai-key}" }',
        '',
      ].join('\n'),
    );
    for (const f of ['openai-key', 'tls.key', 'data/gw.db']) chmodSync(join(dir, f), mode);
    chmodSync(config, configMode);
    return { dir, config, files: { config, secret: join(dir, 'openai-key'), tlsKey: join(dir, 'tls.key'), sqlite: join(dir, 'data', 'gw.db') } };
  }

  /** `config check` (an api_key instance makes no call, so only the files decide the outcome). */
  const check = (dir: string, config: string, ...flags: string[]) => runCli(['config', 'check', '--config', config, ...flags], { cwd: dir });

  test('config check warns about each file readable by group and others (0644), naming the file, its role and mode; exit 0 without --strict-permissions', async () => {
    const { dir, config, files } = setup(0o644);
    const r = await check(dir, config);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^permissions \(warning\):$/m);
    for (const [file, role] of [
      [files.config, 'config file'],
      [files.secret, 'secret file \\(instances\\.openai\\.authentication\\.api_key\\)'],
      [files.tlsKey, 'TLS key'],
      [files.sqlite, 'SQLite database'],
    ] as const) {
      assert.match(r.stdout, new RegExp(`^  ${file.replaceAll('.', '\\.')} \\(${role}\\): mode 0644: readable by group, readable by others$`, 'm'));
    }
    assert.match(r.stdout, /defaultMode: 0400/);
    assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET));

    const json = JSON.parse((await check(dir, config, '--json')).stdout) as PermissionsJson;
    assert.equal(json.ok, true);
    assert.equal(json.permissions.strict, false);
    assert.deepEqual(json.permissions.problems.map((p) => [p.role, p.mode]).sort(), [
      ['SQLite database', '0644'],
      ['TLS key', '0644'],
      ['config file', '0644'],
      ['secret file (instances.openai.authentication.api_key)', '0644'],
    ]);
  });

  test('--strict-permissions makes it an error (exit 1, file and mode named); files at 0600 pass it; server.strict_permissions does the same', async () => {
    const loose = setup(0o600, 0o640);
    const r = await check(loose.dir, loose.config, '--strict-permissions');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^permissions \(error, strict\):$/m);
    assert.match(r.stdout, new RegExp(`^  ${loose.files.config.replaceAll('.', '\\.')} \\(config file\\): mode 0640: readable by group$`, 'm'));
    assert.equal(r.stdout.match(/: mode 0/g)?.length, 1, 'only the config file: the others are 0600');
    assert.match(r.stdout, /configuration has problems/);
    const json = JSON.parse((await check(loose.dir, loose.config, '--strict-permissions', '--json')).stdout) as PermissionsJson;
    assert.equal(json.ok, false);
    assert.equal(json.permissions.strict, true);

    const tight = setup(0o600);
    const ok = await check(tight.dir, tight.config, '--strict-permissions');
    assert.equal(ok.code, 0, ok.stdout);
    assert.doesNotMatch(ok.stdout, /permissions/);

    const byConfig = setup(0o600);
    writeFileSync(
      byConfig.files.config,
      ['server: { strict_permissions: true }', 'storage: { sqlite: { path: ./data/gw.db } }', 'instances:', '  openai:', '    type: openai', `    endpoint: http://127.0.0.1:${port}`, '    authentication: { type: api_key, api_key: "${file:./openai-key}" }', ''].join('\n'),
    );
    chmodSync(byConfig.files.secret, 0o604);
    const strictByConfig = await check(byConfig.dir, byConfig.config);
    assert.equal(strictByConfig.code, 1);
    assert.match(strictByConfig.stdout, new RegExp(`${byConfig.files.secret.replaceAll('.', '\\.')} \\(secret file \\(instances\\.openai\\.authentication\\.api_key\\)\\): mode 0604: readable by others`));
  });

  test('a symlinked secret (a Kubernetes Secret mount: a link into ..data/) is judged by its target', async () => {
    const { dir, config } = setup(0o600);
    mkdirSync(join(dir, '..2026_01_01'));
    writeFileSync(join(dir, '..2026_01_01', 'key'), `${SECRET}\n`, { mode: 0o644 });
    symlinkSync('..2026_01_01', join(dir, '..data'));
    symlinkSync('..data/key', join(dir, 'mounted-key'));
    writeFileSync(config, readFileSync(config, 'utf8').replace('${file:./openai-key}', '${file:./mounted-key}'));
    chmodSync(config, 0o600);
    const loose = await check(dir, config, '--strict-permissions');
    assert.equal(loose.code, 1);
    assert.match(loose.stdout, new RegExp(`${join(dir, 'mounted-key').replaceAll('.', '\\.')} \\(secret file [^)]+\\)\\): mode 0644: readable by group, readable by others`));
    chmodSync(join(dir, '..2026_01_01', 'key'), 0o400); // defaultMode: 0400
    const fixed = await check(dir, config, '--strict-permissions');
    assert.equal(fixed.code, 0, fixed.stdout);
  });

  test('owner: a file owned by another user is reported, naming the uid', { skip: isRoot ? false : 'needs root to chown' }, async () => {
    const { dir, config, files } = setup(0o600);
    chownSync(files.secret, 12345, 0);
    chmodSync(files.secret, 0o400);
    const other = await check(dir, config, '--strict-permissions');
    assert.equal(other.code, 1);
    assert.match(other.stdout, new RegExp(`${files.secret.replaceAll('.', '\\.')} \\([^\\n]*\\): mode 0400: owned by uid 12345, not this process's uid 0$`, 'm'));
    chownSync(files.secret, 0, 0); // root's own file: fine
    assert.equal((await check(dir, config, '--strict-permissions')).code, 0);
  });

  test('serve: warns in the log and serves; with --strict-permissions it refuses to start, naming the file and mode', async () => {
    const { dir, config, files } = setup(0o600, 0o644, []);
    // No TLS here (serve would load the key): the same config without the tls line.
    writeFileSync(config, readFileSync(config, 'utf8').replace(/^server: .*\n/m, ''));
    chmodSync(config, 0o644);
    const refused = await runCli(['serve', '--config', config, '--port', '0', '--host', '127.0.0.1', '--strict-permissions'], { cwd: dir });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`${files.config.replaceAll('.', '\\.')} \\(config file\\): mode 0644: readable by group, readable by others`));
    assert.match(refused.stderr, /strict permissions/);

    const gw = await startServe(['--config', config, '--port', '0', '--host', '127.0.0.1'], { cwd: dir });
    try {
      const warnings = gw.logs().filter((l) => String(l['msg']).startsWith('file permissions:'));
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]!['level'], 'warn');
      assert.equal(warnings[0]!['file'], files.config);
      assert.equal(warnings[0]!['mode'], '0644');
      assert.deepEqual(warnings[0]!['problems'], ['readable by group', 'readable by others']);
    } finally {
      await gw.stop();
    }
  });

  test('a new SQLite file is created readable by its owner only', async () => {
    const { dir, config } = setup(0o600);
    writeFileSync(config, readFileSync(config, 'utf8').replace('./data/gw.db', './data/fresh.db'));
    const r = await check(dir, config, '--strict-permissions');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(statSync(join(dir, 'data', 'fresh.db')).mode & 0o777, 0o600);
  });
});
