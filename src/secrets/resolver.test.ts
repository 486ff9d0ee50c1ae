import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, before, describe, test } from 'node:test';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { SecretResolver } from './resolver.js';

const REFRESH_MS = 20;

/**
 * Polls `condition` until it holds; fails with `what` after a generous bound. The bound only
 * keeps a broken refresh from hanging the suite: no assertion is made about how long it took.
 */
async function eventually(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await delay(10);
  }
  assert.fail(`timed out waiting until ${what}`);
}

interface Harness {
  resolver: SecretResolver;
  scrubber: SecretScrubber;
  metrics: Metrics;
  logs: string[];
}

describe('SecretResolver', () => {
  let dir: string;
  const started: SecretResolver[] = [];

  function harness(baseDir = dir): Harness {
    const scrubber = new SecretScrubber();
    const metrics = new Metrics();
    const logs: string[] = [];
    const logger = createLogger({ level: 'info', scrubber, destination: { write: (line: string) => void logs.push(line) } });
    const resolver = new SecretResolver({ baseDir, defaultIntervalMs: 60_000, scrubber, logger, metrics });
    started.push(resolver);
    return { resolver, scrubber, metrics, logs };
  }

  async function refreshCount(metrics: Metrics, store: string, status: string): Promise<number> {
    const { values } = await metrics.secretRefresh.get();
    return values.find((v) => v.labels['store'] === store && v.labels['status'] === status)?.value ?? 0;
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-resolver-'));
  });
  afterEach(() => {
    for (const r of started.splice(0)) r.stop();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('equal references share a handle; another interval is another handle', () => {
    const { resolver } = harness();
    const a = resolver.handle('${env:SOME_KEY}');
    assert.equal(resolver.handle('${env:SOME_KEY}'), a);
    assert.equal(a.intervalMs, 60_000, 'the default interval');
    const b = resolver.handle('${env:SOME_KEY}', 5_000);
    assert.notEqual(b, a);
    assert.equal(b.intervalMs, 5_000);
    assert.equal(resolver.handles.length, 2);
  });

  test('an unusable reference is refused', () => {
    const { resolver } = harness();
    assert.throws(() => resolver.handle('${doppler:x}'), /not a usable secret reference/);
    assert.throws(() => resolver.handle('plain text'), /not a usable secret reference/);
  });

  test('resolveAll reads every handle, reports failures by reference, and registers values with the scrubber', async () => {
    const { resolver, scrubber, metrics } = harness();
    const envName = `LLMPROXY_TEST_RESOLVER_${process.pid}`;
    process.env[envName] = 'sk-from-the-environment-1';
    try {
      writeFileSync(join(dir, 'resolve-all.key'), 'sk-from-a-file-000001\n');
      const fromEnv = resolver.handle(`\${env:${envName}}`);
      const fromFile = resolver.handle('${file:resolve-all.key}');
      resolver.handle('${file:does-not-exist.key}');

      const failures = await resolver.resolveAll();
      assert.deepEqual(failures, [
        { ref: '${file:does-not-exist.key}', error: `cannot read secret file ${join(dir, 'does-not-exist.key')}: ENOENT` },
      ]);
      assert.equal(fromEnv.value, 'sk-from-the-environment-1');
      assert.equal(fromFile.value, 'sk-from-a-file-000001', 'relative to baseDir, newline stripped');
      assert.equal(scrubber.scrub('a sk-from-the-environment-1 b sk-from-a-file-000001 c'), 'a [REDACTED] b [REDACTED] c');
      assert.equal(await refreshCount(metrics, 'env', 'ok'), 1);
      assert.equal(await refreshCount(metrics, 'file', 'ok'), 1);
      assert.equal(await refreshCount(metrics, 'file', 'error'), 1);
    } finally {
      delete process.env[envName];
    }
  });

  test('a file value is re-read on its interval and a change is picked up', async () => {
    const { resolver, scrubber, logs } = harness();
    const path = join(dir, 'interval.key');
    writeFileSync(path, 'sk-interval-value-1\n');
    const h = resolver.handle('${file:interval.key}', REFRESH_MS);
    assert.deepEqual(await resolver.resolveAll(), []);
    assert.equal(h.value, 'sk-interval-value-1');
    resolver.start();

    writeFileSync(path, 'sk-interval-value-2\n');
    await eventually('the new value is read', () => h.hasValue && h.value === 'sk-interval-value-2');
    assert.equal(h.version, 2);
    assert.equal(h.status, 'ok');
    assert.equal(scrubber.scrub('x sk-interval-value-2 x'), 'x [REDACTED] x', 'the new value is registered for scrubbing');
    await eventually('the change is logged', () => logs.some((l) => l.includes('secret value changed')));
    const line = logs.find((l) => l.includes('secret value changed'))!;
    assert.ok(line.includes('${file:interval.key}'), 'the log names the reference');
    assert.ok(!logs.some((l) => l.includes('sk-interval-value')), 'no value in the logs');
  });

  test('a Kubernetes-style ..data symlink swap is picked up', async () => {
    const { resolver } = harness();
    // The layout the kubelet writes for a Secret volume: a timestamped folder holding the
    // files, `..data` pointing at it, and each key a symlink through `..data`.
    const mount = join(dir, 'k8s-secret');
    mkdirSync(join(mount, '..2026_01_01_00_00_00.000000001'), { recursive: true });
    writeFileSync(join(mount, '..2026_01_01_00_00_00.000000001', 'api_key'), 'sk-k8s-value-1\n');
    symlinkSync('..2026_01_01_00_00_00.000000001', join(mount, '..data'));
    symlinkSync('..data/api_key', join(mount, 'api_key'));

    const h = resolver.handle('${file:k8s-secret/api_key}', REFRESH_MS);
    assert.deepEqual(await resolver.resolveAll(), []);
    assert.equal(h.value, 'sk-k8s-value-1');
    resolver.start();

    // The update: a new timestamped folder, a new symlink renamed atomically over `..data`,
    // then the old folder removed.
    mkdirSync(join(mount, '..2026_01_02_00_00_00.000000002'));
    writeFileSync(join(mount, '..2026_01_02_00_00_00.000000002', 'api_key'), 'sk-k8s-value-2\n');
    symlinkSync('..2026_01_02_00_00_00.000000002', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    rmSync(join(mount, '..2026_01_01_00_00_00.000000001'), { recursive: true });

    await eventually('the swapped value is read', () => h.value === 'sk-k8s-value-2');
    assert.equal(h.version, 2);
    assert.equal(h.lastError, undefined);
  });

  test('a failed refresh keeps the last good value and records the error without the secret', async () => {
    const { resolver, metrics, logs } = harness();
    const path = join(dir, 'deleted.key');
    const secret = 'sk-deleted-secret-value-7f3a';
    writeFileSync(path, `${secret}\n`);
    const h = resolver.handle('${file:deleted.key}', REFRESH_MS);
    assert.deepEqual(await resolver.resolveAll(), []);
    resolver.start();

    unlinkSync(path);
    await eventually('the failure is recorded', () => h.lastError !== undefined);
    assert.equal(h.value, secret, 'the last good value is still served');
    assert.equal(h.hasValue, true);
    assert.equal(h.status, 'ok', 'usable, with lastError telling why the refresh failed');
    assert.equal(h.lastError, `cannot read secret file ${path}: ENOENT`);
    assert.ok(!h.lastError.includes(secret));
    await eventually('the error is counted', () => logs.some((l) => l.includes('secret refresh failed')));
    assert.ok((await refreshCount(metrics, 'file', 'error')) >= 1);
    const warning = JSON.parse(logs.find((l) => l.includes('secret refresh failed'))!) as Record<string, unknown>;
    assert.equal(warning['secret'], '${file:deleted.key}');
    assert.equal(warning['error'], `cannot read secret file ${path}: ENOENT`);
    assert.ok(!logs.some((l) => l.includes(secret)), 'no value in the logs');

    // The file comes back with a new value: the error clears and the value changes.
    writeFileSync(path, 'sk-restored-secret-value\n');
    await eventually('the restored value is read', () => h.value === 'sk-restored-secret-value');
    assert.equal(h.lastError, undefined);
  });

  test('stop() ends the refreshes', async () => {
    const { resolver } = harness();
    const path = join(dir, 'stopped.key');
    writeFileSync(path, 'sk-stopped-1\n');
    const h = resolver.handle('${file:stopped.key}', REFRESH_MS);
    await resolver.resolveAll();
    resolver.start();
    resolver.stop();
    // Let any refresh that was already in flight when stop() ran finish.
    await delay(REFRESH_MS * 3);
    writeFileSync(path, 'sk-stopped-2\n');
    await delay(REFRESH_MS * 10);
    assert.equal(h.value, 'sk-stopped-1');
  });
});
