import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKey } from '../../src/clientauth/api-key/format.js';
import { hashPassword } from '../../src/clientauth/basic/password.js';
import { baseConfig, bearer, category, errorOf, rawHttp, requestBytes, type Arena, type RawAnswer } from './support.js';

/**
 * The failed-attempt throttle (spec item 8), on a gateway of its own (it locks addresses out):
 * `failed_attempts.limit: 5`, the test's loopback address a trusted proxy so X-Forwarded-For
 * names distinct clients. Attempts count when they start, so a burst of concurrent guesses gets
 * at most `limit` verdicts and 429 `too_many_auth_failures` (with Retry-After) for the rest; the
 * canonical form of an address decides its bucket.
 */

const LIMIT = 5;
const USER = 'throttle-bob';
const PASSWORD = 'throttle-password-0123456789';
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };

const wrongBasic = { authorization: `Basic ${Buffer.from(`${USER}:not-the-password`).toString('base64')}` };

function from(arena: Arena, address: string, headers: Record<string, string>): Promise<RawAnswer> {
  return rawHttp(arena.gw.port, requestBytes({ method: 'GET', path: '/transparent/oai/v1/models', headers: { ...headers, 'x-forwarded-for': address } })).then((a) => {
    arena.seen.push(a.raw);
    return a;
  });
}

function throttled(a: RawAnswer): void {
  assert.equal(a.status, 429, a.raw.toString('latin1').slice(0, 300));
  assert.equal(errorOf(a)?.code, 'too_many_auth_failures');
  assert.ok(Number(a.headers['retry-after']) >= 1, 'Retry-After');
}

/** `limit` wrong guesses from `first` (each 401), then one from `second`: throttled when they are the same client. */
async function sameClient(arena: Arena, first: string, second: string): Promise<void> {
  for (let i = 0; i < LIMIT; i++) assert.equal((await from(arena, first, wrongBasic)).status, 401, `guess ${i + 1} from ${first}`);
  throttled(await from(arena, second, bearer(arena.key)));
}

category(
  'failed-attempt throttle',
  (upstream) =>
    baseConfig(upstream, {
      server: { trusted_proxies: ['127.0.0.1'] },
      auth: {
        api_keys: { bootstrap_admin: false },
        failed_attempts: { limit: LIMIT, window: '1m', max_concurrent_per_client: 4, max_concurrent: 32 },
        basic: { enabled: true },
      },
    }),
  (arena) => {
    const a = () => arena();

    test(`30 concurrent wrong Basic guesses (distinct passwords) from one address → ${LIMIT} × 401, the excess 429 with Retry-After`, async () => {
      a().upstream.reset();
      const guess = (i: number) => ({ authorization: `Basic ${Buffer.from(`${USER}:guess-${i}`).toString('base64')}` });
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => from(a(), '10.0.0.1', guess(i))));
      const statuses = answers.map((x) => x.status);
      assert.equal(statuses.filter((s) => s === 401).length, LIMIT, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 30 - LIMIT, statuses.join(','));
      for (const x of answers.filter((y) => y.status === 429)) throttled(x);
      assert.equal(a().upstream.requests.length, 0);
    });

    test('the throttled address is refused even with a valid key, and nothing is forwarded', async () => {
      a().upstream.reset();
      throttled(await from(a(), '10.0.0.1', bearer(a().key)));
      assert.equal(a().upstream.requests.length, 0);
    });

    test('30 concurrent copies of one wrong Basic guess: each is 401 or 429, and together they count as at most a window of guesses', async () => {
      // Identical requests in flight share one password check (one slot, one hash), so how many
      // slots the burst takes depends on how its requests overlap: at least one, at most LIMIT.
      const answers = await Promise.all(Array.from({ length: 30 }, () => from(a(), '10.0.0.10', wrongBasic)));
      for (const x of answers) {
        if (x.status === 429) throttled(x);
        else assert.equal(x.status, 401);
      }
      assert.ok(answers.some((x) => x.status === 401));
      // The window is used up within LIMIT - 1 further distinct guesses.
      let accepted = 0;
      for (let i = 1; i <= LIMIT; i++) {
        const guess = { authorization: `Basic ${Buffer.from(`${USER}:wrong-${i}`).toString('base64')}` };
        const x = await from(a(), '10.0.0.10', guess);
        if (x.status === 429) {
          throttled(x);
          break;
        }
        assert.equal(x.status, 401);
        accepted++;
      }
      assert.ok(accepted <= LIMIT - 1, `${accepted} distinct guesses verified after the burst`);
    });

    test('another address is not locked out', async () => {
      assert.equal((await from(a(), '10.0.0.2', bearer(a().key))).status, 200);
    });

    test(`20 concurrent wrong API keys from one address → ${LIMIT} × 401, the excess 429`, async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => from(a(), '10.0.0.9', bearer(generateKey().key))));
      const statuses = answers.map((x) => x.status);
      assert.equal(statuses.filter((s) => s === 401).length, LIMIT, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 20 - LIMIT, statuses.join(','));
    });

    const pairs: Array<[string, string]> = [
      ['10.0.0.3', '::ffff:10.0.0.3'],
      ['::ffff:10.0.0.4', '10.0.0.4'],
      ['::FFFF:10.0.0.5', '10.0.0.5'],
      ['10.0.0.6', '::ffff:a00:6'],
      // IPv6 counts per /64: each pair has a /64 of its own.
      ['2001:db8:1::1', '2001:DB8:1::1'],
      ['2001:db8:2::7', '2001:0db8:0002:0000::7'],
      ['2001:db8:3:0:0:0:0:9', '2001:db8:3::9'],
    ];
    for (const [first, second] of pairs) {
      test(`${first} and ${second} are one client`, async () => {
        await sameClient(a(), first, second);
      });
    }
  },
  async (arena) => {
    arena.secrets.push(['Basic password', PASSWORD]);
    await arena.gw.app.store.identity.users.create({ name: USER, role: 'developer', passwordHash: await hashPassword(PASSWORD), scopes: { instances: null, models: null }, limits: NO_LIMITS });
  },
);
