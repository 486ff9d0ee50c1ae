import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileStore } from './file.js';
import { SecretHandle } from './handle.js';
import { parseSecretRef, type SecretRef } from './ref.js';

function ref(path: string): SecretRef {
  const r = parseSecretRef(`\${file:${path}}`);
  assert.ok(r, path);
  return r;
}

describe('fileStore', () => {
  let dir: string;
  const read = (path: string, baseDir = dir, signal = AbortSignal.timeout(10_000)) => fileStore.read(ref(path), { baseDir, signal });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-file-store-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('is the "file" scheme', () => assert.equal(fileStore.scheme, 'file'));

  test('reads an absolute path, ignoring baseDir', async () => {
    writeFileSync(join(dir, 'abs.key'), 'sk-absolute');
    assert.equal(await read(join(dir, 'abs.key'), '/nonexistent'), 'sk-absolute');
  });

  test('resolves a relative path against baseDir (the config file folder), not the cwd', async () => {
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'rel.key'), 'sk-relative');
    assert.equal(await read('secrets/rel.key'), 'sk-relative');
    assert.equal(await read('./secrets/rel.key'), 'sk-relative');
    await assert.rejects(read('secrets/rel.key', join(dir, 'elsewhere')), /ENOENT/);
  });

  // The newline is removed by SecretHandle, for every store alike (value.ts); read through one.
  const handleValue = async (path: string) => {
    const h = new SecretHandle(ref(path), fileStore, dir, 60_000);
    await h.refresh();
    return h.value;
  };
  const trailing: Array<[string, string, string]> = [
    ['one trailing LF', 'sk-value\n', 'sk-value'],
    ['trailing CRLF', 'sk-value\r\n', 'sk-value'],
    ['several trailing LFs: only one is removed', 'sk-value\n\n', 'sk-value\n'],
    ['no trailing newline', 'sk-value', 'sk-value'],
    ['inner newlines (a PEM, say)', 'line1\nline2\n', 'line1\nline2'],
    ['surrounding spaces', '  sk-value  \n', '  sk-value  '],
  ];
  for (const [what, content, expected] of trailing) {
    test(`a handle strips one trailing newline: ${what}`, async () => {
      const name = `t-${what.replace(/\W+/g, '-')}.key`;
      writeFileSync(join(dir, name), content);
      assert.equal(await handleValue(name), expected);
    });
  }

  test('a missing file is an error with the resolved path and code, never content', async () => {
    await assert.rejects(read('missing.key'), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal(err.message, `cannot read secret file ${join(dir, 'missing.key')}: ENOENT`);
      return true;
    });
  });

  test('a folder is an error with its code', async () => {
    mkdirSync(join(dir, 'a-folder'), { recursive: true });
    await assert.rejects(read('a-folder'), /cannot read secret file .*a-folder: EISDIR/);
  });

  test('an empty file, or one holding only newlines, is an error', async () => {
    writeFileSync(join(dir, 'empty.key'), '');
    writeFileSync(join(dir, 'newlines.key'), '\n\n');
    await assert.rejects(read('empty.key'), /secret file .*empty\.key is empty/);
    await assert.rejects(handleValue('newlines.key'), /newlines\.key\}: the value is empty/);
  });

  test('re-reads the file on every call', async () => {
    writeFileSync(join(dir, 'rotating.key'), 'v1');
    assert.equal(await read('rotating.key'), 'v1');
    writeFileSync(join(dir, 'rotating.key'), 'v2');
    assert.equal(await read('rotating.key'), 'v2');
  });

  test('an aborted read is refused', async () => {
    writeFileSync(join(dir, 'abort.key'), 'sk-abort');
    await assert.rejects(read('abort.key', dir, AbortSignal.abort()), /cannot read secret file .*abort\.key/);
  });
  test('#NAME reads one variable of a dotenv file (a Vault Agent template); errors name the reference, never a value', async () => {
    writeFileSync(
      join(dir, 'agent.env'),
      [
        '# rendered by vault agent',
        '',
        'export OPENAI_API_KEY="sk-openai-dq"',
        "ANTHROPIC_API_KEY='sk-ant-sq'",
        '  PLAIN = sk-plain  # a comment',
        'EMPTY=',
        '',
      ].join('\n'),
    );
    assert.equal(await read('agent.env#OPENAI_API_KEY'), 'sk-openai-dq');
    assert.equal(await read('agent.env#ANTHROPIC_API_KEY'), 'sk-ant-sq');
    assert.equal(await read('agent.env#PLAIN'), 'sk-plain');
    await assert.rejects(read('agent.env#MISSING'), (err: Error) => {
      assert.equal(err.message, `\${file:agent.env#MISSING}: ${join(dir, 'agent.env')} does not set MISSING`);
      return true;
    });
    await assert.rejects(read('agent.env#EMPTY'), /EMPTY is empty in/);
    writeFileSync(join(dir, 'broken.env'), 'OK=1\nsk-secret-line-without-name\nB="unterminated sk-secret-2\n');
    await assert.rejects(read('broken.env#OK'), (err: Error) => {
      assert.match(err.message, /broken\.env is not a dotenv file: line 2 is not NAME=value/);
      assert.ok(!err.message.includes('sk-secret'), err.message);
      return true;
    });
  });

  test('validate: #NAME must be a variable name; a bare path still works', () => {
    assert.equal(fileStore.validate(ref('/vault/secrets/openai#OPENAI_API_KEY')), undefined);
    assert.equal(fileStore.validate(ref('/run/secrets/openai')), undefined);
    assert.match(fileStore.validate(ref('/vault/secrets/openai#not a name'))!, /"#not a name" is not a variable name/);
    assert.match(fileStore.validate(ref('/vault/secrets/openai#'))!, /is not a variable name/);
    assert.match(fileStore.validate(ref('#OPENAI'))!, /expected \$\{file:<path>\}/);
  });
});
