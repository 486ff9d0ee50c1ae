import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SecretHandle } from './handle.js';
import { parseSecretRef } from './ref.js';
import type { SecretReadContext, SecretStore } from './types.js';

/** A store whose answers the test scripts: each read takes the next answer (a value or an Error). */
class ScriptedStore implements SecretStore {
  readonly scheme = 'test';
  reads = 0;
  contexts: SecretReadContext[] = [];
  readonly #answers: Array<string | Error>;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  constructor(...answers: Array<string | Error>) {
    this.#answers = answers;
  }

  validate(): undefined {
    return undefined;
  }

  /** Holds every read until open() is called. */
  hold(): void {
    this.#gate = new Promise((r) => (this.#open = r));
  }

  open(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  async read(_ref: unknown, ctx: SecretReadContext): Promise<string> {
    this.reads++;
    this.contexts.push(ctx);
    if (this.#gate) await this.#gate;
    const answer = this.#answers.shift();
    if (answer === undefined) throw new Error('script exhausted');
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

const REF = parseSecretRef('${test:provider-key}')!;

function handle(store: SecretStore): SecretHandle {
  return new SecretHandle(REF, store, '/config/dir', 60_000);
}

describe('SecretHandle', () => {
  test('starts pending, without a value; reading the value throws naming the reference', () => {
    const h = handle(new ScriptedStore());
    assert.equal(h.status, 'pending');
    assert.equal(h.hasValue, false);
    assert.equal(h.version, 0);
    assert.equal(h.lastRefreshAt, undefined);
    assert.throws(() => h.value, /secret \$\{test:provider-key\} is not resolved/);
  });

  test('a good read sets the value, status ok and the version; the store gets baseDir', async () => {
    const store = new ScriptedStore('sk-one');
    const h = handle(store);
    assert.equal(await h.refresh(), true, 'changed');
    assert.equal(h.value, 'sk-one');
    assert.equal(h.status, 'ok');
    assert.equal(h.version, 1);
    assert.equal(h.lastError, undefined);
    assert.equal(typeof h.lastRefreshAt, 'number');
    assert.equal(store.contexts[0]?.baseDir, '/config/dir');
  });

  test('an unchanged value resolves false and keeps the version; a new one bumps it and notifies', async () => {
    const h = handle(new ScriptedStore('sk-one', 'sk-one', 'sk-two'));
    const changes: Array<[string, string | undefined]> = [];
    h.onChange((value, previous) => changes.push([value, previous]));
    assert.equal(await h.refresh(), true);
    assert.equal(await h.refresh(), false);
    assert.equal(h.version, 1);
    assert.equal(await h.refresh(), true);
    assert.equal(h.version, 2);
    assert.equal(h.value, 'sk-two');
    assert.deepEqual(changes, [
      ['sk-one', undefined],
      ['sk-two', 'sk-one'],
    ]);
  });

  test('a first read that fails leaves status error, the reason in lastError and in the value error', async () => {
    const h = handle(new ScriptedStore(new Error('environment variable X is not set or empty')));
    await assert.rejects(h.refresh(), /not set or empty/);
    assert.equal(h.status, 'error');
    assert.equal(h.hasValue, false);
    assert.equal(h.lastError, 'environment variable X is not set or empty');
    assert.throws(() => h.value, /is not resolved: environment variable X is not set or empty/);
  });

  test('a failed refresh keeps the last good value and records why; the next good read clears it', async () => {
    const h = handle(new ScriptedStore('sk-good-value', new Error('cannot read secret file /x: ENOENT'), 'sk-good-value'));
    await h.refresh();
    const changes: string[] = [];
    h.onChange((v) => changes.push(v));
    await assert.rejects(h.refresh(), /ENOENT/);
    assert.equal(h.value, 'sk-good-value');
    assert.equal(h.hasValue, true);
    // status reports whether a value is usable; lastError reports that the last read failed.
    assert.equal(h.status, 'ok');
    assert.equal(h.lastError, 'cannot read secret file /x: ENOENT');
    assert.equal(h.version, 1);
    assert.deepEqual(changes, [], 'a failure is not a change');

    assert.equal(await h.refresh(), false);
    assert.equal(h.lastError, undefined);
  });

  test('concurrent refreshes share one read (single flight)', async () => {
    const store = new ScriptedStore('sk-shared', 'sk-later');
    store.hold();
    const h = handle(store);
    const a = h.refresh();
    const b = h.refresh();
    const c = h.refresh();
    store.open();
    assert.deepEqual(await Promise.all([a, b, c]), [true, true, true]);
    assert.equal(store.reads, 1);
    assert.equal(h.value, 'sk-shared');
    // Once settled, the next refresh reads again.
    assert.equal(await h.refresh(), true);
    assert.equal(store.reads, 2);
    assert.equal(h.value, 'sk-later');
  });

  test('concurrent callers of a failing read all see the failure', async () => {
    const store = new ScriptedStore(new Error('boom'));
    store.hold();
    const h = handle(store);
    const both = Promise.allSettled([h.refresh(), h.refresh()]);
    store.open();
    const results = await both;
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(store.reads, 1);
  });
});
