import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedPort } from '../helpers/net.js';
import { PACKAGE_JSON, removeDir, runCli, tempDir, type CliResult } from '../helpers/cli.js';

/**
 * `llmproxy config check`, `version`, `help` and command-line mistakes, through the real CLI.
 * Every run has known secret values in its environment and files; none may appear in any output.
 */

const ENV_SECRET = 'sk-env-cfgcheck-7d1e0b55a9c34f28aa';
const FILE_SECRET = 'sk-ant-file-cfgcheck-33c8e61f0b9d4a7';
const LITERAL_SECRET = 'sk-literal-cfgcheck-c0ffee1234567890';
const ENV = { CFG_CHECK_OPENAI_KEY: ENV_SECRET, CFG_CHECK_MISSING: undefined };
const SECRETS = [ENV_SECRET, FILE_SECRET, LITERAL_SECRET];

interface CheckJson {
  ok: boolean;
  config: string;
  store: string;
  /** Values from the environment or flags (test/integration/env-config.test.ts covers them). */
  overrides: Array<{ path: string; source: string; kind: 'override' | 'reference'; value?: string }>;
  /** Sensitive files others could read or change (test/integration/file-permissions.test.ts covers them). */
  permissions: { strict: boolean; problems: Array<{ file: string; role: string; mode: string; problems: string[] }> };
  instances: Array<{ instance: string; type: string; method: string; status: 'ok' | 'error'; expires_at: string | null; last_refresh?: string | null; error: string | null }>;
}

describe('llmproxy config check and the command line', () => {
  let root: string;
  let port: number;
  let n = 0;

  before(async () => {
    root = tempDir('llmproxy-cli-config-');
    mkdirSync(join(root, 'secrets'));
    writeFileSync(join(root, 'secrets', 'anthropic-key'), `${FILE_SECRET}\n`, { mode: 0o600 });
    port = await closedPort();
  });
  after(() => {
    if (root) removeDir(root);
  });

  /** A config whose instances are `instances` (YAML lines, indented by 2). */
  function writeConfig(instanceLines: string[], extra: string[] = []): string {
    const path = join(root, `config-${++n}.yaml`);
    // Owner-only, as a config should be (else config check adds a permissions warning).
    writeFileSync(path, ['storage: { sqlite: { path: ./data/check.db } }', ...extra, 'instances:', ...instanceLines, ''].join('\n'), { mode: 0o600 });
    return path;
  }
  const openaiLines = (apiKey: string) => [
    '  openai:',
    '    type: openai',
    `    endpoint: http://127.0.0.1:${port}`,
    `    authentication: { type: api_key, api_key: ${JSON.stringify(apiKey)} }`,
  ];
  const claudeLines = (apiKey = '${file:./secrets/anthropic-key}') => [
    '  claude:',
    '    type: anthropic',
    `    endpoint: http://127.0.0.1:${port}`,
    `    authentication: { type: api_key, api_key: ${JSON.stringify(apiKey)} }`,
  ];

  async function run(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
    const r = await runCli(args, { cwd: options.cwd ?? root, env: { ...ENV, ...options.env } });
    for (const secret of SECRETS) {
      assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `llmproxy ${args.join(' ')} printed a secret value`);
    }
    return r;
  }

  test('a valid config whose env and file references resolve: exit 0, one row per instance', async () => {
    const config = writeConfig([...openaiLines('${env:CFG_CHECK_OPENAI_KEY}'), ...claudeLines()]);
    const human = await run(['config', 'check', '--config', config]);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stderr, '');
    const lines = human.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `config: ${config}`);
    assert.equal(lines[1], 'store:  ok');
    assert.match(lines[2]!, /^INSTANCE\s+TYPE\s+METHOD\s+STATUS\s+EXPIRES\s+ERROR$/);
    assert.match(lines[3]!, /^claude\s+anthropic\s+api_key\s+ok\s+never$/);
    assert.match(lines[4]!, /^openai\s+openai\s+api_key\s+ok\s+never$/);
    assert.equal(lines[5], 'configuration OK');
    assert.equal(lines.length, 6);
    // The store was opened (created) where the config says, relative to the config file.
    assert.ok(existsSync(join(root, 'data', 'check.db')));

    const startedAt = Date.now();
    const json = await run(['config', 'check', '--config', config, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as CheckJson;
    for (const row of parsed.instances) {
      // The secret values were read during this check: their last refresh is now.
      const at = Date.parse(row.last_refresh ?? '');
      assert.ok(at >= startedAt - 1000 && at <= Date.now(), `${row.instance}: last_refresh ${row.last_refresh}`);
      delete row.last_refresh;
    }
    assert.deepEqual(parsed, {
      ok: true,
      config,
      store: 'ok',
      overrides: [],
      permissions: { strict: false, problems: [] },
      instances: [
        { instance: 'claude', type: 'anthropic', method: 'api_key', status: 'ok', expires_at: null, error: null },
        { instance: 'openai', type: 'openai', method: 'api_key', status: 'ok', expires_at: null, error: null },
      ],
    } satisfies CheckJson);

    // `${NAME}` alone means `${env:NAME}`.
    const bare = await run(['config', 'check', '--config', writeConfig(openaiLines('${CFG_CHECK_OPENAI_KEY}')), '--json']);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal((JSON.parse(bare.stdout) as CheckJson).ok, true);
  });

  test('an invalid field: exit 1, and each problem names its path', async () => {
    const cases: Array<[string, string[], string[], string]> = [
      ['unknown field', [...openaiLines('${env:CFG_CHECK_OPENAI_KEY}'), '    endpiont: http://127.0.0.1:1'], [], 'instances.openai.endpiont: unknown field'],
      ['wrong type', openaiLines('${env:CFG_CHECK_OPENAI_KEY}'), ['server: { port: "eighty" }'], 'server.port: expected number'],
      ['duration without a unit', openaiLines('${env:CFG_CHECK_OPENAI_KEY}'), ['auth: { api_keys: { revocation_poll: "200" } }'], 'auth.api_keys.revocation_poll: must be a duration with a unit'],
      ['missing required field', ['  openai:', '    type: openai', '    authentication: { type: api_key }'], [], 'instances.openai.authentication.api_key: required'],
      ['unknown provider type', ['  mystery:', '    type: frobnicator', '    authentication: { type: none }'], [], 'instances.mystery.type: must be one of'],
      ['unsupported secret store', openaiLines('${nosuchstore:a/b}'), [], 'instances.openai.authentication.api_key: unsupported secret store "nosuchstore"'],
      ['no instances', [], [], 'instances: expected record'],
    ];
    for (const [name, instanceLines, extra, expected] of cases) {
      const config = writeConfig(instanceLines, extra);
      for (const json of [false, true]) {
        const r = await run(['config', 'check', '--config', config, ...(json ? ['--json'] : [])]);
        assert.equal(r.code, 1, `${name}: exit ${r.code}`);
        if (json) {
          // --json: the verdict is JSON on stdout, as for a file that validates.
          const verdict = JSON.parse(r.stdout) as { ok: boolean; config: string; errors: string[]; instances: unknown[] };
          assert.equal(verdict.ok, false);
          assert.equal(verdict.config, config);
          assert.ok(verdict.errors.some((l) => l.startsWith(expected)), `${name}: expected "${expected}" in ${r.stdout}`);
          assert.deepEqual(verdict.instances, []);
          assert.equal(r.stderr, '', `${name}: nothing on stderr`);
          continue;
        }
        assert.ok(r.stderr.startsWith(`llmproxy: invalid configuration (${config}):\n`), `${name}: ${r.stderr}`);
        assert.ok(r.stderr.split('\n').some((l) => l.trim().startsWith(expected)), `${name}: expected "${expected}" in\n${r.stderr}`);
        assert.equal(r.stdout, '', `${name}: nothing on stdout`);
      }
    }
  });

  test('a literal secret in the file is refused, and not repeated in the error', async () => {
    const r = await run(['config', 'check', '--config', writeConfig(openaiLines(LITERAL_SECRET))]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /instances\.openai\.authentication\.api_key: a literal secret is refused/);
    // Nor through a YAML syntax error on the secret's line, nor credentials inside an endpoint URL.
    const broken = join(root, 'broken.yaml');
    writeFileSync(broken, `instances:\n  openai: { type: openai, authentication: { type: api_key, api_key: "${LITERAL_SECRET} } }\n`);
    const yaml = await run(['config', 'check', '--config', broken]);
    assert.equal(yaml.code, 1);
    assert.match(yaml.stderr, /YAML: /);
    for (const endpoint of [`https://user:${LITERAL_SECRET}@api.example.com`, `https://user:${LITERAL_SECRET}@not a host`, `https://user:${LITERAL_SECRET}/x@bad host`]) {
      const lines = [...openaiLines('${env:CFG_CHECK_OPENAI_KEY}')];
      lines[2] = `    endpoint: ${JSON.stringify(endpoint)}`;
      const e = await run(['config', 'check', '--config', writeConfig(lines)]);
      assert.equal(e.code, 1, endpoint);
      assert.match(e.stderr, /instances\.openai\.endpoint: /);
    }
  });

  test('an unresolvable reference fails the check (exit 1) with the reference, never a value', async () => {
    const config = writeConfig([
      ...openaiLines('${env:CFG_CHECK_MISSING}'),
      ...claudeLines(),
      '  backup:',
      '    type: openai',
      `    endpoint: http://127.0.0.1:${port}`,
      '    authentication: { type: api_key, api_key: "${env:CFG_CHECK_OPENAI_KEY}" }',
      '  gone:',
      '    type: anthropic',
      `    endpoint: http://127.0.0.1:${port}`,
      '    authentication: { type: api_key, api_key: "${file:./secrets/no-such-file}" }',
    ]);
    const human = await run(['config', 'check', '--config', config]);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^openai\s+openai\s+api_key\s+error\s+never\s+environment variable CFG_CHECK_MISSING is not set or empty$/m);
    assert.match(human.stdout, /^gone\s+anthropic\s+api_key\s+error\s+never\s+cannot read secret file .*no-such-file: ENOENT$/m);
    assert.match(human.stdout, /^backup\s+openai\s+api_key\s+ok\b/m);
    assert.match(human.stdout, /^claude\s+anthropic\s+api_key\s+ok\b/m);
    assert.match(human.stdout, /^configuration has problems$/m);

    const json = await run(['config', 'check', '--config', config, '--json']);
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stdout) as CheckJson;
    assert.equal(parsed.ok, false);
    assert.equal(parsed.store, 'ok');
    assert.deepEqual(parsed.instances.map((i) => [i.instance, i.status]), [['backup', 'ok'], ['claude', 'ok'], ['gone', 'error'], ['openai', 'error']]);
    assert.equal(parsed.instances.find((i) => i.instance === 'openai')?.error, 'environment variable CFG_CHECK_MISSING is not set or empty');

    // An empty variable is as bad as a missing one.
    const empty = await run(['config', 'check', '--config', config, '--json'], { env: { CFG_CHECK_MISSING: '' } });
    assert.equal(empty.code, 1);
    assert.equal((JSON.parse(empty.stdout) as CheckJson).instances.find((i) => i.instance === 'openai')?.status, 'error');

    // serve resolves everything before it listens, and refuses to start.
    const serve = await run(['serve', '--config', config, '--port', '0'], {});
    assert.equal(serve.code, 1, serve.stdout);
    assert.match(serve.stderr, /cannot resolve secret references/);
    assert.match(serve.stderr, /\$\{env:CFG_CHECK_MISSING\}: environment variable CFG_CHECK_MISSING is not set or empty/);
    assert.doesNotMatch(serve.stdout, /gateway listening/);
  });

  test('an unusable store fails the check', async () => {
    writeFileSync(join(root, 'not-a-folder'), 'x');
    const config = writeConfig(openaiLines('${env:CFG_CHECK_OPENAI_KEY}'));
    writeFileSync(config, readFileSync(config, 'utf8').replace('./data/check.db', './not-a-folder/check.db'));
    const r = await run(['config', 'check', '--config', config, '--json']);
    assert.equal(r.code, 1);
    const parsed = JSON.parse(r.stdout) as CheckJson;
    assert.equal(parsed.ok, false);
    assert.notEqual(parsed.store, 'ok');
    assert.equal(parsed.instances[0]?.status, 'ok', 'the instances are still checked');
  });

  test('where the config comes from: --config, else LLMPROXY_CONFIG, else ./llmproxy.yaml, else the demo', async () => {
    const cwd = join(root, 'cwd');
    mkdirSync(cwd);
    const source = async (args: string[], env: Record<string, string | undefined> = {}) => {
      const r = await run(['config', 'check', ...args, '--json'], { cwd, env });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as CheckJson).config;
    };
    assert.equal(await source([]), 'built-in demo');
    assert.ok(existsSync(join(cwd, 'data', 'llmproxy.db')), 'the demo store lives under ./data');
    const local = join(cwd, 'llmproxy.yaml');
    writeFileSync(local, readFileSync(writeConfig(claudeLines('${file:../secrets/anthropic-key}')), 'utf8'));
    assert.equal(await source([]), local);
    const fromEnv = writeConfig(openaiLines('${env:CFG_CHECK_OPENAI_KEY}'));
    assert.equal(await source([], { LLMPROXY_CONFIG: fromEnv }), fromEnv);
    const fromFlag = writeConfig(claudeLines());
    assert.equal(await source(['--config', fromFlag], { LLMPROXY_CONFIG: fromEnv }), fromFlag);

    const missing = await run(['config', 'check', '--config', 'no-such.yaml']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such\.yaml\):\n\s+cannot read the file: ENOENT/);
  });

  test('version and help', async () => {
    const version = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
    for (const args of [['version'], ['--version']]) {
      const r = await run(args);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${version}\n`);
      assert.equal(r.stderr, '');
    }
    for (const args of [['help'], ['--help'], ['-h']]) {
      const r = await run(args);
      assert.equal(r.code, 0, args[0]);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^usage:$/m);
      for (const command of ['llmproxy serve', 'llmproxy config check', 'llmproxy keys create', 'llmproxy keys list', 'llmproxy keys show', 'llmproxy keys revoke', 'llmproxy keys rotate']) {
        assert.ok(r.stdout.includes(command), `help lists ${command}`);
      }
    }
    // Each command's own usage: `llmproxy <command> --help` (or -h, anywhere after it) exits 0.
    for (const [args, shows] of [
      [['serve', '--help'], 'llmproxy serve [--config FILE]'],
      [['config', 'check', '--help'], 'llmproxy config check'],
      [['keys', '--help'], 'llmproxy keys rotate ID'],
      [['keys', 'create', '-h'], 'llmproxy keys create --name NAME'],
      [['users', '--help'], 'llmproxy users'],
      [['totp', '--help'], 'llmproxy totp'],
      [['usage', '--help'], 'llmproxy usage'],
      [['lockdown', 'on', '--help'], 'llmproxy lockdown'],
    ] as const) {
      const r = await run([...args], { cwd: join(root, 'secrets') });
      assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.startsWith('usage:\n') && r.stdout.includes(shows), `${args.join(' ')}: ${r.stdout}`);
    }
    assert.ok(!existsSync(join(root, 'secrets', 'data')), '--help opened no store');

    // No command at all: the usage, but a failing exit (scripts must not mistake it for success).
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.stdout + none.stderr, /usage:/);
  });

  test('an unknown command or subcommand, or a bad option: exit 2 with a message on stderr', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /^llmproxy: unknown command "frobnicate"$/m],
      [['config'], /^llmproxy: missing config subcommand$/m],
      [['config', 'validate'], /^llmproxy: unknown config subcommand "validate"$/m],
      [['config', 'check', '--bogus'], /^llmproxy: .*--bogus/m],
      [['config', 'check', '--config'], /^llmproxy: .*--config/m],
      [['serve', '--port', 'eighty'], /^llmproxy: --port must be a port number \(got "eighty"\)$/m],
      [['serve', '--port', '70000'], /^llmproxy: --port must be a port number/m],
    ];
    for (const [args, message] of cases) {
      const r = await run(args, { cwd: join(root, 'secrets') });
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /usage:/, `${args.join(' ')}: usage shown`);
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
    }
    assert.ok(!existsSync(join(root, 'secrets', 'data')), 'a refused command opened a store');
  });
});
