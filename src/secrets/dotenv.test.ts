import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dotenvValue } from './dotenv.js';

describe('dotenvValue', () => {
  const cases: Array<[string, string, string, string | undefined]> = [
    ['NAME=value', 'A=1\n', 'A', '1'],
    ['export and double quotes (the Vault Agent template)', 'export OPENAI_API_KEY="sk-1"\n', 'OPENAI_API_KEY', 'sk-1'],
    ['single quotes are literal', "A='x\\ny $B'\n", 'A', 'x\\ny $B'],
    ['double-quoted escapes', 'A="a\\"b\\\\c\\nd\\u00e9"\n', 'A', 'a"b\\c\nd\u00e9'],
    ['a double-quoted value across lines (a PEM)', 'K="-----BEGIN-----\nabc\n-----END-----"\nB=2\n', 'K', '-----BEGIN-----\nabc\n-----END-----'],
    ['comments and blank lines', '# c\n\n  # indented\nA=1 # trailing\n', 'A', '1'],
    ['a # inside a value without a blank before it', 'A=abc#def\n', 'A', 'abc#def'],
    ['a comment after a quoted value', 'A="v" # c\n', 'A', 'v'],
    ['blanks around =', 'A = v \n', 'A', 'v'],
    ['CRLF lines', 'A=1\r\nB="2"\r\n', 'B', '2'],
    ['the last assignment wins', 'A=1\nA=2\n', 'A', '2'],
    ['no trailing newline', 'A=1', 'A', '1'],
    ['an empty value', 'A=\n', 'A', ''],
    ['absent', 'A=1\n', 'B', undefined],
  ];
  for (const [what, text, name, expected] of cases) {
    test(what, () => assert.equal(dotenvValue(text, name), expected));
  }

  test('malformed files: the line number, never the line', () => {
    for (const [text, error] of [
      ['A=1\nsk-secret\n', /^line 2 is not NAME=value$/],
      ['A=1\nB="sk-secret\n', /^line 2 has an unterminated double-quoted value$/],
      ["B='sk-secret", /^line 1 has an unterminated single-quoted value$/],
      ['B="x"sk-secret\n', /^line 1 has text after its closing quote$/],
    ] as const) {
      assert.throws(() => dotenvValue(text, 'A'), (err: Error) => {
        assert.match(err.message, error);
        assert.ok(!err.message.includes('sk-secret'));
        return true;
      });
    }
  });
});
