import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { removeDir, runCli, startServe, tempDir, type ServeProcess } from '../helpers/cli.js';
import { closedPort, selfSignedCert } from '../helpers/net.js';
import { requireTool } from '../helpers/tools.js';

/**
 * Configuration from the environment, through the real CLI: `llmproxy serve` as a child process
 * with PORT / HOST / LOG_LEVEL / TLS_*_FILE / LLMPROXY_SERVER_* set, observed through what it
 * actually does (the port and address it listens on, its log lines, its TLS and metrics
 * listeners); `config check` naming where each value came from; and `${env:...}` in a plain
 * field (`organization`) reaching the upstream expanded.
 */

const OPENAI_KEY = 'sk-envcfg-provider-5b0c1d9e7f3a4b6c8d2e';
const KEY_SHAPE = /llmp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/;

describe('configuration from the environment: llmproxy serve and config check', () => {
  let root: string;
  let n = 0;
  const running = new Set<ServeProcess>();

  before(() => {
    root = tempDir('llmproxy-env-config-');
    mkdirSync(join(root, 'conf'));
  });
  after(async () => {
    for (const s of running) s.kill();
    await Promise.all([...running].map((s) => s.waitForExit(10_000).catch(() => undefined)));
    if (root) removeDir(root);
  });

  /** A config under ./conf/ (so paths relative to it and to the working directory differ). */
  function writeConfig(lines: string[], options: { bootstrapKey?: boolean } = {}): string {
    const path = join(root, 'conf', `gateway-${++n}.yaml`);
    writeFileSync(path, [`storage: { sqlite: { path: ./data/env-${n}.db } }`, `auth: { api_keys: { bootstrap_admin: ${options.bootstrapKey ?? false} } }`, ...lines, ''].join('\n'));
    return path;
  }
  const demo = ['instances:', '  demo: { type: demo }'];

  /** Runs `serve` with `env` (plus an unrelated LLMPROXY_* variable that must be ignored) until `check` is done. */
  async function withServe(config: string, env: Record<string, string | undefined>, args: string[], check: (s: ServeProcess) => Promise<void>): Promise<void> {
    const serve = await startServe(['--config', config, ...args], { cwd: root, env: { LLMPROXY_UNRELATED_SETTING: 'not ours', ...env } });
    running.add(serve);
    try {
      await check(serve);
    } finally {
      const exit = await serve.stop(20_000);
      running.delete(serve);
      assert.deepEqual(exit, { code: 0, signal: null }, serve.stderr());
    }
  }

  async function health(url: string): Promise<number> {
    return (await fetch(`${url}/health`)).status;
  }

  test('the port: --port > LLMPROXY_SERVER_PORT > PORT > the file', async () => {
    const [file, env, namespaced, flag] = [await closedPort(), await closedPort(), await closedPort(), await closedPort()];
    assert.equal(new Set([file, env, namespaced, flag]).size, 4, 'four different ports');
    const config = writeConfig([`server: { host: 127.0.0.1, port: ${file} }`, ...demo]);
    const cases: Array<[string, Record<string, string>, string[], number]> = [
      ['the file', {}, [], file],
      ['PORT over the file', { PORT: String(env) }, [], env],
      ['LLMPROXY_SERVER_PORT over PORT', { PORT: String(env), LLMPROXY_SERVER_PORT: String(namespaced) }, [], namespaced],
      ['--port over both', { PORT: String(env), LLMPROXY_SERVER_PORT: String(namespaced) }, ['--port', String(flag)], flag],
    ];
    for (const [what, vars, args, port] of cases) {
      await withServe(config, vars, args, async (serve) => {
        assert.equal(serve.url, `http://127.0.0.1:${port}`, what);
        assert.equal(await health(serve.url), 200, what);
      });
    }
  });

  /** Whether this machine routes all of 127.0.0.0/8 to loopback (Linux does; macOS has only 127.0.0.1). */
  async function canBind(host: string): Promise<string | undefined> {
    const server = createServer();
    return new Promise((resolve) => {
      server.once('error', (err: NodeJS.ErrnoException) => resolve(`cannot listen on ${host}: ${err.code ?? err.message}`));
      server.listen(0, host, () => server.close(() => resolve(undefined)));
    });
  }

  test('the address: --host > HOST > the file (loopback addresses)', async (t) => {
    const unavailable = (await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map(canBind))).find((r) => r !== undefined);
    if (unavailable !== undefined) {
      if (process.env['CI'] === 'true') assert.fail(unavailable);
      return t.skip(unavailable);
    }
    const port = await closedPort();
    const config = writeConfig([`server: { host: 127.0.0.2, port: ${port} }`, ...demo]);
    const cases: Array<[Record<string, string>, string[], string]> = [
      [{}, [], '127.0.0.2'],
      [{ HOST: '127.0.0.3' }, [], '127.0.0.3'],
      [{ HOST: '127.0.0.3' }, ['--host', '127.0.0.4'], '127.0.0.4'],
    ];
    for (const [vars, args, host] of cases) {
      await withServe(config, vars, args, async (serve) => {
        assert.equal(serve.url, `http://${host}:${port}`);
        assert.equal(await health(serve.url), 200);
        const listening = serve.logs().find((l) => l['msg'] === 'gateway listening');
        const sources = ((listening?.['overrides'] as Array<{ path: string; source: string }> | undefined) ?? []).map((o) => `${o.path} ${o.source}`);
        assert.deepEqual(sources, args.length > 0 ? ['server.host flag:--host'] : Object.keys(vars).length > 0 ? ['server.host env:HOST'] : [], 'the startup log says where the address came from');
      });
    }
  });

  test('LOG_LEVEL beats logging.level in the file', async () => {
    // At the file's `warn`, neither "gateway listening" (info) nor a /health line (debug) is written.
    const config = writeConfig(['server: { host: 127.0.0.1, port: 0 }', 'logging: { level: warn }', ...demo]);
    await withServe(config, { LOG_LEVEL: 'debug' }, [], async (serve) => {
      assert.equal(await health(serve.url), 200);
      const isHealthLine = (l: Record<string, unknown>) => l['msg'] === 'request' && l['path'] === '/health' && l['level'] === 'debug';
      await serve.waitForStdout(() => serve.logs().some(isHealthLine), 10_000);
    });
  });

  test('LLMPROXY_SERVER_METRICS_PORT moves /metrics to its own listener', async () => {
    const metricsPort = await closedPort();
    const config = writeConfig(['server: { host: 127.0.0.1, port: 0 }', ...demo]);
    await withServe(config, { LLMPROXY_SERVER_METRICS_PORT: String(metricsPort) }, [], async (serve) => {
      const listening = serve.logs().find((l) => l['msg'] === 'gateway listening');
      assert.equal(listening?.['metrics_port'], metricsPort);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^llmproxy_/m);
      assert.equal((await fetch(`${serve.url}/metrics`)).status, 404, 'not on the main port any more');
    });
  });

  test('TLS_CERT_FILE and TLS_KEY_FILE (relative to the working directory) with LLMPROXY_SERVER_TLS_PORT add the TLS listener', async (t) => {
    const openssl = await requireTool({ bin: 'openssl' });
    if (openssl.skip) return t.skip(openssl.skip);
    const cert = selfSignedCert();
    mkdirSync(join(root, 'tls'), { recursive: true });
    copyFileSync(cert.certFile, join(root, 'tls', 'cert.pem'));
    copyFileSync(cert.keyFile, join(root, 'tls', 'key.pem'));
    const tlsPort = await closedPort();
    const config = writeConfig(['server: { host: 127.0.0.1, port: 0 }', ...demo]);
    await withServe(config, { TLS_CERT_FILE: 'tls/cert.pem', TLS_KEY_FILE: 'tls/key.pem', LLMPROXY_SERVER_TLS_PORT: String(tlsPort) }, [], async (serve) => {
      assert.equal(serve.logs().find((l) => l['msg'] === 'gateway listening')?.['tls'], tlsPort);
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: tlsPort, path: '/health', ca: cert.cert, servername: 'localhost', timeout: 10_000 }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error('TLS request timed out')));
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 200);
    });
  });

  test('a bad or unknown variable stops serve before it listens, naming the variable', async () => {
    const config = writeConfig(['server: { host: 127.0.0.1, port: 0 }', ...demo]);
    const cases: Array<[Record<string, string>, string]> = [
      [{ LLMPROXY_SERVER_HEADERS_TIMEOUT: 'abc' }, 'environment LLMPROXY_SERVER_HEADERS_TIMEOUT (server.headers_timeout): must be a duration with a unit'],
      [{ PORT: 'eighty' }, 'environment PORT (server.port): expected number (got "eighty")'],
      [{ LLMPROXY_SERVER_PROT: '9000' }, 'environment LLMPROXY_SERVER_PROT: unknown variable'],
      [{ TLS_CERT_FILE: 'tls/cert.pem' }, 'environment TLS_CERT_FILE is set without TLS_KEY_FILE (or LLMPROXY_SERVER_TLS_KEY_FILE): set both, or neither'],
    ];
    for (const [env, message] of cases) {
      const r = await runCli(['serve', '--config', config], { cwd: root, env, timeoutMs: 20_000 });
      assert.equal(r.code, 1, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith(`llmproxy: invalid configuration (${config}):\n`), r.stderr);
      assert.ok(r.stderr.includes(`\n  ${message}`), `${JSON.stringify(env)}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /gateway listening/);
    }
  });

  test('config check names the source of every value that is not the file\'s, and never a secret', async () => {
    const config = writeConfig([
      'server: { host: 127.0.0.1, port: 7000, headers_timeout: 5s }',
      'instances:',
      '  o:',
      '    type: openai',
      '    endpoint: http://127.0.0.1:9',
      '    organization: ${env:ENVCFG_ORG}',
      '    project: ${env:ENVCFG_PROJECT:-proj-default}',
      '    authentication: { type: api_key, api_key: "${env:ENVCFG_OPENAI_KEY}" }',
    ]);
    const env = { PORT: '7100', LLMPROXY_SERVER_HEADERS_TIMEOUT: '15s', ENVCFG_ORG: 'org-envcfg', ENVCFG_PROJECT: undefined, ENVCFG_OPENAI_KEY: OPENAI_KEY };
    const json = await runCli(['config', 'check', '--config', config, '--host', '127.0.0.9', '--json'], { cwd: root, env });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; overrides: unknown[] };
    assert.equal(parsed.ok, true);
    assert.deepEqual(parsed.overrides, [
      { path: 'server.port', source: 'env:PORT', kind: 'override', value: '7100' },
      { path: 'server.headers_timeout', source: 'env:LLMPROXY_SERVER_HEADERS_TIMEOUT', kind: 'override', value: '15s' },
      { path: 'server.host', source: 'flag:--host', kind: 'override', value: '127.0.0.9' },
      { path: 'instances.o.organization', source: 'env:ENVCFG_ORG', kind: 'reference' },
      { path: 'instances.o.project', source: 'env-default:ENVCFG_PROJECT', kind: 'reference' },
    ]);

    const human = await runCli(['config', 'check', '--config', config, '--host', '127.0.0.9'], { cwd: root, env });
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 8), [
      `config: ${config}`,
      'store:  ok',
      'overrides:',
      '  server.port = 7100 (environment PORT)',
      '  server.headers_timeout = 15s (environment LLMPROXY_SERVER_HEADERS_TIMEOUT)',
      '  server.host = 127.0.0.9 (flag --host)',
      '  instances.o.organization (environment ENVCFG_ORG)',
      "  instances.o.project (the reference's default; ENVCFG_PROJECT is unset)",
    ]);
    assert.equal(lines.at(-1), 'configuration OK');
    for (const r of [json, human]) {
      assert.ok(!r.stdout.includes(OPENAI_KEY) && !r.stderr.includes(OPENAI_KEY), 'the provider key was printed');
      assert.ok(!r.stdout.includes('org-envcfg'), 'a reference is listed by source, not value');
    }

    // Without anything from the environment: an empty list, and no section in the text.
    const plain = writeConfig(['server: { host: 127.0.0.1, port: 7000 }', ...demo]);
    const none = JSON.parse((await runCli(['config', 'check', '--config', plain, '--json'], { cwd: root })).stdout) as { overrides: unknown[] };
    assert.deepEqual(none.overrides, []);
    assert.doesNotMatch((await runCli(['config', 'check', '--config', plain], { cwd: root })).stdout, /overrides:/);
  });

  test('config check: an unset ${env:...} in a plain field names the field and the variable', async () => {
    const config = writeConfig(['instances:', '  o:', '    type: openai', '    organization: ${env:ENVCFG_UNSET_ORG}', '    authentication: { type: api_key, api_key: "${env:ENVCFG_OPENAI_KEY}" }']);
    const r = await runCli(['config', 'check', '--config', config], { cwd: root, env: { ENVCFG_UNSET_ORG: undefined, ENVCFG_OPENAI_KEY: OPENAI_KEY } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `llmproxy: invalid configuration (${config}):\n  instances.o.organization: environment variable ENVCFG_UNSET_ORG is not set or empty (referenced as \${env:ENVCFG_UNSET_ORG})\n`);
  });

  test('organization: ${env:...} reaches OpenAI as the value, never as the text', async () => {
    const emu = await new OpenAIEmulator([OPENAI_KEY]).start();
    try {
      const config = writeConfig([
        'server: { host: 127.0.0.1, port: 0 }',
        'instances:',
        '  o:',
        '    type: openai',
        `    endpoint: ${emu.url}`,
        '    organization: ${env:ENVCFG_ORG}',
        '    project: proj-$${literal}-${env:ENVCFG_PROJECT:-proj-default}',
        '    authentication: { type: api_key, api_key: "${env:ENVCFG_OPENAI_KEY}" }',
      ], { bootstrapKey: true });
      await withServe(config, { ENVCFG_ORG: 'org-from-the-environment', ENVCFG_PROJECT: undefined, ENVCFG_OPENAI_KEY: OPENAI_KEY }, [], async (serve) => {
        await serve.waitForStdout((s) => KEY_SHAPE.test(s), 10_000);
        const key = KEY_SHAPE.exec(serve.stdout())![0];
        const res = await fetch(`${serve.url}/transparent/o/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'openai-organization': 'org-chosen-by-the-client' },
          body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        await res.arrayBuffer();
        assert.equal(emu.requests.length, 1);
        assert.equal(emu.last.headers['openai-organization'], 'org-from-the-environment');
        assert.equal(emu.last.headers['openai-project'], 'proj-${literal}-proj-default');
        assert.equal(emu.last.headers.authorization, `Bearer ${OPENAI_KEY}`);
        const listening = serve.logs().find((l) => l['msg'] === 'gateway listening');
        assert.deepEqual(listening?.['overrides'], [
          { path: 'instances.o.organization', source: 'env:ENVCFG_ORG', kind: 'reference' },
          { path: 'instances.o.project', source: 'env-default:ENVCFG_PROJECT', kind: 'reference' },
        ]);
      });
    } finally {
      await emu.close();
    }
  });
});
