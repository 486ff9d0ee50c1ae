import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { envStore } from './env.js';
import { parseSecretRef, type SecretRef } from './ref.js';

const NAME = `LLMPROXY_TEST_ENV_STORE_${process.pid}`;
const ctx = { baseDir: '/nonexistent', signal: AbortSignal.timeout(10_000) };

function ref(text: string): SecretRef {
  const r = parseSecretRef(text);
  assert.ok(r, text);
  return r;
}

describe('envStore', () => {
  afterEach(() => {
    delete process.env[NAME];
  });

  test('is the "env" scheme', () => assert.equal(envStore.scheme, 'env'));

  test('reads the variable, whether written ${env:NAME} or ${NAME}', async () => {
    process.env[NAME] = 'sk-env-value-1';
    assert.equal(await envStore.read(ref(`\${env:${NAME}}`), ctx), 'sk-env-value-1');
    assert.equal(await envStore.read(ref(`\${${NAME}}`), ctx), 'sk-env-value-1');
  });

  test('re-reads on every call, so a changed variable is seen', async () => {
    process.env[NAME] = 'first-value';
    const r = ref(`\${env:${NAME}}`);
    assert.equal(await envStore.read(r, ctx), 'first-value');
    process.env[NAME] = 'second-value';
    assert.equal(await envStore.read(r, ctx), 'second-value');
  });

  test('keeps the value byte for byte (no trimming)', async () => {
    process.env[NAME] = ' spaced value\n';
    assert.equal(await envStore.read(ref(`\${env:${NAME}}`), ctx), ' spaced value\n');
  });

  test('an unset variable is an error naming the variable', async () => {
    await assert.rejects(envStore.read(ref(`\${env:${NAME}}`), ctx), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, new RegExp(`environment variable ${NAME} is not set or empty`));
      return true;
    });
  });

  test('an empty variable is an error too', async () => {
    process.env[NAME] = '';
    await assert.rejects(envStore.read(ref(`\${env:${NAME}}`), ctx), /is not set or empty/);
  });
});
