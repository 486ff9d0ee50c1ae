import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { exceedsJsonDepth, JsonTooDeep, NESTED_JSON_DEPTH_LIMIT, parseClientJson, parseJsonWithin, parseProviderJson } from './json.js';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('exceedsJsonDepth', () => {
  const cases: Array<[string, string, number, boolean]> = [
    ['a scalar', '42', 0, false],
    ['an empty object is one level', '{}', 1, false],
    ['an empty object past a limit of 0', '{}', 0, true],
    ['objects and arrays both count', '{"a":[{"b":[1]}]}', 4, false],
    ['one level too deep', '{"a":[{"b":[1]}]}', 3, true],
    ['brackets inside strings do not count', '{"a":"[[[[{{{{"}', 1, false],
    ['an escaped quote does not end a string', '{"a":"\\"[[[["}', 1, false],
    ['an escaped backslash does end it', '{"a":"\\\\","b":[[1]]}', 2, true],
    ['siblings do not add up', '[[1],[2],[3]]', 2, false],
  ];
  for (const [name, text, limit, deep] of cases) {
    test(name, () => {
      assert.equal(exceedsJsonDepth(text, limit), deep);
      assert.equal(exceedsJsonDepth(Buffer.from(text), limit), deep);
    });
  }

  test('UTF-8 text: multi-byte characters are never brackets or quotes', () => {
    const text = '{"é€𝄞":"[«»]","x":["😀"]}';
    assert.equal(exceedsJsonDepth(Buffer.from(text), 2), false);
    assert.equal(exceedsJsonDepth(Buffer.from(text), 1), true);
  });

  test('100,000 levels are measured without recursion', () => {
    assert.equal(exceedsJsonDepth(Buffer.from(nested(100_000)), 128), true);
    assert.equal(exceedsJsonDepth(Buffer.from(nested(128)), 128), false);
  });
});

describe('parsing with the depth bound', () => {
  test('a client body past the limit is a 400 that names the limit, before parsing', () => {
    assert.throws(() => parseClientJson(Buffer.from(`{"a":${nested(10_000)}}`), 128), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'invalid_request');
      assert.equal(err.param, undefined);
      assert.match(err.message, /deeper than 128 levels.*server\.json_depth_limit/);
      return true;
    });
    assert.deepEqual(parseClientJson(Buffer.from('{"a":[[1]]}'), 3), { a: [[1]] });
  });

  test('a client body that is not JSON, or absent, is a 400', () => {
    for (const body of [Buffer.from('{"a":'), null, undefined]) {
      assert.throws(() => parseClientJson(body, 128), { code: 'invalid_request', message: 'the request body is not valid JSON' });
    }
  });

  test('a provider answer nested 50,000 deep, or cut mid-body, is a 502 upstream_error', () => {
    assert.throws(() => parseProviderJson(Buffer.from(`{"content":${nested(50_000)}}`), 'Anthropic'), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'upstream_error');
      assert.equal(err.status, 502);
      assert.equal(err.message, `Anthropic answered with JSON nested deeper than ${NESTED_JSON_DEPTH_LIMIT} levels`);
      return true;
    });
    assert.throws(() => parseProviderJson(Buffer.from('{"content":[{"type":"te'), 'Anthropic'), { code: 'upstream_error', message: 'Anthropic answered with a body that is not JSON' });
    assert.deepEqual(parseProviderJson(Buffer.from(nested(NESTED_JSON_DEPTH_LIMIT)), 'x'), JSON.parse(nested(NESTED_JSON_DEPTH_LIMIT)));
  });

  test('a provider stream event given as text is held to the same limit as bytes', () => {
    assert.throws(() => parseProviderJson(nested(NESTED_JSON_DEPTH_LIMIT + 1), 'x'), { code: 'upstream_error' });
    assert.deepEqual(parseProviderJson(nested(NESTED_JSON_DEPTH_LIMIT), 'x'), JSON.parse(nested(NESTED_JSON_DEPTH_LIMIT)));
    assert.deepEqual(parseProviderJson('{"a":"é"}', 'x'), { a: 'é' });
  });

  test('exceedsJsonDepth: text no longer than the limit passes without a scan; just past it is scanned', () => {
    assert.equal(exceedsJsonDepth('[[[', 3), false); // 3 characters, limit 3: at most 3 levels
    assert.equal(exceedsJsonDepth('[[[[', 3), true);
    assert.equal(exceedsJsonDepth(Buffer.from('[[[['), 3), true);
    assert.equal(exceedsJsonDepth('["[[[["]', 3), false); // brackets inside a string do not nest
  });

  test('parseJsonWithin: JsonTooDeep past the limit, SyntaxError for text that is not JSON', () => {
    assert.throws(() => parseJsonWithin(nested(NESTED_JSON_DEPTH_LIMIT + 1)), JsonTooDeep);
    assert.throws(() => parseJsonWithin('[1,'), SyntaxError);
    assert.deepEqual(parseJsonWithin(Buffer.from('{"a":1}'), 1), { a: 1 });
  });
});
