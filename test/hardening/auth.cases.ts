import { generateKey } from '../../src/clientauth/api-key/format.js';
import { JSON_HEADERS, chat, type Expect, type HttpCase, type RequestSpec } from './support.js';

/**
 * Authentication cases: every accepted credential header, missing, malformed, wrong, revoked and
 * expired; Basic with odd encodings; TOTP codes that are missing or wrong; credentials in the
 * query. Each credential variant is tried on every route family (transparent GET and POST,
 * protocol per instance and /v1, the admin API). Refused requests reach nothing upstream.
 */

/** What the auth category makes in `before` (filled at run time; the tables read it lazily). */
export interface AuthWorld {
  key: string;
  keyId: string;
  revoked: string;
  expired: string;
  /** A key whose TOTP enrolment is required, and its base32 secret. */
  totpKey: string;
  totpSecret: string;
  /** Another TOTP-required key, used once with a correct code. */
  totpOkKey: string;
  totpOkSecret: string;
  user: string;
  password: string;
  /** The code an authenticator shows now for a secret. */
  codeFor(secret: string): string;
  /** A six-digit code none of the accepted steps shows for a secret. */
  wrongCodeFor(secret: string): string;
}

interface Route {
  name: string;
  method: string;
  path: string;
  body?: string;
  /** What a valid developer credential gets here. */
  ok: Expect;
}

const UP_OK: Expect = { status: 200, forwarded: 1 };
const ROUTES: Route[] = [
  { name: 'transparent GET', method: 'GET', path: '/transparent/oai/v1/models', ok: UP_OK },
  { name: 'transparent POST', method: 'POST', path: '/transparent/claude/v1/messages', body: chat('claude-sonnet-4-5'), ok: UP_OK },
  { name: 'protocol instance', method: 'POST', path: '/openai/oai/chat/completions', body: chat('gpt-4o'), ok: UP_OK },
  { name: 'protocol v1', method: 'POST', path: '/v1/chat/completions', body: chat('alias-claude'), ok: UP_OK },
  { name: 'admin API', method: 'GET', path: '/admin/v1/keys', ok: { status: 403, code: 'permission_denied', forwarded: 0 } },
];

const basic = (text: string, encoding: BufferEncoding = 'utf8') => `Basic ${Buffer.from(text, encoding).toString('base64')}`;
const flipLast = (key: string) => key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');

type Headers = Record<string, string>;
const UNAUTHORIZED: Expect = { status: 401, code: 'unauthorized', forwarded: 0 };
const TOTP_REQUIRED: Expect = { status: 401, code: 'totp_required', forwarded: 0 };
const QUERY_KEY: Expect = { status: 400, code: 'invalid_request', forwarded: 0 };

/** Credential variants that must all be refused: [name, headers, expectation, query]. */
function refusals(w: () => AuthWorld): Array<[string, () => Headers, Expect, (() => string)?]> {
  return [
    ['no credential', () => ({}), UNAUTHORIZED],
    ['empty Bearer', () => ({ authorization: 'Bearer ' }), UNAUTHORIZED],
    ['Bearer garbage', () => ({ authorization: 'Bearer not-a-gateway-key' }), UNAUTHORIZED],
    ['Bearer prefix only', () => ({ authorization: 'Bearer llmp_' }), UNAUTHORIZED],
    ['key with a bad checksum', () => ({ authorization: `Bearer ${flipLast(w().key)}` }), UNAUTHORIZED],
    ['truncated key', () => ({ authorization: `Bearer ${w().key.slice(0, -1)}` }), UNAUTHORIZED],
    ['key with a suffix', () => ({ authorization: `Bearer ${w().key}0` }), UNAUTHORIZED],
    ['well-formed key with an unknown id', () => ({ authorization: `Bearer ${generateKey().key}` }), UNAUTHORIZED],
    ['known id with a wrong secret', () => ({ authorization: `Bearer ${generateKey(w().keyId).key}` }), UNAUTHORIZED],
    ['lower-case scheme, wrong key', () => ({ authorization: `bearer ${generateKey(w().keyId).key}` }), UNAUTHORIZED],
    ['Token scheme with a valid key', () => ({ authorization: `Token ${w().key}` }), UNAUTHORIZED],
    ['valid key without a scheme', () => ({ authorization: w().key }), UNAUTHORIZED],
    ['key split by a tab', () => ({ authorization: `Bearer ${w().key.slice(0, 12)}\t${w().key.slice(12)}` }), UNAUTHORIZED],
    ['X-API-Key wrong', () => ({ 'X-API-Key': generateKey(w().keyId).key }), UNAUTHORIZED],
    ['x-api-key truncated', () => ({ 'x-api-key': w().key.slice(0, 30) }), UNAUTHORIZED],
    ['api-key wrong', () => ({ 'api-key': 'azure-style-wrong-key' }), UNAUTHORIZED],
    ['x-goog-api-key wrong', () => ({ 'x-goog-api-key': generateKey().key }), UNAUTHORIZED],
    ['revoked key', () => ({ authorization: `Bearer ${w().revoked}` }), UNAUTHORIZED],
    ['expired key', () => ({ authorization: `Bearer ${w().expired}` }), UNAUTHORIZED],
    ['Basic wrong password', () => ({ authorization: basic(`${w().user}:wrong-password-000`) }), UNAUTHORIZED],
    ['Basic unknown user', () => ({ authorization: basic(`nobody-here:${w().password}`) }), UNAUTHORIZED],
    ['Basic without a colon', () => ({ authorization: basic(`${w().user}${w().password}`) }), UNAUTHORIZED],
    ['Basic not base64', () => ({ authorization: 'Basic !!!not*base64!!!' }), UNAUTHORIZED],
    ['Basic empty', () => ({ authorization: 'Basic ' }), UNAUTHORIZED],
    ['Basic password in latin-1', () => ({ authorization: basic(`${w().user}:${w().password}`, 'latin1') }), UNAUTHORIZED],
    ['Basic in the base64url alphabet', () => ({ authorization: `Basic ${Buffer.from(`${w().user}:${w().password}??>>`).toString('base64url')}` }), UNAUTHORIZED],
    ['Basic with an extra colon part', () => ({ authorization: basic(`${w().user}:${w().password}:extra`) }), UNAUTHORIZED],
    ['Basic empty password', () => ({ authorization: basic(`${w().user}:`) }), UNAUTHORIZED],
    ['Basic with the API key as password', () => ({ authorization: basic(`${w().user}:${w().key}`) }), UNAUTHORIZED],
    ['TOTP-required key without a code', () => ({ authorization: `Bearer ${w().totpKey}` }), TOTP_REQUIRED],
    ['TOTP-required key with a blank code', () => ({ authorization: `Bearer ${w().totpKey}`, 'x-totp-code': '  ' }), TOTP_REQUIRED],
    ['TOTP-required key with a wrong code', () => ({ authorization: `Bearer ${w().totpKey}`, 'x-totp-code': w().wrongCodeFor(w().totpSecret) }), UNAUTHORIZED],
    ['TOTP code of letters', () => ({ authorization: `Bearer ${w().totpKey}`, 'x-totp-code': 'abcdef' }), UNAUTHORIZED],
    ['TOTP code of 65 digits', () => ({ authorization: `Bearer ${w().totpKey}`, 'x-totp-code': '1'.repeat(65) }), UNAUTHORIZED],
    ['wrong key with a valid TOTP code', () => ({ authorization: `Bearer ${generateKey(w().keyId).key}`, 'x-totp-code': w().codeFor(w().totpSecret) }), UNAUTHORIZED],
    // A gateway key in the URL is refused outright (spec item 5), credential or not.
    ['key only in ?key=', () => ({}), QUERY_KEY, () => `?key=${w().key}`],
    ['key only in ?api_key=', () => ({}), QUERY_KEY, () => `?api_key=${w().key}`],
  ];
}

/** Credential variants a developer is let through with. */
function acceptances(w: () => AuthWorld): Array<[string, () => Headers]> {
  return [
    ['valid Bearer', () => ({ authorization: `Bearer ${w().key}` })],
    ['valid key, upper-case BEARER scheme', () => ({ authorization: `BEARER ${w().key}` })],
    ['valid X-API-Key', () => ({ 'x-api-key': w().key })],
    ['valid api-key', () => ({ 'api-key': w().key })],
    ['valid x-goog-api-key', () => ({ 'x-goog-api-key': w().key })],
    ['valid Basic', () => ({ authorization: basic(`${w().user}:${w().password}`) })],
    ['valid Basic, lower-case scheme', () => ({ authorization: basic(`${w().user}:${w().password}`).replace('Basic', 'basic') })],
    ['valid key with an unneeded TOTP code', () => ({ authorization: `Bearer ${w().key}`, 'x-totp-code': '123456' })],
    [
      'valid key plus junk in every other credential header',
      () => ({ authorization: `Bearer ${w().key}`, 'x-api-key': 'junk-1', 'api-key': 'junk-2', 'x-goog-api-key': 'junk-3', 'proxy-authorization': 'Basic junk', cookie: 'session=junk' }),
    ],
  ];
}

function spec(route: Route, headers: Headers, query = ''): RequestSpec {
  return { method: route.method, path: route.path + query, headers: { ...(route.body ? JSON_HEADERS : {}), ...headers }, ...(route.body ? { body: route.body } : {}) };
}

export function authCases(w: () => AuthWorld): HttpCase[] {
  const cases: HttpCase[] = [];
  for (const route of ROUTES) {
    for (const [name, headers, expect, query] of refusals(w)) {
      cases.push({ name: `${route.name}: ${name} → ${expect.status} ${expect.code}`, request: () => spec(route, headers(), query?.()), expect });
    }
    for (const [name, headers] of acceptances(w)) {
      cases.push({ name: `${route.name}: ${name} → ${route.ok.status}`, request: () => spec(route, headers()), expect: route.ok });
    }
  }
  const totpRoute = ROUTES[0]!;
  cases.push({
    name: `${totpRoute.name}: TOTP-required key with the current code → 200, no x-totp-code upstream`,
    request: () => spec(totpRoute, { authorization: `Bearer ${w().totpOkKey}`, 'x-totp-code': w().codeFor(w().totpOkSecret) }),
    expect: UP_OK,
  });
  return cases;
}
