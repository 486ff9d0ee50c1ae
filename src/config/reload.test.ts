import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate } from './load.js';
import { configChange } from './reload.js';

const openai = (endpoint: string) => ({ type: 'openai', endpoint, authentication: { type: 'api_key', api_key: '${env:K}' } });
const config = (raw: Record<string, unknown>) => validate({ instances: { a: openai('http://127.0.0.1:1') }, ...raw }, 'test');

describe('configChange', () => {
  test('names added, removed and changed instances and alias changes', () => {
    const runningRaw = { instances: { a: openai('http://127.0.0.1:1'), b: openai('http://127.0.0.1:2') }, model_aliases: { x: 'a/m' } };
    const running = config(runningRaw);
    const next = config({ instances: { a: openai('http://127.0.0.1:9'), c: openai('http://127.0.0.1:3') }, model_aliases: { x: 'a/m' } });
    const change = configChange(running, next);
    assert.deepEqual(
      { added: change.added, removed: change.removed, changed: change.changed, aliases: change.aliasesChanged, restart: change.restartRequired },
      { added: ['c'], removed: ['b'], changed: ['a'], aliases: false, restart: [] },
    );
    assert.equal((change.effective.instances['a'] as { endpoint?: { origin: string } }).endpoint?.origin, 'http://127.0.0.1:9');
    assert.equal(configChange(running, config({ ...runningRaw, model_aliases: { y: 'a/m' } })).aliasesChanged, true);
  });

  test('sections that need a restart keep their running values and are listed; reloadable ones take the new values', () => {
    const running = config({ server: { port: 8080, shutdown_timeout: '30s' }, upstream: { connect_timeout: '10s' } });
    const next = config({ server: { port: 9090, shutdown_timeout: '30s' }, storage: { sqlite: { path: './other.db' } }, upstream: { connect_timeout: '2s' }, secrets: { refresh_interval: '1m' } });
    const change = configChange(running, next);
    assert.deepEqual(change.restartRequired, ['server', 'storage']);
    assert.equal(change.effective.server.port, 8080);
    assert.equal(change.effective.storage.sqlite.path, running.storage.sqlite.path);
    assert.equal(change.effective.upstream.connect_timeout, 2000);
    assert.equal(change.effective.secrets.refresh_interval, 60_000);
  });

  test('an identical file changes nothing', () => {
    const running = config({ model_aliases: { x: 'a/m' } });
    const change = configChange(running, config({ model_aliases: { x: 'a/m' } }));
    assert.deepEqual([change.added, change.removed, change.changed, change.aliasesChanged, change.restartRequired], [[], [], [], false, []]);
  });
});
