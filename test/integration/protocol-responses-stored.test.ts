import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { responseOwner } from '../../src/request/response-owner.js';
import type { ResponseJson, StoredItem } from '../../src/store/response-types.js';
import { inputItems, type ResponsesRequest } from '../../src/protocol/responses/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** A request's input as the Responses route stores it. */
const storedInputItems = (input: string | unknown[]): StoredItem[] => inputItems({ model: 'm', input } as ResponsesRequest) as unknown as StoredItem[];

process.env['STORED_RESPONSES_TEST_KEY'] = 'sk-stored-responses-test-0123456789';

/** No provider is called here: the instance only has to exist. */
const config = (extra: Record<string, unknown> = {}) => ({
  instances: { oai: { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:STORED_RESPONSES_TEST_KEY}' } } },
  ...extra,
});

let n = 0;
function responseJson(id: string, previousId: string | null, text: string): ResponseJson {
  return {
    id,
    object: 'response',
    created_at: 1_765_000_000,
    status: 'completed',
    model: 'gpt-4o-mini',
    previous_response_id: previousId,
    output: [{ id: `msg_out${++n}`, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }],
    usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    store: true,
  };
}

interface Raw {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function raw(gw: TestGateway, method: string, path: string, key?: string): Promise<Raw> {
  const res = await fetch(gw.url + path, { method, headers: key === undefined ? {} : { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('stored responses: GET/DELETE /v1/responses/{id} and input_items, visible only to their owner', () => {
  let gw: TestGateway;
  const keys: Record<'a' | 'b' | 'carol1' | 'carol2' | 'viewer', { key: string; id: string }> = {} as never;
  const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  /** Key A's two-turn conversation. */
  let first: ResponseJson;
  let second: ResponseJson;
  let firstInput: StoredItem[];
  let secondInput: StoredItem[];

  async function keep(owner: string, id: string, previousId: string | null, input: StoredItem[], text: string): Promise<ResponseJson> {
    const response = responseJson(id, previousId, text);
    assert.equal(await gw.app.responses.keep({ id, owner, instance: 'oai', model: 'gpt-4o-mini', previousId, input, response }), true);
    return response;
  }

  before(async () => {
    gw = await startGateway(config());
    keys.a = await gw.issued({ name: 'a' });
    keys.b = await gw.issued({ name: 'b' });
    keys.carol1 = await gw.issued({ name: 'carol-laptop', user: 'carol' });
    keys.carol2 = await gw.issued({ name: 'carol-ci', user: 'carol' });
    keys.viewer = await gw.issued({ name: 'v', role: 'viewer' });
    const ownerA = responseOwner({ id: keys.a.id, keyId: keys.a.id, user: null });
    firstInput = storedInputItems('Name three colours.');
    secondInput = storedInputItems([{ role: 'user', content: 'And three more?' }, { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Be brief.' }] }]);
    first = await keep(ownerA, 'resp_a1', null, firstInput, 'red, green, blue');
    second = await keep(ownerA, 'resp_a2', 'resp_a1', secondInput, 'cyan, magenta, yellow');
  });
  after(async () => {
    await gw.close();
  });

  test('the owner retrieves the Response object as stored, through the OpenAI SDK', async () => {
    const r = await raw(gw, 'GET', '/v1/responses/resp_a2', keys.a.key);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, second);
    // The SDK reads it as a Response (and adds its output_text convenience).
    const got = await client(keys.a.key).responses.retrieve('resp_a2');
    assert.equal(got.id, 'resp_a2');
    assert.equal(got.output_text, 'cyan, magenta, yellow');
  });

  test("another key gets the same 404 for A's response as for an id that never existed", async () => {
    const foreign = await raw(gw, 'GET', '/v1/responses/resp_a1', keys.b.key);
    const never = await raw(gw, 'GET', '/v1/responses/resp_never', keys.b.key);
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.body, { error: { message: "Response with id 'resp_a1' not found.", type: 'invalid_request_error', code: 'not_found', param: null } });
    assert.equal(never.status, 404);
    assert.deepEqual(never.body, { error: { message: "Response with id 'resp_never' not found.", type: 'invalid_request_error', code: 'not_found', param: null } });
    await assert.rejects(client(keys.b.key).responses.retrieve('resp_a1'), (err: unknown) => err instanceof OpenAI.NotFoundError);
    await assert.rejects(client(keys.b.key).responses.inputItems.list('resp_a1'), (err: unknown) => err instanceof OpenAI.NotFoundError);
    assert.equal((await raw(gw, 'DELETE', '/v1/responses/resp_a1', keys.b.key)).status, 404);
    // ...and the foreign DELETE removed nothing.
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_a1', keys.a.key)).status, 200);
  });

  test('input_items: the items used to generate the response, newest first by default, paged with after', async () => {
    const conversation = [...firstInput, ...(first.output as StoredItem[]), ...secondInput];
    const page = await raw(gw, 'GET', '/v1/responses/resp_a2/input_items?limit=2', keys.a.key);
    assert.equal(page.status, 200);
    const newest = [...conversation].reverse().slice(0, 2);
    assert.deepEqual(page.body, { object: 'list', data: newest, first_id: newest[0]!.id, last_id: newest[1]!.id, has_more: true });
    // The SDK's auto-pagination follows has_more with after=<last id>.
    const listed: unknown[] = [];
    for await (const item of client(keys.a.key).responses.inputItems.list('resp_a2', { limit: 2, order: 'asc' })) listed.push(JSON.parse(JSON.stringify(item)));
    assert.deepEqual(listed, conversation);
    // Stored input items have ids and OpenAI's message form.
    assert.match(String(firstInput[0]!.id), /^msg_[0-9a-f]{48}$/);
    assert.deepEqual({ ...firstInput[0], id: 'x' }, { id: 'x', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Name three colours.' }], status: 'completed' });
  });

  test('input_items query errors are 400s naming the parameter', async () => {
    for (const [query, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['limit=ten', 'limit'], ['order=sideways', 'order'], ['after=msg_unknown', 'after']] as const) {
      const r = await raw(gw, 'GET', `/v1/responses/resp_a2/input_items?${query}`, keys.a.key);
      assert.equal(r.status, 400, query);
      assert.equal((r.body['error'] as { param: string }).param, param, query);
      assert.equal((r.body['error'] as { code: string }).code, 'invalid_request', query);
    }
    const stream = await raw(gw, 'GET', '/v1/responses/resp_a2?stream=true', keys.a.key);
    assert.equal(stream.status, 400);
    assert.equal((stream.body['error'] as { param: string }).param, 'stream');
  });

  test('a response stored by one of a user’s keys is visible to the user’s other keys, not to other keys', async () => {
    await keep(responseOwner({ id: keys.carol1.id, keyId: keys.carol1.id, user: 'carol' }), 'resp_carol', null, storedInputItems('hi'), 'hello carol');
    assert.equal((await client(keys.carol2.key).responses.retrieve('resp_carol')).id, 'resp_carol');
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_carol', keys.a.key)).status, 404);
  });

  test('DELETE answers {id, object, deleted} once, then the response is gone; the deletion is audited', async () => {
    await keep(responseOwner({ id: keys.a.id, keyId: keys.a.id, user: null }), 'resp_del', null, storedInputItems('bye'), 'bye');
    const deleted = await raw(gw, 'DELETE', '/v1/responses/resp_del', keys.a.key);
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { id: 'resp_del', object: 'response', deleted: true });
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_del', keys.a.key)).status, 404);
    assert.equal((await raw(gw, 'DELETE', '/v1/responses/resp_del', keys.a.key)).status, 404);
    await gw.settle();
    const events = await gw.app.store.audit.query({ keyId: keys.a.id, limit: 100 });
    assert.ok(events.some((e) => e.httpMethod === 'DELETE' && e.path === '/v1/responses/resp_del' && e.result === 'success'), 'the DELETE is on the audit trail');
    // The SDK's delete resolves on the same answer.
    await keep(responseOwner({ id: keys.a.id, keyId: keys.a.id, user: null }), 'resp_del2', null, storedInputItems('bye'), 'bye');
    await client(keys.a.key).responses.delete('resp_del2');
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_del2', keys.a.key)).status, 404);
  });

  test('a viewer reads its own stored responses (llm:read) but may not delete them (llm:write)', async () => {
    await keep(responseOwner({ id: keys.viewer.id, keyId: keys.viewer.id, user: null }), 'resp_viewer', null, storedInputItems('look'), 'seen');
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_viewer', keys.viewer.key)).status, 200);
    const denied = await raw(gw, 'DELETE', '/v1/responses/resp_viewer', keys.viewer.key);
    assert.equal(denied.status, 403);
    assert.equal((denied.body['error'] as { code: string }).code, 'permission_denied');
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_viewer', keys.viewer.key)).status, 200);
  });

  test('without a credential: 401; other methods and paths: 405 with Allow', async () => {
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_a1')).status, 401);
    const post = await raw(gw, 'POST', '/v1/responses/resp_a1', keys.a.key);
    assert.equal(post.status, 405);
    const deleteItems = await raw(gw, 'DELETE', '/v1/responses/resp_a1/input_items', keys.a.key);
    assert.equal(deleteItems.status, 405);
    assert.equal(deleteItems.headers.get('allow'), 'GET');
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_a1/elsewhere', keys.a.key)).status, 404);
  });
});

describe('stored responses with responses.store: false', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(config({ responses: { store: false } }));
  });
  after(async () => {
    await gw.close();
  });

  test('nothing is kept and every read is 404', async () => {
    const { key, id } = await gw.issued({ name: 'a' });
    const owner = responseOwner({ id, keyId: id, user: null });
    const kept = await gw.app.responses.keep({ id: 'resp_x', owner, instance: 'oai', model: 'm', previousId: null, input: storedInputItems('x'), response: responseJson('resp_x', null, 'x') });
    assert.equal(kept, false);
    assert.equal(await gw.app.store.responses.get('resp_x', owner), undefined);
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_x', key)).status, 404);
    assert.equal((await raw(gw, 'GET', '/v1/responses/resp_x/input_items', key)).status, 404);
  });
});
