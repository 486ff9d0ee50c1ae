import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { capturingLogger, manualClock } from '../governance/test-support.js';
import { responseOwner } from '../request/response-owner.js';
import type { ResponseStore } from './response-types.js';
import { openSqliteStore } from './sqlite/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import { StoredResponses, previousResponseError } from './stored-responses.js';

/** This turn's input items as the Responses route stores them (protocol/responses' inputItems). */
const storedInputItems = (text: string) => [{ id: 'msg_in', type: 'message', role: 'user', content: [{ type: 'input_text', text }], status: 'completed' }];

const DAY = 86_400_000;
const response = (id: string, text = 'ok') => ({ id, object: 'response', output: [{ id: 'msg_o', type: 'message', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }] });

describe('StoredResponses: the responses section over the store', () => {
  test('keep stores for responses.retention from the clock', async () => {
    const store = openSqliteStore(':memory:');
    const clock = manualClock(Date.now());
    const { logger } = capturingLogger();
    const responses = new StoredResponses(store.responses, { enabled: true, retentionMs: 30 * DAY, maxBytes: 1e6, logger, now: clock.now });
    assert.equal(await responses.keep({ id: 'resp_1', owner: 'key:a', instance: 'oai', model: 'm', previousId: null, input: storedInputItems('hi'), response: response('resp_1') }), true);
    const stored = await responses.get('resp_1', 'key:a');
    assert.equal(stored?.createdAt, clock.now());
    assert.equal(stored?.expiresAt, clock.now() + 30 * DAY);
    await store.close();
  });

  test('a response larger than max_size is answered but not stored, and the warning names its size, never its content', async () => {
    const store = openSqliteStore(':memory:');
    const { logger, lines } = capturingLogger();
    const input = storedInputItems('secret-ish text');
    const big = response('resp_big', 'x'.repeat(2000));
    const bytes = Buffer.byteLength(JSON.stringify(input)) + Buffer.byteLength(JSON.stringify(big));
    const responses = new StoredResponses(store.responses, { enabled: true, retentionMs: DAY, maxBytes: bytes - 1, logger });
    assert.equal(await responses.keep({ id: 'resp_big', owner: 'key:a', instance: 'oai', model: 'm', previousId: null, input, response: big }), false);
    assert.equal(await store.responses.get('resp_big', 'key:a'), undefined);
    logger.flush();
    const warning = lines.find((l) => l['msg'] === 'response not stored: larger than responses.max_size');
    assert.deepEqual([warning?.['response_id'], warning?.['bytes'], warning?.['limit']], ['resp_big', bytes, bytes - 1]);
    assert.ok(!JSON.stringify(lines).includes('secret-ish'), 'no content in the log');
    // Exactly at the limit it is stored.
    const atLimit = new StoredResponses(store.responses, { enabled: true, retentionMs: DAY, maxBytes: bytes, logger });
    assert.equal(await atLimit.keep({ id: 'resp_big', owner: 'key:a', instance: 'oai', model: 'm', previousId: null, input, response: big }), true);
    await store.close();
  });

  test('disabled: keep stores nothing; get, delete, history, input items and items find nothing even for rows already stored', async () => {
    const store = openSqliteStore(':memory:');
    const { logger } = capturingLogger();
    const now = Date.now();
    await store.responses.put({ id: 'resp_old', owner: 'key:a', createdAt: now, expiresAt: now + DAY, instance: 'oai', model: 'm', previousId: null, input: [], response: response('resp_old') });
    const responses = new StoredResponses(store.responses, { enabled: false, retentionMs: DAY, maxBytes: 1e6, logger });
    assert.equal(responses.enabled, false);
    assert.equal(await responses.keep({ id: 'resp_new', owner: 'key:a', instance: 'oai', model: 'm', previousId: null, input: [], response: response('resp_new') }), false);
    assert.equal(await store.responses.get('resp_new', 'key:a'), undefined);
    assert.equal(await responses.get('resp_old', 'key:a'), undefined);
    assert.equal(await responses.delete('resp_old', 'key:a'), false);
    assert.deepEqual(await responses.history('resp_old', 'key:a'), { ok: false, reason: 'not_found', missingId: 'resp_old' });
    assert.equal(await responses.inputItems('resp_old', 'key:a'), undefined);
    assert.equal((await store.responses.item('msg_o', 'key:a'))?.id, 'msg_o', 'the row is there');
    assert.equal(await responses.item('msg_o', 'key:a'), undefined);
    assert.equal((await responses.items(['msg_o'], 'key:a')).size, 0);
    await store.close();
  });

  test('sweep deletes what expired and logs a failing store instead of throwing', async () => {
    const store = openSqliteStore(':memory:');
    const clock = manualClock(Date.now());
    const { logger, lines } = capturingLogger();
    const responses = new StoredResponses(store.responses, { enabled: true, retentionMs: DAY, maxBytes: 1e6, logger, now: clock.now });
    await responses.keep({ id: 'resp_1', owner: 'key:a', instance: 'oai', model: 'm', previousId: null, input: [], response: response('resp_1') });
    clock.advance(DAY);
    await responses.sweep();
    assert.equal(await store.responses.get('resp_1', 'key:a'), undefined);
    const failing: ResponseStore = { ...store.responses, sweep: () => Promise.reject(new Error('disk on fire')) };
    await new StoredResponses(failing, { enabled: true, retentionMs: DAY, maxBytes: 1e6, logger }).sweep();
    logger.flush();
    assert.ok(lines.some((l) => l['msg'] === 'deleted stored responses past responses.retention' && l['removed'] === 1));
    assert.ok(lines.some((l) => l['msg'] === 'deleting expired stored responses failed' && l['error'] === 'disk on fire'));
    await store.close();
  });
});

describe('previousResponseError', () => {
  test('a 400 on previous_response_id for each way a history fails', () => {
    const cases = [
      [{ ok: false, reason: 'not_found', missingId: 'resp_1' }, "Previous response with id 'resp_1' not found."],
      [{ ok: false, reason: 'not_found', missingId: 'resp_0' }, /earlier turn .*'resp_0', was not found/],
      [{ ok: false, reason: 'too_long', bound: 'turns', limit: 1000 }, /longer than the gateway continues \(1000 turns\)/],
      [{ ok: false, reason: 'too_long', bound: 'bytes', limit: 64 * 1024 * 1024 }, /\(64 MB of stored conversation\)/],
    ] as const;
    for (const [failure, message] of cases) {
      const err = previousResponseError('resp_1', failure);
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'invalid_request');
      assert.equal(err.status, 400);
      assert.equal(err.param, 'previous_response_id');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
    }
  });
});

describe('responseOwner', () => {
  test('the user when there is one, else the key', () => {
    assert.equal(responseOwner({ id: 'k1', keyId: 'k1', user: null }), 'key:k1');
    assert.equal(responseOwner({ id: 'k2', keyId: 'k2', user: 'carol' }), 'user:carol');
    assert.equal(responseOwner({ id: 'user:carol', user: 'carol' }), 'user:carol');
    assert.equal(responseOwner({ id: 'oidc:https://idp#sub', user: 'dave@example.com' }), 'user:dave@example.com');
    // A key id never collides with a user of the same name.
    assert.notEqual(responseOwner({ id: 'carol', keyId: 'carol', user: null }), responseOwner({ id: 'x', user: 'carol' }));
  });
});
