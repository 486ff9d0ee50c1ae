import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IbmIamEmulator } from '../../../test/emulators/ibm-iam.js';
import { SecretScrubber } from '../../observability/scrubber.js';
import { RefreshingCredential } from '../cache.js';
import { APIKEY_GRANT, CR_TOKEN_GRANT, IamError, IamTokenSource, readCrToken } from './iam.js';

const API_KEY = 'ibm-api-key-0123456789abcdefghijkl';
const CR_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.compute-resource-token';
const PROFILE = 'Profile-0123abcd-4567';

describe('IamTokenSource against the IAM emulator', () => {
  let iam: IbmIamEmulator;
  before(async () => {
    iam = await new IbmIamEmulator({ apiKeys: [API_KEY], profiles: { [PROFILE]: [CR_TOKEN] } }).start();
  });
  after(() => iam.close());
  const endpoint = () => ({ origin: iam.url, basePath: '' });
  const apiKey = (key: string, scrubber = new SecretScrubber()) => new IamTokenSource('api_key', endpoint(), { grantType: APIKEY_GRANT, params: async () => ({ apikey: key }) }, scrubber, () => 1_000_000);

  test('api key: the form IAM expects; the token, its expiry from expires_in, registered with the scrubber', async () => {
    iam.reset();
    iam.ttlSeconds = 120;
    const scrubber = new SecretScrubber();
    const source = apiKey(API_KEY, scrubber);
    const first = await source.fetch(AbortSignal.timeout(5000));
    assert.equal(first.type, 'bearer');
    assert.equal(first.expiresAt, 1_000_000 + 120_000);
    assert.equal(iam.last.path, '/identity/token');
    assert.match(String(iam.last.headers['content-type']), /^application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(iam.last.body.toString('utf8'));
    assert.equal(form.get('grant_type'), APIKEY_GRANT);
    assert.equal(form.get('apikey'), API_KEY);
    assert.equal(scrubber.scrub(`t=${first.token}`), 't=[REDACTED]');
    // The next token replaces the previous one in the scrubber.
    const second = await source.fetch(AbortSignal.timeout(5000));
    assert.notEqual(second.token, first.token);
    assert.ok(scrubber.scrub(first.token).includes(first.token), 'the old token is no longer scrubbed');
    assert.ok(!scrubber.scrub(second.token).includes(second.token));
  });

  test('an unknown API key: IAM\'s code and message, never the key', async () => {
    iam.reset();
    const wrong = 'wrong-key-abcdefghijklmnopqrstuvwxyz';
    await assert.rejects(apiKey(wrong).fetch(AbortSignal.timeout(5000)), (err: unknown) => {
      assert.ok(err instanceof IamError);
      assert.equal(err.code, 'BXNIM0415E');
      assert.match(err.message, /HTTP 400 BXNIM0415E/);
      assert.ok(!err.message.includes(wrong));
      return true;
    });
  });

  test('trusted profile: cr_token and profile_id; a token IAM does not trust is refused', async () => {
    iam.reset();
    const params = (cr: string) => async () => ({ cr_token: cr, profile_id: PROFILE });
    const ok = new IamTokenSource('trusted_profile', endpoint(), { grantType: CR_TOKEN_GRANT, params: params(CR_TOKEN) }, new SecretScrubber());
    assert.equal((await ok.fetch(AbortSignal.timeout(5000))).type, 'bearer');
    assert.equal(iam.exchanges.cr_token, 1);
    const bad = new IamTokenSource('trusted_profile', endpoint(), { grantType: CR_TOKEN_GRANT, params: params('other-token') }, new SecretScrubber());
    await assert.rejects(bad.fetch(AbortSignal.timeout(5000)), (err: unknown) => err instanceof IamError && err.code === 'BXNIM0463E' && !err.message.includes('other-token'));
  });

  test('IAM down (503, connection reset) is an IamError without the key', async () => {
    for (const mode of ['unavailable', 'reset'] as const) {
      iam.reset();
      iam.setDown(mode);
      await assert.rejects(apiKey(API_KEY).fetch(AbortSignal.timeout(5000)), (err: unknown) => err instanceof IamError && !err.message.includes(API_KEY));
    }
    iam.setDown(false);
  });

  test('the cache\'s abort signal stops a hanging exchange', async () => {
    iam.reset();
    iam.behaviour.firstByteDelayMs = 2000;
    const started = Date.now();
    await assert.rejects(apiKey(API_KEY).fetch(AbortSignal.timeout(100)), IamError);
    assert.ok(Date.now() - started < 1500);
    iam.reset();
  });

  test('under RefreshingCredential: concurrent callers share one exchange', async () => {
    iam.reset();
    iam.ttlSeconds = 3600;
    const cred = new RefreshingCredential(apiKey(API_KEY));
    const tokens = await Promise.all(Array.from({ length: 5 }, () => cred.get()));
    assert.equal(new Set(tokens.map((t) => t.token)).size, 1);
    assert.equal(iam.exchanges.api_key, 1);
    cred.close();
  });
});

describe('readCrToken', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-cr-'));
  test('re-read each time (the platform rotates it); the first default location that has one', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, `${CR_TOKEN}\n`);
    assert.equal(await readCrToken([file]), CR_TOKEN);
    writeFileSync(file, 'rotated');
    assert.equal(await readCrToken([file]), 'rotated');
    assert.equal(await readCrToken([join(dir, 'missing'), file]), 'rotated');
  });
  test('a missing file names the path and the errno, nothing else', async () => {
    await assert.rejects(readCrToken([join(dir, 'nope')]), /nope cannot be read \(ENOENT\)/);
    await assert.rejects(readCrToken([join(dir, 'a'), join(dir, 'b')]), /set cr_token_file/);
  });
});
