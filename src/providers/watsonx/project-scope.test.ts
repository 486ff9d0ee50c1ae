import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { topLevelKeys } from '../billing-scope.js';
import { scopedBody } from './project-scope.js';

const CHAT = ['ml', 'v1', 'text', 'chat'];
const OTHER = ['ml', 'v4', 'deployments'];
const PROJECT = { project_id: 'p-1' };
const SPACE = { space_id: 's-1' };

function check(scope: typeof PROJECT | typeof SPACE, segments: string[], text: string | null): string | null {
  const out = scopedBody(scope, segments, text === null ? null : Buffer.from(text));
  return out === null ? null : out.toString('utf8');
}

function refused(scope: typeof PROJECT | typeof SPACE, segments: string[], text: string): GatewayError {
  try {
    check(scope, segments, text);
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return err;
  }
  assert.fail(`accepted ${text}`);
}

describe('watsonx transparent mode: the body bills the instance\'s project or space', () => {
  const cases: Array<{ name: string; scope: typeof PROJECT | typeof SPACE; segments: string[]; body: string | null; out?: string; code?: string }> = [
    { name: 'naming the instance\'s project: forwarded byte for byte', scope: PROJECT, segments: CHAT, body: ' {"model_id":"m", "project_id":"p-1","messages":[]}\n', out: ' {"model_id":"m", "project_id":"p-1","messages":[]}\n' },
    { name: 'naming nothing: the project goes in first, the rest untouched', scope: PROJECT, segments: CHAT, body: '\n{ "model_id" : "m","x":1.0e2}', out: '\n{"project_id":"p-1", "model_id" : "m","x":1.0e2}' },
    { name: 'an empty object gets the project alone', scope: PROJECT, segments: CHAT, body: '{}', out: '{"project_id":"p-1"}' },
    { name: 'a space instance fills in its space', scope: SPACE, segments: ['ml', 'v1', 'text', 'embeddings'], body: '{"inputs":["a"]}', out: '{"space_id":"s-1","inputs":["a"]}' },
    { name: 'another project is refused', scope: PROJECT, segments: CHAT, body: '{"project_id":"p-2"}', code: 'permission_denied' },
    { name: 'a space on a project instance is refused', scope: PROJECT, segments: CHAT, body: '{"space_id":"s-1"}', code: 'permission_denied' },
    { name: 'both, even with the right project, are refused', scope: PROJECT, segments: CHAT, body: '{"project_id":"p-1","space_id":"s-9"}', code: 'permission_denied' },
    { name: 'a project on a space instance is refused', scope: SPACE, segments: CHAT, body: '{"project_id":"p-1"}', code: 'permission_denied' },
    { name: 'a project that is not a string is refused', scope: PROJECT, segments: CHAT, body: '{"project_id":null}', code: 'permission_denied' },
    { name: 'an escaped spelling of the key is the key', scope: PROJECT, segments: CHAT, body: '{"project\\u005fid":"p-2"}', code: 'permission_denied' },
    { name: 'a repeated key is refused, whichever copy a parser keeps', scope: PROJECT, segments: CHAT, body: '{"project_id":"p-2","messages":[],"project_id":"p-1"}', code: 'invalid_request' },
    { name: 'a repeated key spelled with an escape is refused', scope: PROJECT, segments: CHAT, body: '{"project\\u005fid":"p-2","project_id":"p-1"}', code: 'invalid_request' },
    { name: 'the key inside a value or a nested object is not the key', scope: PROJECT, segments: CHAT, body: '{"project_id":"p-1","messages":[{"content":"\\"project_id\\": \\"p-2\\""}],"x":{"project_id":"p-2"},"y":"project_id"}', out: '{"project_id":"p-1","messages":[{"content":"\\"project_id\\": \\"p-2\\""}],"x":{"project_id":"p-2"},"y":"project_id"}' },
    { name: 'an inference body that is not JSON is refused', scope: PROJECT, segments: CHAT, body: 'model_id=m', code: 'invalid_request' },
    { name: 'an inference body that is not an object is refused', scope: PROJECT, segments: CHAT, body: '[{"project_id":"p-2"}]', code: 'invalid_request' },
    { name: 'no body: nothing to check', scope: PROJECT, segments: ['ml', 'v1', 'foundation_model_specs'], body: null, out: undefined },
    { name: 'an allowed non-inference route: checked, never filled in', scope: PROJECT, segments: OTHER, body: '{"name":"d"}', out: '{"name":"d"}' },
    { name: 'an allowed non-inference route naming another project is refused', scope: PROJECT, segments: OTHER, body: '{"project_id":"p-2"}', code: 'permission_denied' },
    { name: 'an allowed non-inference route with a non-JSON body passes', scope: PROJECT, segments: OTHER, body: '--boundary', out: '--boundary' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (c.code !== undefined) {
        assert.equal(refused(c.scope, c.segments, c.body!).code, c.code);
        return;
      }
      const out = check(c.scope, c.segments, c.body);
      assert.equal(out, c.out ?? null);
    });
  }

  test('an unchanged body is the same buffer, not a copy', () => {
    const body = Buffer.from('{"project_id":"p-1"}');
    assert.equal(scopedBody(PROJECT, CHAT, body), body);
  });

  test('topLevelKeys reads keys at the top level only, repeats kept, escapes decoded', () => {
    assert.deepEqual(topLevelKeys('{"a":1,"b":{"c":[1,{"d":2}],"e":"x,\\"f\\":"},"a":[],"g\\u005f":"}"}'), ['a', 'b', 'a', 'g_']);
    assert.deepEqual(topLevelKeys(' { } '), []);
  });
});
