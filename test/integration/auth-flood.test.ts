import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKey } from '../../src/clientauth/api-key/format.js';
import { hashPassword } from '../../src/clientauth/basic/password.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 11, defect 6: concurrent guesses were all verified with argon2 before any was counted.
// Guesses now reserve a failure slot before the slow check, so of a burst from one address
// exactly `limit` are verified and the rest are refused at once; slow checks in flight are
// capped per address first, then overall, so an honest client from another address is served
// while a flood runs.

const PROVIDER_KEY = 'sk-provider-flood-test-5c2e8d1f0a9b';
process.env['FLOOD_TEST_OPENAI_KEY'] = PROVIDER_KEY;
const LIMIT = 6;
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: string | null;
}

async function call(gw: TestGateway, from: string, authorization: string): Promise<Answer> {
  const res = await fetch(`${gw.url}/transparent/openai/v1/models`, {
    headers: { 'x-forwarded-for': from, authorization },
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  const code = res.status === 200 ? undefined : (JSON.parse(text) as { error: { code: string } }).error.code;
  return { status: res.status, code, retryAfter: res.headers.get('retry-after') };
}

/** `llmproxy_auth_attempts_total{method,result}` now. */
async function attempts(gw: TestGateway, method: string, result: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`llmproxy_auth_attempts_total{method="${method}",result="${result}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** How many answers have each status/code, e.g. `{ '401 unauthorized': 6, '429 too_many_auth_failures': 144 }`. */
function tally(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[`${a.status} ${a.code ?? ''}`.trim()] = (out[`${a.status} ${a.code ?? ''}`.trim()] ?? 0) + 1;
  return out;
}

/** Sends every request at once; resolves when all have answered. */
function burst(gw: TestGateway, requests: Array<[from: string, authorization: string]>): Promise<Answer[]> {
  return Promise.all(requests.map(([from, authorization]) => call(gw, from, authorization)));
}

/** Sends a flood from several addresses, then the honest request; reports how many flood answers were in when the honest one arrived. */
async function honestDuringFlood(gw: TestGateway, flood: Array<[string, string]>, honest: [string, string]) {
  let floodAnswered = 0;
  const floodDone = Promise.all(flood.map(([from, authorization]) => call(gw, from, authorization).then((a) => (floodAnswered++, a))));
  // Let the flood's requests reach the gateway first.
  await new Promise((r) => setImmediate(r));
  const answer = await call(gw, ...honest);
  const answeredBefore = floodAnswered;
  return { answer, answeredBefore, flood: await floodDone };
}

function assertThrottled(answers: Answer[]) {
  for (const a of answers.filter((x) => x.status === 429)) {
    assert.equal(a.code, 'too_many_auth_failures');
    const seconds = Number(a.retryAfter);
    assert.ok(seconds > 0 && seconds <= 60, `Retry-After ${a.retryAfter}`);
  }
}

describe('guess floods: counted when they start, capped while they run', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      instances: { openai: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${FLOOD_TEST_OPENAI_KEY}' } } },
      server: { trusted_proxies: ['127.0.0.1'] },
      auth: {
        basic: { enabled: true },
        // Small caps, so that a handful of attacker addresses fill the process's places.
        failed_attempts: { limit: LIMIT, window: '1m', max_concurrent_per_client: 1, max_concurrent: 2 },
      },
    });
    for (const name of ['alice', 'bob']) {
      await gw.app.store.identity.users.create({ name, role: 'developer', passwordHash: await hashPassword(`${name}-password-1234`), scopes: { instances: null, models: null }, limits: NO_LIMITS });
    }
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('150 concurrent Basic guesses from one address: exactly `limit` are verified, the rest get 429 at once', async () => {
    const before = { failure: await attempts(gw, 'basic', 'failure'), throttled: await attempts(gw, 'basic', 'throttled') };
    const guesses = Array.from({ length: 150 }, (_, i): [string, string] => ['203.0.113.7', i % 3 === 0 ? basic(`nobody-${i}`, 'whatever') : basic('alice', `guess-${i}`)]);
    const answers = await burst(gw, guesses);
    assert.deepEqual(tally(answers), { '401 unauthorized': LIMIT, '429 too_many_auth_failures': 150 - LIMIT });
    assertThrottled(answers);
    assert.equal((await attempts(gw, 'basic', 'failure')) - before.failure, LIMIT, 'verified');
    assert.equal((await attempts(gw, 'basic', 'throttled')) - before.throttled, 150 - LIMIT, 'refused without hashing');
    await gw.settle();
    const rows = (await gw.app.store.audit.query({ limit: 500 })).filter((r) => r.clientAddress === '203.0.113.7');
    assert.equal(rows.filter((r) => r.result === 'failure').length, LIMIT);
    assert.equal(rows.filter((r) => r.result === 'throttled' && r.reason === 'too_many_failures').length, 150 - LIMIT);
    // The address stays blocked for the window, even with the right password.
    assert.equal((await call(gw, '203.0.113.7', basic('alice', 'alice-password-1234'))).code, 'too_many_auth_failures');
  });

  test('150 concurrent API key guesses (unknown ids and wrong secrets) from one address: exactly `limit` are verified', async () => {
    const known = await gw.issued({ name: 'known' });
    const before = { failure: await attempts(gw, 'api_key', 'failure'), throttled: await attempts(gw, 'api_key', 'throttled') };
    const guesses = Array.from({ length: 150 }, (_, i): [string, string] => ['203.0.113.8', `Bearer ${(i % 2 === 0 ? generateKey() : generateKey(known.id)).key}`]);
    const answers = await burst(gw, guesses);
    assert.deepEqual(tally(answers), { '401 unauthorized': LIMIT, '429 too_many_auth_failures': 150 - LIMIT });
    assertThrottled(answers);
    assert.equal((await attempts(gw, 'api_key', 'failure')) - before.failure, LIMIT);
    assert.equal((await attempts(gw, 'api_key', 'throttled')) - before.throttled, 150 - LIMIT);
    await gw.settle();
    const failures = (await gw.app.store.audit.query({ result: 'failure', limit: 500 })).filter((r) => r.clientAddress === '203.0.113.8');
    assert.equal(failures.length, LIMIT);
    assert.ok(failures.every((r) => r.reason === 'unknown_key' || r.reason === 'bad_secret'));
  });

  test('every spelling of one address shares its bucket: a flood cannot spread over IPv4-mapped and IPv6 spellings', async () => {
    const spellings = ['192.0.2.77', '::ffff:192.0.2.77', '::FFFF:C000:024D', '0:0:0:0:0:ffff:192.0.2.77', '2001:db8:7:7::1', '2001:DB8:7:7::2', '2001:db8:7:7:0:0:0:3'];
    const guesses = Array.from({ length: 70 }, (_, i): [string, string] => [spellings[i % spellings.length]!, `Bearer ${generateKey().key}`]);
    const answers = await burst(gw, guesses);
    // Two clients (192.0.2.77 and 2001:db8:7:7::/64), `limit` verified guesses each.
    assert.deepEqual(tally(answers), { '401 unauthorized': 2 * LIMIT, '429 too_many_auth_failures': 70 - 2 * LIMIT });
    await gw.settle();
    const failures = (await gw.app.store.audit.query({ result: 'failure', limit: 500 })).filter((r) => r.reason === 'unknown_key');
    assert.equal(failures.filter((r) => r.clientAddress === '192.0.2.77').length, LIMIT, 'audited under the canonical address');
  });

  test('an honest Basic client from another address is served while guesses from several addresses fill the caps', async () => {
    const flood = Array.from({ length: 90 }, (_, i): [string, string] => [`198.51.100.${1 + (i % 3)}`, basic('alice', `flood-${i}`)]);
    const { answer, answeredBefore, flood: answers } = await honestDuringFlood(gw, flood, ['192.0.2.50', basic('bob', 'bob-password-1234')]);
    assert.deepEqual(answer, { status: 200, code: undefined, retryAfter: null });
    assert.ok(answeredBefore < flood.length, 'the honest client did not wait for the flood to end');
    assert.deepEqual(tally(answers), { '401 unauthorized': 3 * LIMIT, '429 too_many_auth_failures': 90 - 3 * LIMIT });
  });

  test('an honest API key client from another address is served while unknown-id and wrong-secret guesses fill the caps', async () => {
    const honest = await gw.issued({ name: 'honest' });
    const victim = await gw.issued({ name: 'victim' });
    const flood = Array.from({ length: 90 }, (_, i): [string, string] => [`198.51.100.${11 + (i % 3)}`, `Bearer ${(i % 2 === 0 ? generateKey() : generateKey(victim.id)).key}`]);
    const { answer, answeredBefore, flood: answers } = await honestDuringFlood(gw, flood, ['192.0.2.51', `Bearer ${honest.key}`]);
    assert.deepEqual(answer, { status: 200, code: undefined, retryAfter: null });
    assert.ok(answeredBefore < flood.length, 'the honest client did not wait for the flood to end');
    assert.deepEqual(tally(answers), { '401 unauthorized': 3 * LIMIT, '429 too_many_auth_failures': 90 - 3 * LIMIT });
  });

  test('successful logins never lock an address out; concurrent requests with one new key share one check', async () => {
    // Rounds of `limit` distinct new credentials at once, three times the limit in all.
    for (let round = 0; round < 3; round++) {
      const keys = await Promise.all(Array.from({ length: LIMIT }, (_, i) => gw.key({ name: `round ${round} key ${i}` })));
      assert.deepEqual(tally(await burst(gw, keys.map((k): [string, string] => ['192.0.2.60', `Bearer ${k}`]))), { '200': LIMIT });
    }
    // Twice the limit of first requests with the same new key: one check, no slot per request.
    const shared = await gw.key({ name: 'shared' });
    assert.deepEqual(tally(await burst(gw, Array.from({ length: 2 * LIMIT }, (): [string, string] => ['192.0.2.60', `Bearer ${shared}`]))), { '200': 2 * LIMIT });
    // A guess now is still a 401, not a 429: none of the successes counted.
    assert.equal((await call(gw, '192.0.2.60', `Bearer ${generateKey().key}`)).code, 'unauthorized');
  });
});
