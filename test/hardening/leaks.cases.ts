import assert from 'node:assert/strict';
import { generateKey } from '../../src/clientauth/api-key/format.js';
import { ANT_KEY, JSON_HEADERS, OAI_KEY, bearer, chat, type Expect, type HttpCase, type RawAnswer } from './support.js';

/**
 * Leak cases: gateway keys in the query string (refused, never forwarded), credential-like query
 * parameters (stripped before forwarding, the rest of the query unchanged), client credential
 * and gateway-control headers (never forwarded), and a client key pasted where the gateway
 * echoes input back (instance names, model names, native paths): it must not come back in the
 * response, nor land in a log line or an audit row.
 */

const QUERY_REFUSED: Expect = { status: 400, code: 'invalid_request', forwarded: 0 };

export function leakCases(key: () => string): HttpCase[] {
  const cases: HttpCase[] = [];
  const get = (path: string, headers: Record<string, string> = {}) => () => ({ method: 'GET', path, headers: { ...bearer(key()), ...headers } });
  const post = (path: string, body: string) => () => ({ method: 'POST', path, headers: { ...bearer(key()), ...JSON_HEADERS }, body });

  // Gateway keys in the query: refused wherever they appear.
  const queries: Array<[string, () => string]> = [
    ['?key=<the caller\'s key>', () => `?key=${key()}`],
    ['?api_key=<the caller\'s key>', () => `?api_key=${key()}`],
    ['?apikey=<another gateway key>', () => `?apikey=${generateKey().key}`],
    ['?q=<key> under an innocent name', () => `?limit=5&q=${key()}`],
    ['?q=prefix-<key>-suffix', () => `?q=prefix-${key()}-suffix`],
    ['?q=<key> percent-encoded', () => `?q=${key().replace('_', '%5F').replace('_', '%5f')}`],
  ];
  for (const [name, query] of queries) {
    cases.push({ name: `transparent GET ${name} → 400, not forwarded`, request: () => get(`/transparent/oai/v1/models${query()}`)(), expect: QUERY_REFUSED });
    cases.push({ name: `protocol POST ${name} → 400, not forwarded`, request: () => post(`/openai/oai/chat/completions${query()}`, chat('gpt-4o'))(), expect: QUERY_REFUSED });
  }
  cases.push({ name: '/v1 POST ?api_key=<key> → 400, not forwarded', request: () => post(`/v1/chat/completions?api_key=${key()}`, chat('alias-claude'))(), expect: QUERY_REFUSED });
  cases.push({ name: 'transparent anthropic POST ?key=<key> → 400, not forwarded', request: () => post(`/transparent/claude/v1/messages?key=${key()}`, chat('claude-sonnet-4-5'))(), expect: QUERY_REFUSED });

  // Credential-named parameters with other values are stripped; the rest goes as sent.
  const stripped: Array<[string, string]> = [
    ['?key=abc', ''],
    ['?api_key=abc', ''],
    ['?api-key=abc', ''],
    ['?apikey=abc', ''],
    ['?limit=5&key=sk-someone-else', 'limit=5'],
    ['?limit=5&key=a&after=x&api_key=b&apikey=c&api-key=d&order=asc', 'limit=5&after=x&order=asc'],
    ['?keyword=x&monkey=y&key_id=z', 'keyword=x&monkey=y&key_id=z'],
    ['?a=%20b&c=d%26e', 'a=%20b&c=d%26e'],
  ];
  for (const [query, forwarded] of stripped) {
    cases.push({
      name: `transparent GET ${query} → forwarded with query "${forwarded}"`,
      request: get(`/transparent/oai/v1/models${query}`),
      expect: { status: 200, forwarded: 1, check: (_a, up) => assert.equal(up[0]!.query, forwarded) },
    });
  }
  cases.push({
    name: 'transparent anthropic GET ?key=abc&limit=2 → forwarded with query "limit=2"',
    request: get('/transparent/claude/v1/models?key=abc&limit=2'),
    expect: { status: 200, forwarded: 1, check: (_a, up) => assert.equal(up[0]!.query, 'limit=2') },
  });

  // Headers that must never cross.
  const hostileHeaders = {
    'x-totp-code': '123456',
    'api-key': 'junk-azure',
    'x-goog-api-key': 'junk-google',
    'proxy-authorization': 'Basic anVuazpqdW5r',
    cookie: 'session=junk',
    'x-llmproxy-instance': 'claude',
    'x-llmproxy-anything': 'junk',
    forwarded: 'for=6.6.6.6',
    'x-forwarded-for': '6.6.6.6',
    'openai-organization': 'org-attacker',
    'openai-project': 'proj-attacker',
    connection: 'close, x-hop',
    'x-hop': 'hop-by-hop',
  };
  cases.push({
    name: 'openai instance: client credential, TOTP, cookie, gateway-control and hop-by-hop headers are not forwarded',
    request: get('/transparent/oai/v1/models', hostileHeaders),
    expect: {
      status: 200,
      forwarded: 1,
      check: (_a, up) => {
        const h = up[0]!.headers;
        assert.equal(h.authorization, `Bearer ${OAI_KEY}`);
        for (const name of Object.keys(hostileHeaders)) if (name !== 'connection') assert.equal(h[name], undefined, name);
      },
    },
  });
  cases.push({
    name: 'anthropic instance: a client key in x-api-key is replaced by the provider key, Authorization dropped',
    request: () => ({ method: 'POST', path: '/transparent/claude/v1/messages', headers: { 'x-api-key': key(), 'anthropic-version': '2023-06-01', ...JSON_HEADERS }, body: chat('claude-sonnet-4-5') }),
    expect: {
      status: 200,
      forwarded: 1,
      check: (_a, up) => {
        assert.equal(up[0]!.headers['x-api-key'], ANT_KEY);
        assert.equal(up[0]!.headers.authorization, undefined);
      },
    },
  });
  cases.push({
    name: 'protocol anthropic: Bearer client key becomes the provider x-api-key only',
    request: post('/openai/claude/chat/completions', chat('claude-sonnet-4-5')),
    expect: {
      status: 200,
      forwarded: 1,
      check: (_a, up) => {
        assert.equal(up[0]!.headers['x-api-key'], ANT_KEY);
        assert.equal(up[0]!.headers.authorization, undefined);
      },
    },
  });

  // A client key pasted where the gateway echoes input must not come back, nor be logged or audited.
  const noEcho = (status: number, code: string): Expect => ({
    status,
    code,
    forwarded: 0,
    check: (a: RawAnswer) => assert.ok(!a.raw.toString('latin1').includes(key().slice(18, 50)), 'the key is not echoed back'),
  });
  cases.push({ name: 'a key as the instance name → 404 unknown_instance, key not echoed', request: () => get(`/transparent/${key()}/v1/models`)(), expect: noEcho(404, 'unknown_instance') });
  cases.push({ name: 'a key as the protocol instance → 404 unknown_instance, key not echoed', request: () => post(`/openai/${key()}/chat/completions`, chat('gpt-4o'))(), expect: noEcho(404, 'unknown_instance') });
  cases.push({ name: 'a key as the /v1 model → 404 unknown_model, key not echoed', request: () => post('/v1/chat/completions', chat(key()))(), expect: noEcho(404, 'unknown_model') });
  cases.push({ name: 'a key as a native path segment → 403 path_not_allowed, key not echoed', request: () => get(`/transparent/oai/v1/${key()}`)(), expect: noEcho(403, 'path_not_allowed') });
  cases.push({ name: 'a key in a route that does not exist → 404 not_found, key not echoed', request: () => get(`/nowhere/${key()}`)(), expect: noEcho(404, 'not_found') });
  return cases;
}
