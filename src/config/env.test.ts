import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyOverrides, environmentOverrides, flagOverrides, layerOverrides, SERVER_VARIABLES, SHORT_VARIABLES, withFlags } from './env.js';

/** `path = value (source)` per entry, for compact assertions. */
function summary(env: NodeJS.ProcessEnv, cwd = '/srv/app') {
  const { entries, problems } = environmentOverrides(env, cwd);
  return { set: entries.map((e) => [e.path.join('.'), e.value, e.override.source]), problems };
}

describe('the environment variable table', () => {
  test('one LLMPROXY_SERVER_* name per leaf field of server:, nested fields joined by "_" (docs/configuration.md lists the same)', () => {
    assert.deepEqual(
      SERVER_VARIABLES.map((v) => [v.name, v.path.join('.'), v.kind]),
      [
        ['LLMPROXY_SERVER_HOST', 'server.host', 'string'],
        ['LLMPROXY_SERVER_PORT', 'server.port', 'number'],
        ['LLMPROXY_SERVER_TLS_PORT', 'server.tls.port', 'number'],
        ['LLMPROXY_SERVER_TLS_CERT_FILE', 'server.tls.cert_file', 'string'],
        ['LLMPROXY_SERVER_TLS_KEY_FILE', 'server.tls.key_file', 'string'],
        ['LLMPROXY_SERVER_METRICS_REQUIRE_AUTH', 'server.metrics.require_auth', 'boolean'],
        ['LLMPROXY_SERVER_METRICS_PORT', 'server.metrics.port', 'number'],
        ['LLMPROXY_SERVER_TRUSTED_PROXIES', 'server.trusted_proxies', 'list'],
        ['LLMPROXY_SERVER_BODY_LIMIT', 'server.body_limit', 'number-or-string'],
        ['LLMPROXY_SERVER_SHUTDOWN_TIMEOUT', 'server.shutdown_timeout', 'string'],
        ['LLMPROXY_SERVER_KEEP_ALIVE_TIMEOUT', 'server.keep_alive_timeout', 'string'],
        ['LLMPROXY_SERVER_HEADERS_TIMEOUT', 'server.headers_timeout', 'string'],
        ['LLMPROXY_SERVER_REQUEST_TIMEOUT', 'server.request_timeout', 'string'],
        ['LLMPROXY_SERVER_MAX_CONNECTIONS', 'server.max_connections', 'number'],
        ['LLMPROXY_SERVER_MAX_CONNECTIONS_PER_CLIENT', 'server.max_connections_per_client', 'number'],
        ['LLMPROXY_SERVER_JSON_DEPTH_LIMIT', 'server.json_depth_limit', 'number'],
        ['LLMPROXY_SERVER_STREAM_LINE_LIMIT', 'server.stream_line_limit', 'number-or-string'],
        ['LLMPROXY_SERVER_CONSOLE_ENABLED', 'server.console.enabled', 'boolean'],
        ['LLMPROXY_SERVER_CONSOLE_PATH', 'server.console.path', 'string'],
        ['LLMPROXY_SERVER_CONSOLE_IDLE_TIMEOUT', 'server.console.idle_timeout', 'string'],
        ['LLMPROXY_SERVER_CONSOLE_ABSOLUTE_TIMEOUT', 'server.console.absolute_timeout', 'string'],
        ['LLMPROXY_SERVER_STRICT_PERMISSIONS', 'server.strict_permissions', 'boolean'],
      ],
    );
    assert.deepEqual(
      SHORT_VARIABLES.map((v) => [v.name, v.path.join('.')]),
      [
        ['PORT', 'server.port'],
        ['HOST', 'server.host'],
        ['TLS_CERT_FILE', 'server.tls.cert_file'],
        ['TLS_KEY_FILE', 'server.tls.key_file'],
        ['LOG_LEVEL', 'logging.level'],
        ['AUTH_ENABLED', 'auth.mode'],
      ],
    );
  });
});

describe('environmentOverrides', () => {
  test('nothing set: nothing to apply', () => {
    assert.deepEqual(summary({ PATH: '/usr/bin' }), { set: [], problems: [] });
  });

  test('the short names, numbers converted, the rest kept as text for the schema', () => {
    assert.deepEqual(summary({ PORT: '9000', HOST: '127.0.0.1', LOG_LEVEL: 'debug' }), {
      set: [
        ['server.host', '127.0.0.1', 'env:HOST'],
        ['server.port', 9000, 'env:PORT'],
        ['logging.level', 'debug', 'env:LOG_LEVEL'],
      ],
      problems: [],
    });
  });

  test('LLMPROXY_SERVER_PORT beats PORT; the result is in schema order whatever the order of the environment', () => {
    const { set } = summary({ LLMPROXY_SERVER_HEADERS_TIMEOUT: '15s', PORT: '9000', LLMPROXY_SERVER_PORT: '9100', LLMPROXY_SERVER_METRICS_PORT: '9090' });
    assert.deepEqual(set, [
      ['server.port', 9100, 'env:LLMPROXY_SERVER_PORT'],
      ['server.metrics.port', 9090, 'env:LLMPROXY_SERVER_METRICS_PORT'],
      ['server.headers_timeout', '15s', 'env:LLMPROXY_SERVER_HEADERS_TIMEOUT'],
    ]);
  });

  test('a value that is not a number stays text, so the schema refuses it with the variable named', () => {
    assert.deepEqual(summary({ PORT: 'eighty' }).set, [['server.port', 'eighty', 'env:PORT']]);
    assert.deepEqual(summary({ LLMPROXY_SERVER_BODY_LIMIT: '2048' }).set, [['server.body_limit', 2048, 'env:LLMPROXY_SERVER_BODY_LIMIT']]);
    assert.deepEqual(summary({ LLMPROXY_SERVER_BODY_LIMIT: '20mb' }).set, [['server.body_limit', '20mb', 'env:LLMPROXY_SERVER_BODY_LIMIT']]);
  });

  test('booleans are true/false (any case); lists are comma-separated, blanks dropped', () => {
    assert.deepEqual(summary({ LLMPROXY_SERVER_METRICS_REQUIRE_AUTH: 'TRUE' }).set[0]?.[1], true);
    assert.deepEqual(summary({ LLMPROXY_SERVER_METRICS_REQUIRE_AUTH: 'false' }).set[0]?.[1], false);
    assert.deepEqual(summary({ LLMPROXY_SERVER_METRICS_REQUIRE_AUTH: 'yes' }).set[0]?.[1], 'yes');
    assert.deepEqual(summary({ LLMPROXY_SERVER_TRUSTED_PROXIES: ' 10.0.0.0/8, ,192.168.0.0/16 ' }).set[0]?.[1], ['10.0.0.0/8', '192.168.0.0/16']);
  });

  test('an empty variable counts as unset', () => {
    assert.deepEqual(summary({ PORT: '', HOST: '', LLMPROXY_SERVER_PORT: '' }), { set: [], problems: [] });
    assert.deepEqual(summary({ PORT: '9000', LLMPROXY_SERVER_PORT: '' }).set, [['server.port', 9000, 'env:PORT']]);
  });

  test('an unknown LLMPROXY_SERVER_* name is a problem naming it; other LLMPROXY_* variables are not ours', () => {
    const { set, problems } = summary({
      LLMPROXY_SERVER_PROT: '9000',
      LLMPROXY_CONFIG: '/etc/llmproxy.yaml',
      LLMPROXY_TOTP_KEY: 'x',
      LLMPROXY_TEST_POSTGRES_URL: 'postgres://x',
      LLMPROXY_SERVERLESS: '1',
    });
    assert.deepEqual(set, []);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^environment LLMPROXY_SERVER_PROT: unknown variable; .*LLMPROXY_SERVER_PORT/);
  });

  test('Kubernetes service links for a Service named llmproxy-server are named as such', () => {
    const { set, problems } = summary({ LLMPROXY_SERVER_PORT: 'tcp://10.0.0.7:8080', LLMPROXY_SERVER_SERVICE_HOST: '10.0.0.7' });
    assert.deepEqual(set, []);
    assert.equal(problems.length, 2);
    assert.ok(problems.some((p) => p.startsWith('environment LLMPROXY_SERVER_SERVICE_HOST: unknown variable') && p.includes('enableServiceLinks: false')));
    assert.ok(problems.some((p) => p.startsWith('environment LLMPROXY_SERVER_PORT (server.port): ') && p.includes('enableServiceLinks: false')));
  });

  test('TLS files: both, relative to the working directory; one without the other is a problem naming both', () => {
    assert.deepEqual(summary({ TLS_CERT_FILE: 'tls/cert.pem', TLS_KEY_FILE: '/etc/tls/key.pem' }), {
      set: [
        ['server.tls.cert_file', '/srv/app/tls/cert.pem', 'env:TLS_CERT_FILE'],
        ['server.tls.key_file', '/etc/tls/key.pem', 'env:TLS_KEY_FILE'],
      ],
      problems: [],
    });
    const onlyCert = summary({ TLS_CERT_FILE: 'cert.pem' });
    assert.deepEqual(onlyCert.set, []);
    assert.equal(onlyCert.problems.length, 1);
    assert.match(onlyCert.problems[0]!, /^environment TLS_CERT_FILE is set without TLS_KEY_FILE \(or LLMPROXY_SERVER_TLS_KEY_FILE\)/);
    const onlyKey = summary({ LLMPROXY_SERVER_TLS_KEY_FILE: 'key.pem' });
    assert.match(onlyKey.problems[0]!, /^environment LLMPROXY_SERVER_TLS_KEY_FILE is set without TLS_CERT_FILE \(or LLMPROXY_SERVER_TLS_CERT_FILE\)/);
    // The long name of one and the short name of the other make a pair.
    assert.deepEqual(summary({ LLMPROXY_SERVER_TLS_CERT_FILE: 'c.pem', TLS_KEY_FILE: 'k.pem' }).problems, []);
  });

  test('the source keeps the text as given; the value is what the schema will see', () => {
    const [entry] = environmentOverrides({ TLS_CERT_FILE: 'c.pem', TLS_KEY_FILE: 'k.pem' }, '/srv').entries;
    assert.deepEqual(entry?.override, { path: 'server.tls.cert_file', source: 'env:TLS_CERT_FILE', kind: 'override', value: 'c.pem' });
    assert.equal(entry?.value, '/srv/c.pem');
    assert.equal(entry?.label, 'environment TLS_CERT_FILE');
  });
});

describe('flags and layering', () => {
  test('flags become overrides with their own source', () => {
    assert.deepEqual(
      flagOverrides({ host: '127.0.0.1', port: 0 }).map((e) => [e.path.join('.'), e.value, e.label, e.override.source, e.override.value]),
      [
        ['server.host', '127.0.0.1', 'flag --host', 'flag:--host', '127.0.0.1'],
        ['server.port', 0, 'flag --port', 'flag:--port', '0'],
      ],
    );
    assert.deepEqual(flagOverrides({}), []);
  });

  test('a flag replaces the environment for its field only', () => {
    const env = environmentOverrides({ PORT: '9000', HOST: '10.0.0.1' }, '/').entries;
    const layered = layerOverrides(env, flagOverrides({ port: 9100 }));
    assert.deepEqual(layered.map((e) => [e.path.join('.'), e.value, e.override.source]), [
      ['server.host', '10.0.0.1', 'env:HOST'],
      ['server.port', 9100, 'flag:--port'],
    ]);
    assert.deepEqual(
      withFlags(env.map((e) => e.override), { port: 9100 }).map((o) => o.source),
      ['env:HOST', 'flag:--port'],
    );
  });
});

describe('applyOverrides', () => {
  const deepFreeze = <T>(o: T): T => {
    if (typeof o === 'object' && o !== null) for (const v of Object.values(o)) deepFreeze(v);
    return Object.freeze(o);
  };

  test('sets values at their paths, creating blocks, without touching the input', () => {
    const raw = deepFreeze({ server: { host: '0.0.0.0', port: 8080 }, instances: { d: { type: 'demo' } } });
    const entries = [...environmentOverrides({ PORT: '9000', TLS_CERT_FILE: '/c', TLS_KEY_FILE: '/k', LOG_LEVEL: 'warn' }, '/').entries];
    assert.deepEqual(applyOverrides(raw, entries), {
      server: { host: '0.0.0.0', port: 9000, tls: { cert_file: '/c', key_file: '/k' } },
      instances: { d: { type: 'demo' } },
      logging: { level: 'warn' },
    });
    assert.equal(raw.server.port, 8080);
  });

  test('an empty document gets the blocks it needs', () => {
    assert.deepEqual(applyOverrides(undefined, flagOverrides({ port: 1 })), { server: { port: 1 } });
  });

  test('a path through something that is not an object is left for validation to report', () => {
    assert.deepEqual(applyOverrides({ server: 'oops' }, flagOverrides({ port: 1 })), { server: 'oops' });
  });
});
