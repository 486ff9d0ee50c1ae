import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig, locateConfig, parseConfigText, validate } from './load.js';

/** The error of a config that must fail validation (fails the test when it passes). */
function configErrorOf(text: string): ConfigError {
  try {
    parseConfigText(text, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.match(err.message, /^invalid configuration \(test\.yaml\):/);
    for (const p of err.problems) assert.ok(err.message.includes(p), 'every problem is in the message');
    return err;
  }
  assert.fail('the configuration was accepted');
}

function problemsOf(text: string): string[] {
  return configErrorOf(text).problems;
}

/** One OpenAI instance `o`; `extra` is indented under it, `apiKey` goes in its authentication. */
function openaiInstance(extra = '', apiKey = '"${env:OPENAI_API_KEY}"'): string {
  return ['instances:', '  o:', '    type: openai', `    authentication: { type: api_key, api_key: ${apiKey} }`, extra].join('\n');
}

describe('parseConfigText: valid configuration', () => {
  test('a full file loads, with defaults applied and units parsed', () => {
    const config = parseConfigText(
      [
        'server:',
        '  host: 127.0.0.1',
        '  port: 9090',
        '  body_limit: 512kb',
        '  trusted_proxies: [10.0.0.0/8, "2001:db8::/32", 192.168.1.1]',
        'secrets:',
        '  refresh_interval: 30s',
        'auth:',
        '  failed_attempts: { limit: 5, window: 2m }',
        'instances:',
        '  openai:',
        '    type: openai',
        '    endpoint: https://api.example.com/base/',
        '    organization: org-1',
        '    allow_paths: [GET v1/files, "GET v1/files/*"]',
        '    timeouts: { first_byte: 90s }',
        '    authentication:',
        '      type: api_key',
        '      api_key: ${env:OPENAI_API_KEY}',
        '      refresh_interval: 1m',
        '  claude:',
        '    type: anthropic',
        '    default: true',
        '    authentication: { type: api_key, api_key: "${file:/run/secrets/anthropic}" }',
        '  demo:',
        '    type: demo',
        '',
      ].join('\n'),
      'full.yaml',
    );
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, 9090);
    assert.equal(config.server.body_limit, 512 * 1024);
    assert.deepEqual(config.server.trusted_proxies, ['10.0.0.0/8', '2001:db8::/32', '192.168.1.1']);
    assert.equal(config.server.shutdown_timeout, 30_000, 'default');
    assert.equal(config.secrets.refresh_interval, 30_000);
    assert.deepEqual(config.auth.failed_attempts, { limit: 5, window: 120_000, max_concurrent_per_client: 4, max_concurrent: 32 }, 'the two caps by default');
    // The edge limits every listener applies, by default.
    assert.equal(config.server.headers_timeout, 10_000);
    assert.equal(config.server.request_timeout, 60_000);
    assert.equal(config.server.keep_alive_timeout, 65_000);
    assert.equal(config.server.max_connections, 20_000);
    assert.equal(config.server.max_connections_per_client, 512);
    assert.equal(config.server.json_depth_limit, 128);
    assert.equal(config.server.stream_line_limit, 1024 * 1024);
    assert.equal(config.auth.api_keys.cache_ttl, 600_000, 'default');
    assert.equal(config.logging.level, 'info', 'default');

    const openai = config.instances['openai'];
    assert.ok(openai?.type === 'openai');
    assert.deepEqual(openai.endpoint, { origin: 'https://api.example.com', basePath: '/base' });
    assert.equal(openai.organization, 'org-1');
    assert.deepEqual(openai.timeouts, { first_byte: 90_000 });
    assert.deepEqual(
      openai.allow_paths.map((r) => [r.method, r.segments]),
      [
        ['GET', ['v1', 'files']],
        ['GET', ['v1', 'files', '*']],
      ],
    );
    assert.deepEqual(openai.authentication, { type: 'api_key', api_key: '${env:OPENAI_API_KEY}', refresh_interval: 60_000 });

    const claude = config.instances['claude'];
    assert.ok(claude?.type === 'anthropic');
    assert.equal(claude.default, true);
    assert.equal(claude.endpoint, undefined, 'the provider default applies later');
    assert.equal(claude.authentication.api_key, '${file:/run/secrets/anthropic}');

    assert.equal(config.instances['demo']?.type, 'demo');
  });

  const accepted: Array<[string, string]> = [
    ['${env:NAME}', '"${env:OPENAI_API_KEY}"'],
    ['bare ${NAME} (an env reference)', '"${OPENAI_API_KEY}"'],
    ['${file:/absolute}', '"${file:/run/secrets/openai}"'],
    ['${file:relative}', '"${file:secrets/openai.key}"'],
  ];
  for (const [what, ref] of accepted) {
    test(`a secret reference ${what} is accepted and kept as written`, () => {
      const config = parseConfigText(openaiInstance('', ref), 'test.yaml');
      const o = config.instances['o'];
      assert.ok(o?.type === 'openai');
      assert.equal(o.authentication.api_key, JSON.parse(ref));
    });
  }

  test('an endpoint without a path has an empty base path', () => {
    const config = parseConfigText(openaiInstance('    endpoint: http://127.0.0.1:8081'), 'test.yaml');
    const o = config.instances['o'];
    assert.ok(o?.type === 'openai');
    assert.deepEqual(o.endpoint, { origin: 'http://127.0.0.1:8081', basePath: '' });
  });

  test('validate() accepts the same data as an object', () => {
    const config = validate({ instances: { d: { type: 'demo' } } }, 'object');
    assert.equal(config.instances['d']?.type, 'demo');
    assert.equal(config.server.port, 8080);
  });
});

describe('parseConfigText: unknown fields', () => {
  test('at the root', () => {
    assert.deepEqual(problemsOf('colour: red\ninstances:\n  d: { type: demo }\n'), ['colour: unknown field']);
  });

  test('inside an instance, with the full path of the field', () => {
    assert.deepEqual(problemsOf(openaiInstance('    colour: red')), ['instances.o.colour: unknown field']);
  });

  test('deep inside a block', () => {
    const problems = problemsOf('server:\n  tls: { cert_file: a, key_file: b, ciphers: x }\ninstances:\n  d: { type: demo }\n');
    assert.deepEqual(problems, ['server.tls.ciphers: unknown field']);
  });

  test('in an authentication block', () => {
    const problems = problemsOf(
      'instances:\n  o:\n    type: openai\n    authentication: { type: api_key, api_key: "${env:K}", api_secret: x }\n',
    );
    assert.deepEqual(problems, ['instances.o.authentication.api_secret: unknown field']);
  });

  test('a field of another provider is unknown to this one', () => {
    // `organization` belongs to openai, not anthropic.
    const problems = problemsOf(
      'instances:\n  c:\n    type: anthropic\n    organization: org-1\n    authentication: { type: api_key, api_key: "${env:K}" }\n',
    );
    assert.deepEqual(problems, ['instances.c.organization: unknown field']);
  });
});

describe('parseConfigText: secrets', () => {
  test('a literal secret is refused, and the error does not repeat it', () => {
    const err = configErrorOf(openaiInstance('', 'sk-abc123literal'));
    assert.equal(err.problems.length, 1);
    assert.match(err.problems[0]!, /^instances\.o\.authentication\.api_key: a literal secret is refused/);
    assert.ok(!err.message.includes('sk-abc123literal'), err.message);
  });

  const literals = ['"sk-abc"', '"${env:K} trailing"', '"prefix${env:K}"', '"${1NOT_A_NAME}"', '"$OPENAI_API_KEY"', '"{env:K}"', '"${env:}"'];
  for (const literal of literals) {
    test(`${literal} is not a reference and is refused`, () => {
      const problems = problemsOf(openaiInstance('', literal));
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /^instances\.o\.authentication\.api_key: a literal secret is refused/);
    });
  }

  test('a reference to an unsupported store is refused, naming the supported ones', () => {
    const problems = problemsOf(openaiInstance('', '"${doppler:openai}"'));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^instances\.o\.authentication\.api_key: unsupported secret store "doppler"/);
    assert.match(problems[0]!, /supported: .*gcp-sm/);
    assert.match(problems[0]!, /supported: .*ibm-sm/);
    assert.match(problems[0]!, /supported: .*env/);
    assert.match(problems[0]!, /supported: .*vault/);
    assert.match(problems[0]!, /supported: .*file/);
  });

  test('a secret that is not a string is refused', () => {
    const problems = problemsOf(openaiInstance('', '12345'));
    assert.deepEqual(problems, ['instances.o.authentication.api_key: expected string']);
  });

  test('authentication is required', () => {
    const problems = problemsOf('instances:\n  o:\n    type: openai\n');
    assert.deepEqual(problems, ['instances.o.authentication: required']);
  });
});

describe('parseConfigText: endpoint URLs', () => {
  const refused: Array<[string, RegExp]> = [
    ['ftp://files.example.com', /scheme must be http or https/],
    ['https://api.example.com/v1?key=1', /no query string or fragment/],
    ['https://api.example.com/#top', /no query string or fragment/],
    ['api.example.com', /must be an absolute http\(s\) URL/],
    ['/v1', /must be an absolute http\(s\) URL/],
  ];
  for (const [url, reason] of refused) {
    test(`"${url}" is refused`, () => {
      const problems = problemsOf(openaiInstance(`    endpoint: "${url}"`));
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /^instances\.o\.endpoint: /);
      assert.match(problems[0]!, reason);
    });
  }

  test('credentials in the URL are refused without being repeated', () => {
    const problems = problemsOf(openaiInstance('    endpoint: "https://user:hunter2secret@api.example.com"'));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^instances\.o\.endpoint: .*credentials in the URL are refused/);
    assert.ok(!problems[0]!.includes('hunter2secret'));
  });
});

describe('parseConfigText: other validation', () => {
  test('an unknown provider type is refused, listing the known ones', () => {
    const [problem, ...rest] = problemsOf('instances:\n  o:\n    type: openia\n');
    assert.deepEqual(rest, []);
    assert.match(problem!, /^instances\.o\.type: /);
    for (const type of ['openai', 'anthropic', 'demo']) assert.ok(problem!.includes(type), problem);
  });

  test('instances are required, and there must be at least one', () => {
    assert.deepEqual(problemsOf('server: { port: 1 }\n'), ['instances: required']);
    assert.deepEqual(problemsOf(''), ['instances: required']);
    const problems = problemsOf('instances: {}\n');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^instances: at least one instance is required/);
  });

  test('an instance name must be a lower-case identifier', () => {
    // zod reports the record key as "Invalid key in record"; what matters is the path.
    const problems = problemsOf('instances:\n  BadName: { type: demo }\n');
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^instances\.BadName: /);
    assert.equal(parseConfigText('instances:\n  good_name-1: { type: demo }\n', 'test.yaml').instances['good_name-1']?.type, 'demo');
  });

  test('a duration without a unit is refused at its path', () => {
    const problems = problemsOf('secrets: { refresh_interval: 5x }\ninstances:\n  d: { type: demo }\n');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^secrets\.refresh_interval: must be a duration with a unit/);
    assert.deepEqual(problemsOf('secrets: { refresh_interval: 5 }\ninstances:\n  d: { type: demo }\n'), [
      'secrets.refresh_interval: expected string',
    ]);
  });

  test('a bad size, port and trusted proxy are refused at their paths', () => {
    const problems = problemsOf('server: { body_limit: lots, port: 70000, trusted_proxies: [example.com] }\ninstances:\n  d: { type: demo }\n');
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('server.body_limit: ')));
    assert.ok(problems.some((p) => p.startsWith('server.port: ')));
    assert.ok(problems.some((p) => p.startsWith('server.trusted_proxies.0: must be an IP address or CIDR block')));
  });

  test('an allow_paths entry that is not a plain path is refused at its index', () => {
    const problems = problemsOf(openaiInstance('    allow_paths: [GET v1/files, "GET v1/../admin"]'));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^instances\.o\.allow_paths\.1: segment "\.\." /);
  });

  test('YAML errors and duplicate keys are reported as such', () => {
    assert.match(problemsOf('instances:\n  d: { type: demo }\n  d: { type: demo }\n')[0]!, /^YAML: .*unique/);
    assert.match(problemsOf('instances: [unclosed\n')[0]!, /^YAML: /);
  });
});

describe('loadConfig and locateConfig', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('loadConfig reads a file; relative paths resolve against its folder', () => {
    const sub = join(dir, 'etc');
    mkdirSync(sub);
    const path = join(sub, 'gateway.yaml');
    writeFileSync(path, 'instances:\n  d: { type: demo }\n');
    const loaded = loadConfig(path, '/somewhere/else');
    assert.equal(loaded.source, path);
    assert.equal(loaded.baseDir, sub);
    assert.equal(loaded.config.instances['d']?.type, 'demo');
  });

  test('loadConfig reports a missing file as a ConfigError with its code', () => {
    const path = join(dir, 'missing.yaml');
    assert.throws(
      () => loadConfig(path),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && err.problems[0] === 'cannot read the file: ENOENT' && err.message.includes(path),
    );
  });

  test('loadConfig reports an invalid file with its path as source', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'instances:\n  d: { type: demo, colour: red }\n');
    assert.throws(
      () => loadConfig(path),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith(`invalid configuration (${path}):`) && err.problems[0] === 'instances.d.colour: unknown field',
    );
  });

  test('without a path, loadConfig returns the built-in demo on loopback', () => {
    const loaded = loadConfig(undefined, dir);
    assert.equal(loaded.source, 'built-in demo');
    assert.equal(loaded.baseDir, dir);
    assert.equal(loaded.config.server.host, '127.0.0.1');
    assert.deepEqual(Object.keys(loaded.config.instances), ['demo']);
    assert.equal(loaded.config.instances['demo']?.type, 'demo');
  });

  test('locateConfig: the flag wins over the environment and ./llmproxy.yaml', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    writeFileSync(join(cwd, 'llmproxy.yaml'), 'instances:\n  d: { type: demo }\n');
    assert.equal(locateConfig('conf/flag.yaml', { LLMPROXY_CONFIG: '/etc/env.yaml' }, cwd), join(cwd, 'conf/flag.yaml'));
    assert.equal(locateConfig('/abs/flag.yaml', { LLMPROXY_CONFIG: '/etc/env.yaml' }, cwd), '/abs/flag.yaml');
  });

  test('locateConfig: LLMPROXY_CONFIG wins over ./llmproxy.yaml', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    writeFileSync(join(cwd, 'llmproxy.yaml'), 'instances:\n  d: { type: demo }\n');
    assert.equal(locateConfig(undefined, { LLMPROXY_CONFIG: '/etc/env.yaml' }, cwd), '/etc/env.yaml');
    assert.equal(locateConfig(undefined, { LLMPROXY_CONFIG: 'rel/env.yaml' }, cwd), join(cwd, 'rel/env.yaml'));
  });

  test('locateConfig: ./llmproxy.yaml when present, else undefined (the built-in demo)', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    assert.equal(locateConfig(undefined, {}, cwd), undefined);
    assert.equal(locateConfig('', { LLMPROXY_CONFIG: '' }, cwd), undefined, 'empty values count as absent');
    writeFileSync(join(cwd, 'llmproxy.yaml'), 'instances:\n  d: { type: demo }\n');
    assert.equal(locateConfig(undefined, {}, cwd), join(cwd, 'llmproxy.yaml'));
  });
});

describe('loadConfig: the environment and flags over the file (flag > environment > file > default)', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-config-env-'));
    file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'server: { host: 127.0.0.1, port: 7000, headers_timeout: 5s }',
        'logging: { level: warn }',
        'instances:',
        '  o:',
        '    type: openai',
        '    organization: ${env:LOAD_TEST_ORG}',
        '    authentication: { type: api_key, api_key: "${env:LOAD_TEST_OPENAI_KEY}" }',
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const ORG = { LOAD_TEST_ORG: 'org-from-env' };

  test('the file alone: its values, the defaults for the rest, no overrides but the reference', () => {
    const loaded = loadConfig(file, dir, { env: ORG });
    assert.equal(loaded.config.server.port, 7000);
    assert.equal(loaded.config.server.host, '127.0.0.1');
    assert.equal(loaded.config.server.request_timeout, 60_000, 'default');
    assert.equal(loaded.config.logging.level, 'warn');
    assert.deepEqual(loaded.overrides, [{ path: 'instances.o.organization', source: 'env:LOAD_TEST_ORG', kind: 'reference' }]);
  });

  test('each layer beats the one below it, field by field', () => {
    const env = { ...ORG, PORT: '7001', HOST: '127.0.0.2', LLMPROXY_SERVER_HEADERS_TIMEOUT: '15s', LLMPROXY_SERVER_REQUEST_TIMEOUT: '2m', LOG_LEVEL: 'debug' };
    const fromEnv = loadConfig(file, dir, { env });
    assert.equal(fromEnv.config.server.port, 7001, 'environment over file');
    assert.equal(fromEnv.config.server.host, '127.0.0.2');
    assert.equal(fromEnv.config.server.headers_timeout, 15_000, 'parsed like the file');
    assert.equal(fromEnv.config.server.request_timeout, 120_000, 'environment over default');
    assert.equal(fromEnv.config.logging.level, 'debug');

    const withFlag = loadConfig(file, dir, { env, flags: { port: 7002 } });
    assert.equal(withFlag.config.server.port, 7002, 'flag over environment');
    assert.equal(withFlag.config.server.host, '127.0.0.2', 'the environment still sets what no flag does');
    assert.deepEqual(withFlag.overrides, [
      { path: 'server.host', source: 'env:HOST', kind: 'override', value: '127.0.0.2' },
      { path: 'server.headers_timeout', source: 'env:LLMPROXY_SERVER_HEADERS_TIMEOUT', kind: 'override', value: '15s' },
      { path: 'server.request_timeout', source: 'env:LLMPROXY_SERVER_REQUEST_TIMEOUT', kind: 'override', value: '2m' },
      { path: 'logging.level', source: 'env:LOG_LEVEL', kind: 'override', value: 'debug' },
      { path: 'server.port', source: 'flag:--port', kind: 'override', value: '7002' },
      { path: 'instances.o.organization', source: 'env:LOAD_TEST_ORG', kind: 'reference' },
    ]);
  });

  test('a bad value is a config error naming the variable and the field', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ LLMPROXY_SERVER_HEADERS_TIMEOUT: 'abc' }, /^environment LLMPROXY_SERVER_HEADERS_TIMEOUT \(server\.headers_timeout\): must be a duration with a unit/],
      [{ PORT: 'http' }, /^environment PORT \(server\.port\): expected number \(got "http"\)$/],
      [{ PORT: '70000' }, /^environment PORT \(server\.port\): .* \(got "70000"\)$/],
      [{ LOG_LEVEL: 'loud' }, /^environment LOG_LEVEL \(logging\.level\): .*"debug".* \(got "loud"\)$/],
      [{ LLMPROXY_SERVER_TRUSTED_PROXIES: '10.0.0.0/8,example.com' }, /^environment LLMPROXY_SERVER_TRUSTED_PROXIES \(server\.trusted_proxies\.1\): must be an IP address or CIDR block/],
      [{ LLMPROXY_SERVER_PROT: '1' }, /^environment LLMPROXY_SERVER_PROT: unknown variable/],
      [{ TLS_KEY_FILE: 'k.pem' }, /^environment TLS_KEY_FILE is set without TLS_CERT_FILE/],
    ];
    for (const [env, problem] of cases) {
      assert.throws(
        () => loadConfig(file, dir, { env: { ...ORG, ...env } }),
        (err: unknown) => err instanceof ConfigError && err.message.startsWith(`invalid configuration (${file}):`) && err.problems.length === 1 && problem.test(err.problems[0]!),
        JSON.stringify(env),
      );
    }
  });

  test('a flag the schema refuses is named as the flag', () => {
    assert.throws(
      () => loadConfig(file, dir, { env: ORG, flags: { port: 70000 } }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && /^flag --port \(server\.port\): /.test(err.problems[0]!),
    );
  });

  test('a field replaced by an override is neither expanded nor reported', () => {
    const path = join(dir, 'host-ref.yaml');
    writeFileSync(path, 'server: { host: "${env:LOAD_TEST_UNSET_HOST}" }\ninstances:\n  d: { type: demo }\n');
    assert.throws(() => loadConfig(path, dir, { env: {} }), /server\.host: environment variable LOAD_TEST_UNSET_HOST is not set/);
    const loaded = loadConfig(path, dir, { env: { HOST: '127.0.0.3' } });
    assert.equal(loaded.config.server.host, '127.0.0.3');
    assert.deepEqual(loaded.overrides, [{ path: 'server.host', source: 'env:HOST', kind: 'override', value: '127.0.0.3' }]);
  });

  test('TLS files from the environment are relative to the working directory, not the config folder', () => {
    const loaded = loadConfig(file, '/run/app', { env: { ...ORG, TLS_CERT_FILE: 'tls/cert.pem', TLS_KEY_FILE: 'tls/key.pem', LLMPROXY_SERVER_TLS_PORT: '7443' } });
    assert.deepEqual(loaded.config.server.tls, { port: 7443, cert_file: '/run/app/tls/cert.pem', key_file: '/run/app/tls/key.pem' });
  });

  test('the built-in demo takes the environment too, and the shared demo constant is not changed', () => {
    const loaded = loadConfig(undefined, dir, { env: { PORT: '7005', LLMPROXY_SERVER_METRICS_PORT: '7006' } });
    assert.equal(loaded.config.server.port, 7005);
    assert.equal(loaded.config.server.metrics.port, 7006);
    assert.equal(loaded.config.server.host, '127.0.0.1', 'still loopback');
    assert.equal(loadConfig(undefined, dir, { env: {} }).config.server.port, 8080);
  });

  test('without options, process.env is read', () => {
    const saved = process.env['LOAD_TEST_ORG'];
    process.env['LOAD_TEST_ORG'] = 'org-process';
    try {
      const o = loadConfig(file, dir).config.instances['o'];
      assert.ok(o?.type === 'openai');
      assert.equal(o.organization, 'org-process');
    } finally {
      if (saved === undefined) delete process.env['LOAD_TEST_ORG'];
      else process.env['LOAD_TEST_ORG'] = saved;
    }
  });
});

describe('privacy section', () => {
  test('defaults: full client addresses, no pseudonyms', () => {
    const config = validate({ instances: { d: { type: 'demo' } } }, 'object');
    assert.deepEqual(config.privacy, { ip: 'full', pseudonymise: false });
  });

  test('pseudonymise needs a key, as a secret reference; ip is one of full, truncated, none', () => {
    assert.deepEqual(problemsOf('privacy: { pseudonymise: true }\ninstances:\n  d: { type: demo }\n'), [
      'privacy.pseudonymise_key: required when pseudonymise is true (a secret reference, e.g. ${env:LLMPROXY_PSEUDONYM_KEY})',
    ]);
    assert.equal(problemsOf('privacy: { pseudonymise: true, pseudonymise_key: plain-text-key }\ninstances:\n  d: { type: demo }\n')[0]?.startsWith('privacy.pseudonymise_key: '), true);
    assert.equal(problemsOf('privacy: { ip: partial }\ninstances:\n  d: { type: demo }\n')[0]?.startsWith('privacy.ip: '), true);
    const ok = parseConfigText('privacy: { ip: truncated, pseudonymise: true, pseudonymise_key: "${env:K}" }\ninstances:\n  d: { type: demo }\n', 'test.yaml');
    assert.deepEqual(ok.privacy, { ip: 'truncated', pseudonymise: true, pseudonymise_key: '${env:K}' });
  });
});
