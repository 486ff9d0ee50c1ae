import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricValue, until } from '../helpers/wait.js';

const OLD_KEY = 'sk-rotation-old-1111111111111111aaaa';
const NEW_KEY = 'sk-rotation-new-2222222222222222bbbb';
const NEWEST_KEY = 'sk-rotation-newest-33333333333333cccc';

const CHAT_PATH = '/transparent/primary/v1/chat/completions';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });

/**
 * A mounted Kubernetes Secret as the kubelet writes it: the data lives in a timestamped folder,
 * `..data` is a symlink to it, and each key is a symlink through `..data`. An update writes a new
 * folder and swaps `..data` atomically (rename over the old link), then removes the old folder.
 */
class KubernetesSecretMount {
  readonly dir: string;
  #generation = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** `${file:...}` path of the `api-key` item. */
  get file(): string {
    return join(this.dir, 'api-key');
  }

  write(value: string): void {
    const stamp = `..2025_01_01_00_00_00.${String(++this.#generation).padStart(9, '0')}`;
    mkdirSync(join(this.dir, stamp));
    writeFileSync(join(this.dir, stamp, 'api-key'), `${value}\n`, { mode: 0o600 });
    let previous: string | undefined;
    try {
      previous = readlinkSync(join(this.dir, '..data'));
    } catch {
      previous = undefined;
    }
    symlinkSync(stamp, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    try {
      symlinkSync(join('..data', 'api-key'), this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (previous !== undefined) rmSync(join(this.dir, previous), { recursive: true, force: true });
  }

  /** The Secret (or the mount) is gone. */
  remove(): void {
    unlinkSync(this.file);
    const data = readlinkSync(join(this.dir, '..data'));
    unlinkSync(join(this.dir, '..data'));
    rmSync(join(this.dir, data), { recursive: true, force: true });
  }
}

interface Outcome {
  status: number;
  text: string;
}

async function chat(gw: TestGateway, key: string): Promise<Outcome> {
  try {
    const res = await fetch(gw.url + CHAT_PATH, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: CHAT_BODY });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: String(err) };
  }
}


const bearer = (k: string) => `Bearer ${k}`;

describe('provider key rotation through a mounted secret file', () => {
  let emu: OpenAIEmulator;
  let root: string;

  before(async () => {
    emu = await new OpenAIEmulator([OLD_KEY, NEW_KEY]).start();
    root = mkdtempSync(join(tmpdir(), 'llmproxy-secret-rotation-'));
  });
  after(async () => {
    await emu.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('a Kubernetes-style ..data swap under load: no request fails, and after the refresh only the new key is sent', async () => {
    const mount = new KubernetesSecretMount(mkdtempSync(join(root, 'mount-')));
    mount.write(OLD_KEY);
    emu.reset();
    emu.acceptedKeys.clear();
    emu.acceptedKeys.add(OLD_KEY).add(NEW_KEY);
    // The global interval is long; the instance's own refresh_interval must be the one in effect.
    const gw = await startGateway({
      secrets: { refresh_interval: '5m' },
      instances: {
        primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: `\${file:${mount.file}}`, refresh_interval: '100ms' } },
      },
    });
    try {
      const key = await gw.key({ name: 'load' });
      const outcomes: Outcome[] = [];
      const inflight = new Set<Promise<Outcome>>();
      const deadline = Date.now() + 6000;
      let stop = false;
      let rotatedAtRequest = -1;
      let oldKeyRemovedAtRequest = -1;

      const worker = async () => {
        while (!stop && outcomes.length + inflight.size < 2000 && Date.now() < deadline) {
          const p = chat(gw, key);
          inflight.add(p);
          const outcome = await p;
          inflight.delete(p);
          outcomes.push(outcome);
        }
      };
      const conductor = async () => {
        try {
          await until('some load before the rotation', () => outcomes.length >= 40);
          rotatedAtRequest = emu.requests.length;
          mount.write(NEW_KEY);
          await until('the provider sees the new key', () => emu.requests.some((r) => r.headers.authorization === bearer(NEW_KEY)));
          // Requests already signed with the old key may still be on their way: let them land, then
          // retire the old key at the provider, as an operator does once the rollout is done.
          await Promise.all([...inflight]);
          emu.acceptedKeys.delete(OLD_KEY);
          oldKeyRemovedAtRequest = emu.requests.length;
          await until('load after the old key was retired', () => emu.requests.length >= oldKeyRemovedAtRequest + 60);
        } finally {
          stop = true;
        }
      };
      await Promise.all([worker(), worker(), worker(), worker(), conductor()]);

      const failed = outcomes.filter((o) => o.status !== 200);
      assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${outcomes.length} requests failed during the rotation`);
      assert.ok(rotatedAtRequest >= 40 && oldKeyRemovedAtRequest > rotatedAtRequest, 'the rotation happened under load');
      assert.ok(emu.requests.length >= oldKeyRemovedAtRequest + 60, `only ${emu.requests.length} requests were sent`);
      const keysSent = emu.requests.map((r) => r.headers.authorization);
      assert.ok(keysSent.slice(0, rotatedAtRequest).every((k) => k === bearer(OLD_KEY)), 'the new key was used before it was written');
      assert.deepEqual(new Set(keysSent.slice(oldKeyRemovedAtRequest)), new Set([bearer(NEW_KEY)]), 'after the refresh only the new key is sent');
      // The switch is clean: once the new key is seen, the old one is never sent again.
      const firstNew = keysSent.indexOf(bearer(NEW_KEY));
      assert.ok(keysSent.slice(firstNew).every((k) => k === bearer(NEW_KEY)), 'the old key was sent after the new one');

      assert.ok((await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'file', status: 'changed' })) >= 1);
      await gw.settle();
      const changed = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'secret value changed; new requests use it');
      assert.equal(changed.length, 1);
      assert.equal(changed[0]!['secret'], `\${file:${mount.file}}`);
      const all = gw.logs.join('\n');
      for (const secret of [OLD_KEY, NEW_KEY]) assert.ok(!all.includes(secret), 'a provider key reached the log');
    } finally {
      await gw.close();
    }
  });

  test('when the secret file disappears, requests keep using the last good key, the failure is counted and logged without the value; a new file is picked up', async () => {
    const mount = new KubernetesSecretMount(mkdtempSync(join(root, 'mount-')));
    mount.write(NEW_KEY);
    emu.reset();
    emu.acceptedKeys.clear();
    emu.acceptedKeys.add(NEW_KEY);
    const gw = await startGateway({
      secrets: { refresh_interval: '100ms' },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: `\${file:${mount.file}}` } } },
    });
    try {
      const key = await gw.key({ name: 'last-good' });
      assert.equal((await chat(gw, key)).status, 200);
      const errorsBefore = await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'file', status: 'error' });
      assert.equal(errorsBefore, 0);

      mount.remove();
      await until('two failed refreshes are counted', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'file', status: 'error' })) >= 2);
      emu.reset();
      for (let i = 0; i < 5; i++) {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
      }
      assert.ok(emu.requests.length === 5 && emu.requests.every((r) => r.headers.authorization === bearer(NEW_KEY)), 'the last good key is used');
      // The credential is still usable, so the instance stays ready.
      const ready = await fetch(`${gw.url}/ready`);
      assert.equal(ready.status, 200, await ready.text());

      // A half-written (empty) file is refused the same way, never used as a key.
      const emptyFile = join(mount.dir, 'api-key');
      writeFileSync(emptyFile, '');
      const errorsNow = await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'file', status: 'error' });
      await until('the empty file is refused', async () => (await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'file', status: 'error' })) >= errorsNow + 2);
      assert.equal((await chat(gw, key)).status, 200);
      assert.equal(emu.last.headers.authorization, bearer(NEW_KEY));
      unlinkSync(emptyFile);

      await gw.settle();
      const warnings = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'secret refresh failed; keeping the last good value');
      assert.ok(warnings.length >= 2);
      assert.equal(warnings[0]!['level'], 'warn');
      assert.equal(warnings[0]!['secret'], `\${file:${mount.file}}`);
      assert.match(String(warnings[0]!['error']), /ENOENT/);
      assert.ok(warnings.some((w) => /empty/.test(String(w['error']))));

      // The secret comes back with a new value: picked up without a restart.
      emu.acceptedKeys.add(NEWEST_KEY);
      mount.write(NEWEST_KEY);
      await until('the restored secret is used', async () => {
        const r = await chat(gw, key);
        assert.equal(r.status, 200, r.text);
        return emu.last.headers.authorization === bearer(NEWEST_KEY);
      });
      assert.ok((await metricValue(gw, 'llmproxy_secret_refresh_total', { store: 'file', status: 'changed' })) >= 1);

      await gw.settle();
      const all = gw.logs.join('\n');
      for (const secret of [NEW_KEY, NEWEST_KEY, OLD_KEY]) assert.ok(!all.includes(secret), 'a provider key reached the log');
    } finally {
      await gw.close();
    }
  });
});
