import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { UNAUTHORIZED_MESSAGE } from '../../src/errors/gateway-error.js';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-ant-provider-errors-0123456789abcdef';
const MESSAGE = { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };

/**
 * The gateway's own errors on `/transparent/{anthropic instance}` in Anthropic's error shape
 * (https://docs.claude.com/en/api/errors), read by the real Anthropic SDK: it raises the typed
 * error of the status, with the gateway's message as `apiMessage`, the Anthropic `type`, and the
 * request id from `request-id`.
 */
describe('transparent mode: the gateway\'s errors in Anthropic\'s shape, as the Anthropic SDK reads them', () => {
  let emu: AnthropicEmulator;
  let gw: TestGateway;
  let key: string;
  const sdk = (apiKey: string, instance = 'claude') => new Anthropic({ apiKey, baseURL: `${gw.url}/transparent/${instance}`, maxRetries: 0 });

  before(async () => {
    emu = await new AnthropicEmulator([PROVIDER_KEY]).start();
    process.env['ANTHROPIC_ERRORS_KEY'] = PROVIDER_KEY;
    gw = await startGateway({
      server: { body_limit: 4096 },
      instances: { claude: { type: 'anthropic', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:ANTHROPIC_ERRORS_KEY}' } } },
    });
    key = await gw.key({ name: 'anthropic-errors' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  /** The SDK's rejection of `call`, checked to be an APIError carrying no secret. */
  async function failure(call: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
    const err = await call.then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Anthropic.APIError, String(err));
    const body = JSON.stringify(err.error);
    assert.ok(!body.includes(PROVIDER_KEY) && !body.includes(key), 'no secret in the error');
    return err;
  }

  test('a wrong gateway key: AuthenticationError with the gateway\'s message, type and request id', async () => {
    emu.reset();
    for (const client of [sdk('llmp_wrong_key_0123456789'), sdk('llmp_wrong_key_0123456789', 'anthropic')]) {
      const err = await failure(client.messages.create(MESSAGE));
      assert.ok(err instanceof Anthropic.AuthenticationError, err.message);
      assert.equal(err.status, 401);
      assert.equal(err.type, 'authentication_error');
      assert.equal(err.apiMessage, UNAUTHORIZED_MESSAGE);
      assert.ok(err.message.includes(UNAUTHORIZED_MESSAGE));
      assert.ok(err.requestID && err.requestID === err.headers?.get('x-request-id'), `request id ${String(err.requestID)}`);
      assert.deepEqual(err.error, { type: 'error', error: { type: 'authentication_error', message: UNAUTHORIZED_MESSAGE, code: 'unauthorized' }, request_id: err.requestID });
    }
    // Streaming reads the same error before the first event.
    const err = await failure(sdk('llmp_wrong_key_0123456789').messages.stream(MESSAGE).finalMessage());
    assert.ok(err instanceof Anthropic.AuthenticationError);
    assert.equal(emu.requests.length, 0);
  });

  test('a key not scoped to the model: PermissionDeniedError naming it', async () => {
    emu.reset();
    const haikuOnly = await gw.key({ name: 'haiku-only', scopes: { instances: null, models: ['claude-haiku-*'] } });
    const err = await failure(sdk(haikuOnly).messages.create(MESSAGE));
    assert.ok(err instanceof Anthropic.PermissionDeniedError, err.message);
    assert.equal(err.type, 'permission_error');
    assert.equal(err.apiMessage, 'your key may not use model "claude-sonnet-4-5"');
    const count = await failure(sdk(haikuOnly).messages.countTokens({ model: 'claude-sonnet-4-5', messages: MESSAGE.messages }));
    assert.ok(count instanceof Anthropic.PermissionDeniedError);
    assert.equal(emu.requests.length, 0);
  });

  test('a path the instance does not allow, and a body over the limit: permission_error and request_too_large', async () => {
    emu.reset();
    const files = await fetch(`${gw.url}/transparent/claude/v1/files`, { headers: { 'x-api-key': key } });
    assert.equal(files.status, 403);
    assert.equal(files.headers.get('request-id'), files.headers.get('x-request-id'));
    const body = (await files.json()) as { type: string; error: { type: string; code: string } };
    assert.deepEqual([body.type, body.error.type, body.error.code], ['error', 'permission_error', 'path_not_allowed']);

    const err = await failure(sdk(key).messages.create({ ...MESSAGE, messages: [{ role: 'user', content: 'x'.repeat(8192) }] }));
    assert.equal(err.status, 413);
    assert.equal(err.type, 'request_too_large');
    assert.match(err.apiMessage ?? '', /exceeds the limit of 4096 bytes/);
    assert.equal(emu.requests.length, 0);
  });

  test('an unknown instance keeps OpenAI\'s shape (no provider is known)', async () => {
    const res = await fetch(`${gw.url}/transparent/nope/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(MESSAGE) });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { type?: string; error: { type: string; code: string } };
    assert.equal(body.type, undefined);
    assert.deepEqual([body.error.type, body.error.code], ['invalid_request_error', 'unknown_instance']);
  });
});
