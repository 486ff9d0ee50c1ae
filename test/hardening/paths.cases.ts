import assert from 'node:assert/strict';
import { JSON_HEADERS, bearer, chat, type Expect, type HttpCase } from './support.js';

/**
 * Path cases: traversal in every spelling, encoded separators, absolute-form and asterisk
 * targets, very long paths, unknown instances and routes, native paths outside the provider's
 * allowlist (src/providers/transparent-path.ts: raw, never-decoded matching of literal segments).
 * Allowed paths are forwarded byte for byte, appended to the instance's base path.
 */

const INVALID_PATH: Expect = { status: 400, code: 'invalid_path', forwarded: 0 };
const NOT_ALLOWED: Expect = { status: 403, code: 'path_not_allowed', forwarded: 0 };

/** Native paths (after `/transparent/{instance}`) that could escape the base path. */
const ESCAPES = [
  '/v1/../../admin',
  '/v1/models/../../../etc/passwd',
  '/v1/%2e%2e/%2E%2E/admin',
  '/v1/.%2e/admin',
  '/v1/%2e./admin',
  '/v1/./models',
  '/v1/models/.',
  '/v1/models/..',
  '/v1%2fmodels',
  '/v1%2Fmodels',
  '/v1/models%2f..%2f..%2fadmin',
  '/v1//models',
  '//evil.example/v1/models',
  '/v1/models%5c..%5cadmin',
  '/v1\\models',
  '/v1/models%00',
  '/v1/models%zz',
  '/v1/models%',
  '/v1/models%2',
  '/v1/models/%2e%2e%2fadmin',
  '/v1/models/a#b',
  '/',
];

/** Allowed on no instance without `allow_paths` (openai-type instance `oai`). */
const OPENAI_DENIED: Array<[string, string]> = [
  ['GET', '/v1/files'],
  ['POST', '/v1/files'],
  ['GET', '/v1/organization/admin_api_keys'],
  ['POST', '/v1/organization/projects'],
  ['GET', '/v1/fine_tuning/jobs'],
  ['POST', '/v1/models'],
  ['DELETE', '/v1/models/gpt-4o'],
  ['DELETE', '/v1/responses/resp_1'],
  ['GET', '/v1/m%6fdels'],
  ['GET', '/v1/models/'],
  ['GET', '/V1/models'],
  ['GET', '/v1/chat/completions'],
  ['POST', '/v1/chat/completions/extra'],
  ['POST', '/v2/chat/completions'],
  ['PUT', '/v1/chat/completions'],
  ['GET', '/v1/models/gpt-4o/extra'],
  ['POST', '/v1/embeddings/x'],
  ['GET', '/v1/batches'],
];

/** The same for the anthropic-type instance `claude`. */
const ANTHROPIC_DENIED: Array<[string, string]> = [
  ['GET', '/v1/messages'],
  ['POST', '/v1/messages/batches'],
  ['POST', '/v1/complete'],
  ['GET', '/v1/organizations/me'],
  ['POST', '/v1/organizations/api_keys'],
  ['DELETE', '/v1/models/claude-sonnet-4-5'],
  ['POST', '/v1/messages/x/batches'],
];

export function pathCases(key: () => string): HttpCase[] {
  const cases: HttpCase[] = [];
  const get = (path: string) => () => ({ method: 'GET', path, headers: bearer(key()) });
  for (const instance of ['oai', 'claude']) {
    for (const native of ESCAPES) {
      cases.push({ name: `escape on ${instance}: GET ${JSON.stringify(native)} → 400 invalid_path`, request: get(`/transparent/${instance}${native}`), expect: INVALID_PATH });
    }
  }
  for (const [instance, denied] of [['oai', OPENAI_DENIED], ['claude', ANTHROPIC_DENIED]] as const) {
    for (const [method, native] of denied) {
      cases.push({
        name: `not allowed on ${instance}: ${method} ${native} → 403`,
        request: () => ({ method, path: `/transparent/${instance}${native}`, headers: { ...bearer(key()), ...JSON_HEADERS }, ...(method === 'GET' ? {} : { body: '{}' }) }),
        expect: NOT_ALLOWED,
      });
    }
  }
  // Targets that are not origin-form.
  for (const [target, method] of [
    ['http://evil.example/transparent/oai/v1/models', 'GET'],
    [`http://127.0.0.1/transparent/oai/v1/models`, 'GET'],
    ['https://evil.example:443/v1/chat/completions', 'POST'],
    ['*', 'OPTIONS'],
    ['*', 'GET'],
  ] as const) {
    cases.push({ name: `request target ${method} ${target} → 400 invalid_path`, request: () => ({ method, path: target, headers: bearer(key()) }), expect: INVALID_PATH });
  }
  cases.push({ name: 'request target without a leading slash → 400 from the HTTP parser', request: () => ({ method: 'GET', path: 'transparent/oai/v1/models', headers: bearer(key()) }), expect: { status: 400, forwarded: 0 } });
  // Unknown instances, routes and methods.
  const unknownInstance: Expect = { status: 404, code: 'unknown_instance', forwarded: 0 };
  for (const path of ['/transparent/nope/v1/models', '/transparent/OAI/v1/models', '/transparent/%6fai/v1/models', '/transparent/oai%2f..%2fclaude/v1/models', '/transparent/__proto__/v1/models', '/transparent/constructor/v1/models']) {
    cases.push({ name: `unknown instance: GET ${path} → 404`, request: get(path), expect: unknownInstance });
  }
  cases.push({ name: 'unknown instance without a credential → 401 (anonymous clients learn nothing)', request: { method: 'GET', path: '/transparent/nope/v1/models' }, expect: { status: 401, code: 'unauthorized', forwarded: 0 } });
  for (const instance of ['nope', '__proto__', 'toString']) {
    cases.push({
      name: `protocol on unknown instance ${instance} → 404 unknown_instance`,
      request: () => ({ method: 'POST', path: `/openai/${instance}/chat/completions`, headers: { ...bearer(key()), ...JSON_HEADERS }, body: chat('gpt-4o') }),
      expect: unknownInstance,
    });
  }
  for (const model of ['nope/gpt-4o', 'no-such-alias', '/gpt-4o', '__proto__', 'constructor', '../oai/gpt-4o']) {
    cases.push({
      name: `/v1 with model ${JSON.stringify(model)} → 404 unknown_model`,
      request: () => ({ method: 'POST', path: '/v1/chat/completions', headers: { ...bearer(key()), ...JSON_HEADERS }, body: chat(model) }),
      expect: { status: 404, code: 'unknown_model', forwarded: 0 },
    });
  }
  const notFound: Expect = { status: 404, code: 'not_found', forwarded: 0 };
  for (const path of ['/elsewhere', '/openai/oai/completions', '/openai/oai/chat/completions/', '/openai/oai//chat/completions', '/openai/oai', '/v1/chat/completions/x', '/transparentx/oai/v1/models', '/%74ransparent/oai/v1/models']) {
    cases.push({ name: `no such route: POST ${path} → 404`, request: () => ({ method: 'POST', path, headers: { ...bearer(key()), ...JSON_HEADERS }, body: chat('gpt-4o') }), expect: notFound });
  }
  for (const [method, path] of [['GET', '/v1/chat/completions'], ['DELETE', '/v1/chat/completions'], ['POST', '/health'], ['PUT', '/metrics']] as const) {
    cases.push({ name: `wrong method: ${method} ${path} → 405`, request: () => ({ method, path, headers: bearer(key()) }), expect: { status: 405, code: 'method_not_allowed', forwarded: 0 } });
  }
  // Very long paths: a long model id is a path like any other; beyond the header limit Node answers 431.
  cases.push({ name: 'long path (4 KB) outside the allowlist → 403', request: get(`/transparent/oai/v1/${'a'.repeat(4096)}`), expect: NOT_ALLOWED });
  cases.push({
    name: 'long model id (4 KB) on an allowed route → forwarded as sent',
    request: get(`/transparent/oai/v1/models/${'m'.repeat(4096)}`),
    expect: { status: 200, forwarded: 1, check: (_a, up) => assert.equal(up[0]!.path, `/openai/v1/models/${'m'.repeat(4096)}`) },
  });
  cases.push({ name: 'path beyond the header size limit (20 KB) → 431, not forwarded', request: get(`/transparent/oai/v1/models/${'m'.repeat(20_000)}`), expect: { status: 431, forwarded: 0 } });
  cases.push({ name: 'query beyond the header size limit (20 KB) → 431', request: get(`/transparent/oai/v1/models?q=${'q'.repeat(20_000)}`), expect: { status: 431, forwarded: 0 } });
  // Allowed paths go out exactly as sent, under the instance's base path.
  for (const [native, query] of [
    ['/v1/models', ''],
    ['/v1/models/gpt%20x', ''],
    ['/v1/models/gpt-4o:ft-acme', ''],
    ['/v1/models/%E2%82%AC', ''],
    ['/v1/models', '?limit=5&order=desc'],
    ['/v1/models', '?path=..%2f..%2fadmin'],
    ['/v1/models/a%2Eb', ''],
  ] as const) {
    cases.push({
      name: `allowed: GET /transparent/oai${native}${query} → forwarded verbatim`,
      request: get(`/transparent/oai${native}${query}`),
      expect: {
        status: 200,
        forwarded: 1,
        check: (_a, up) => {
          assert.equal(up[0]!.path, `/openai${native}`);
          assert.equal(up[0]!.query, query.slice(1));
        },
      },
    });
  }
  return cases;
}
