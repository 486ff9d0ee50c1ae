import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { anthropic } from './anthropic/index.js';
import { openai } from './openai/index.js';
import { checkNativePath, matchPathRule, parsePathRule, rules, type PathRule } from './transparent-path.js';

/** Whether `method path` passes the safety check and matches one of `list`, as the transparent route decides. */
function allowed(list: readonly PathRule[], method: string, path: string): boolean {
  let segments: string[];
  try {
    segments = checkNativePath(path);
  } catch (err) {
    assert.ok(err instanceof GatewayError && err.code === 'invalid_path', `unexpected error ${String(err)}`);
    return false;
  }
  return matchPathRule(list, method, segments) !== undefined;
}

function assertInvalidPath(path: string): void {
  assert.throws(
    () => checkNativePath(path),
    (err: unknown) => err instanceof GatewayError && err.code === 'invalid_path' && err.status === 400,
    `${JSON.stringify(path)} should be refused as invalid_path`,
  );
}

describe('checkNativePath', () => {
  test('returns the raw segments of a plain path', () => {
    assert.deepEqual(checkNativePath('/v1/chat/completions'), ['v1', 'chat', 'completions']);
    assert.deepEqual(checkNativePath('/v1/models/gpt-4o%2Dmini'), ['v1', 'models', 'gpt-4o%2Dmini'], 'kept encoded');
    assert.deepEqual(checkNativePath('/v1/models/'), ['v1', 'models', ''], 'a trailing slash is an empty last segment');
    assert.deepEqual(checkNativePath('/v1/a...b/...'), ['v1', 'a...b', '...'], 'three dots are not a dot segment');
  });

  const refused: Array<[string, string]> = [
    ['empty', ''],
    ['just a slash', '/'],
    ['relative', 'v1/models'],
    ['absolute URL', 'http://x/v1/models'],
    ['absolute URL after the slash', '/http://x/v1/models'],
    ['scheme-relative', '//x/v1/models'],
    ['dot-dot', '/v1/../admin'],
    ['trailing dot-dot', '/v1/models/..'],
    ['dot', '/v1/./models'],
    ['encoded dot-dot', '/v1/%2e%2e/admin'],
    ['upper-case encoded dot-dot', '/v1/%2E%2E/admin'],
    ['mixed encoded dot-dot', '/v1/.%2e/admin'],
    ['mixed encoded dot-dot (2)', '/v1/%2E./admin'],
    ['encoded dot', '/v1/%2e/models'],
    ['encoded slash', '/v1/models%2f..%2fadmin'],
    ['upper-case encoded slash', '/v1/models%2F..%2Fadmin'],
    ['encoded backslash', '/v1/models%5c..%5cadmin'],
    ['upper-case encoded backslash', '/v1/models%5C..'],
    ['backslash', '/v1\\..\\admin'],
    ['empty segment', '/v1//models'],
    ['encoded NUL', '/v1/models%00'],
    ['control character', '/v1/models\x01'],
    ['DEL', '/v1/models\x7f'],
    ['space', '/v1/mod els'],
    ['tab', '/v1/models\t'],
    ['fragment', '/v1/models#x'],
    ['bad percent escape', '/v1/models%zz'],
    ['truncated percent escape', '/v1/models%2'],
    ['lone percent', '/v1/models%'],
  ];
  for (const [what, path] of refused) {
    test(`refuses ${what}: ${JSON.stringify(path)}`, () => assertInvalidPath(path));
  }
});

describe('parsePathRule', () => {
  test('parses method and segments; the method is optional and case-insensitive, a leading slash is dropped', () => {
    assert.deepEqual(parsePathRule('POST v1/chat/completions'), { method: 'POST', segments: ['v1', 'chat', 'completions'], source: 'POST v1/chat/completions' });
    assert.deepEqual(parsePathRule('get /v1/models/*'), { method: 'GET', segments: ['v1', 'models', '*'], source: 'get /v1/models/*' });
    assert.deepEqual(parsePathRule('  v1/batches/**  '), { method: null, segments: ['v1', 'batches', '**'], source: 'v1/batches/**' });
  });

  const bad: Array<[string, RegExp]> = [
    ['', /is not "\[METHOD \]path"/],
    ['GET v1/models extra', /is not "\[METHOD \]path"/],
    ['FETCH v1/models', /is not an HTTP method/],
    ['GET v1/**/models', /"\*\*" may only end a pattern/],
    ['GET v1/../admin', /segment "\.\." .* is not a plain path segment/],
    ['GET v1/./models', /segment "\." /],
    ['GET v1//models', /segment "" /],
    ['GET v1/%2e%2e', /segment "%2e%2e" /],
    ['GET v1/a\\b', /is not a plain path segment/],
    ['GET v1/mod*els', /is not a plain path segment/],
  ];
  for (const [text, reason] of bad) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      const r = parsePathRule(text);
      assert.ok('error' in r, `expected an error for ${text}`);
      assert.match(r.error, reason);
    });
  }

  test('rules() throws on a bad rule written in code', () => {
    assert.throws(() => rules('POST v1/messages', 'GET v1/../x'), /not a plain path segment/);
    assert.equal(rules('POST v1/messages', 'GET v1/models').length, 2);
  });
});

describe('OpenAI transparent routes', () => {
  const list = openai.transparentRules;
  const yes: Array<[string, string]> = [
    ['POST', '/v1/chat/completions'],
    ['POST', '/v1/completions'],
    ['POST', '/v1/embeddings'],
    ['GET', '/v1/models'],
    ['HEAD', '/v1/models'],
    ['GET', '/v1/models/gpt-4o'],
    ['GET', '/v1/models/ft:gpt-4o-mini:org:custom:abc123'],
    ['POST', '/v1/responses'],
    ['GET', '/v1/responses/resp_123'],
    ['GET', '/v1/responses/resp_123/input_items'],
    ['POST', '/v1/responses/resp_123/cancel'],
  ];
  for (const [method, path] of yes) {
    test(`allows ${method} ${path}`, () => assert.equal(allowed(list, method, path), true));
  }

  const no: Array<[string, string, string]> = [
    ['GET', '/v1/chat/completions', 'wrong method'],
    ['DELETE', '/v1/models/gpt-4o', 'deleting a fine-tuned model is admin'],
    ['POST', '/v1/models', 'wrong method'],
    ['GET', '/v1/files', 'files are not inference'],
    ['POST', '/v1/files', 'files are not inference'],
    ['GET', '/v1/files/file-abc/content', 'files are not inference'],
    ['GET', '/v1/organization/users', 'admin API'],
    ['POST', '/v1/organization/admin_api_keys', 'admin API'],
    ['GET', '/v1/organization/usage/completions', 'admin API'],
    ['POST', '/v1/fine_tuning/jobs', 'fine-tuning'],
    ['POST', '/v1/batches', 'batches'],
    ['POST', '/v1/assistants', 'assistants'],
    ['DELETE', '/v1/responses/resp_123', 'deleting a stored response'],
    ['GET', '/v1/models/', 'empty model id'],
    ['GET', '/v1/models/a/b', 'one segment only'],
    ['POST', '/v1/chat/completions/extra', 'longer than the rule'],
    ['POST', '/v1/chat', 'shorter than the rule'],
    ['POST', '/V1/chat/completions', 'case-sensitive'],
    ['POST', '/v2/chat/completions', 'other version'],
    ['POST', '/v1/chat/complet%69ons', 'an encoded spelling of an allowed route is not widened'],
    ['POST', '/v1/chat%2fcompletions', 'encoded slash'],
    ['POST', '/v1/x/../chat/completions', 'dot segment'],
    ['POST', '/v1/x/%2e%2e/chat/completions', 'encoded dot segment'],
    ['POST', '/v1/x/%2E%2E/chat/completions', 'encoded dot segment'],
    ['POST', '/v1//chat/completions', 'empty segment'],
    ['GET', '/v1/models/..%5c..%5corganization', 'encoded backslash'],
    ['POST', 'http://x/v1/chat/completions', 'absolute URL'],
  ];
  for (const [method, path, why] of no) {
    test(`refuses ${method} ${path} (${why})`, () => assert.equal(allowed(list, method, path), false));
  }
});

describe('Anthropic transparent routes', () => {
  const list = anthropic.transparentRules;
  for (const [method, path] of [
    ['POST', '/v1/messages'],
    ['POST', '/v1/messages/count_tokens'],
    ['GET', '/v1/models'],
    ['GET', '/v1/models/claude-sonnet-4-20250514'],
  ] as const) {
    test(`allows ${method} ${path}`, () => assert.equal(allowed(list, method, path), true));
  }
  for (const [method, path] of [
    ['GET', '/v1/messages'],
    ['POST', '/v1/messages/batches'],
    ['GET', '/v1/messages/batches/msgbatch_1/results'],
    ['POST', '/v1/complete'],
    ['POST', '/v1/files'],
    ['GET', '/v1/organizations/api_keys'],
    ['POST', '/v1/organizations/invites'],
    ['POST', '/v1/chat/completions'],
    ['POST', '/v1/messages/%2e%2e/organizations/api_keys'],
  ] as const) {
    test(`refuses ${method} ${path}`, () => assert.equal(allowed(list, method, path), false));
  }
});

describe('extended allow_paths', () => {
  const list = [...openai.transparentRules, ...rules('GET v1/files', 'GET v1/files/*', 'v1/batches/*', 'GET v1/vector_stores/**')];

  test('an added route is allowed, with its method', () => {
    assert.equal(allowed(list, 'GET', '/v1/files'), true);
    assert.equal(allowed(list, 'HEAD', '/v1/files'), true, 'a GET rule admits HEAD');
    assert.equal(allowed(list, 'GET', '/v1/files/file-abc'), true);
    assert.equal(allowed(list, 'POST', '/v1/files'), false);
    assert.equal(allowed(list, 'DELETE', '/v1/files/file-abc'), false);
    assert.equal(allowed(list, 'GET', '/v1/files/file-abc/content'), false, '* is one segment');
  });

  test('a rule without a method allows every method', () => {
    for (const m of ['GET', 'POST', 'DELETE']) assert.equal(allowed(list, m, '/v1/batches/batch_1'), true, m);
    assert.equal(allowed(list, 'POST', '/v1/batches'), false);
  });

  test('** matches one or more remaining segments, none of them empty', () => {
    assert.equal(allowed(list, 'GET', '/v1/vector_stores/vs_1'), true);
    assert.equal(allowed(list, 'GET', '/v1/vector_stores/vs_1/files/file_2'), true);
    assert.equal(allowed(list, 'GET', '/v1/vector_stores'), false);
    assert.equal(allowed(list, 'GET', '/v1/vector_stores/'), false);
    assert.equal(allowed(list, 'GET', '/v1/vector_stores/vs_1/'), false);
  });

  test('added routes never open unsafe paths', () => {
    assert.equal(allowed(list, 'GET', '/v1/vector_stores/../../organization/users'), false);
    assert.equal(allowed(list, 'GET', '/v1/vector_stores/%2e%2e/%2e%2e/organization/users'), false);
    assert.equal(allowed(list, 'GET', '/v1/files/..%2forganization'), false);
  });

  test('the inference routes still work and admin routes stay closed', () => {
    assert.equal(allowed(list, 'POST', '/v1/chat/completions'), true);
    assert.equal(allowed(list, 'GET', '/v1/organization/users'), false);
  });

  test('matchPathRule returns the first matching rule', () => {
    const r = matchPathRule(list, 'GET', ['v1', 'files', 'f1']);
    assert.equal(r?.source, 'GET v1/files/*');
    assert.equal(matchPathRule(list, 'GET', ['v1', 'nothing']), undefined);
  });
});
