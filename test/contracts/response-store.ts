import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { ResponseJson, StoredItem, StoredResponse } from '../../src/store/response-types.js';
import type { Store } from '../../src/store/types.js';

/**
 * The contract every `ResponseStore` (`store.responses`: SQLite, PostgreSQL) must pass: the
 * semantics of src/store/response-types.ts as the stored-response routes and
 * `previous_response_id` rely on them. `open` must return a new, empty store each time.
 *
 * @example
 * responseStoreContract('sqlite', async () => openSqliteStore(':memory:'));
 */
export function responseStoreContract(name: string, open: () => Promise<Store>): void {
  async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
    const store = await open();
    try {
      await body(store);
    } finally {
      await store.close();
    }
  }

  const DAY = 86_400_000;
  let n = 0;
  const item = (type: string, extra: Record<string, unknown> = {}): StoredItem => ({ id: `${type === 'message' ? 'msg' : 'fc'}_${++n}`, type, ...extra });
  const userMessage = (text: string) => item('message', { role: 'user', content: [{ type: 'input_text', text }], status: 'completed' });
  const outputMessage = (text: string) => item('message', { role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] });

  /** A live turn (expires in a day) continuing `previousId`. */
  function turn(id: string, previousId: string | null, input: StoredItem[], output: StoredItem[], overrides: Partial<StoredResponse> = {}): StoredResponse {
    const now = Date.now();
    const response: ResponseJson = { id, object: 'response', created_at: Math.floor(now / 1000), status: 'completed', model: 'gpt-test', output, previous_response_id: previousId, usage: { input_tokens: 3, output_tokens: 5, total_tokens: 8 } };
    return { id, owner: 'key:a', createdAt: now, expiresAt: now + DAY, instance: 'oai', model: 'gpt-test', previousId, input, response, ...overrides };
  }

  /** Bytes a turn occupies for the history bound: its input items' JSON and its response's JSON, UTF-8. */
  const bytesOf = (t: StoredResponse) => Buffer.byteLength(JSON.stringify(t.input)) + Buffer.byteLength(JSON.stringify(t.response));

  /** Three turns of one conversation, owned by `key:a`. */
  async function conversation(store: Store) {
    const t1 = turn('resp_1', null, [userMessage('héllo ünïcode')], [outputMessage('hi')]);
    const t2 = turn('resp_2', 'resp_1', [userMessage('call a tool')], [item('function_call', { call_id: 'call_1', name: 'f', arguments: '{}' })]);
    const t3 = turn('resp_3', 'resp_2', [item('function_call_output', { call_id: 'call_1', output: '42' }), userMessage('and?')], [outputMessage('42 it is')]);
    for (const t of [t1, t2, t3]) await store.responses.put(t);
    return { t1, t2, t3 };
  }

  describe(`ResponseStore contract: ${name}`, () => {
    test('put then get returns the record as written', async () => {
      await withStore(async (store) => {
        const t = turn('resp_x', null, [userMessage('a')], [outputMessage('b')], { instance: 'claude', model: 'claude-x' });
        await store.responses.put(t);
        assert.deepEqual(await store.responses.get('resp_x', 'key:a'), t);
        assert.equal(await store.responses.get('resp_y', 'key:a'), undefined);
      });
    });

    test('an id is stored once: a second put with the same id fails and keeps the first', async () => {
      await withStore(async (store) => {
        const first = turn('resp_dup', null, [userMessage('first')], []);
        await store.responses.put(first);
        await assert.rejects(store.responses.put(turn('resp_dup', null, [userMessage('second')], [])));
        assert.deepEqual((await store.responses.get('resp_dup', 'key:a'))?.input, first.input);
      });
    });

    test("another owner sees nothing: get, delete, history and input items answer as for a missing id", async () => {
      await withStore(async (store) => {
        await conversation(store);
        assert.equal(await store.responses.get('resp_3', 'key:b'), undefined);
        assert.equal(await store.responses.get('resp_3', 'user:a'), undefined);
        assert.equal(await store.responses.delete('resp_3', 'key:b'), false);
        assert.deepEqual(await store.responses.history('resp_3', 'key:b'), { ok: false, reason: 'not_found', missingId: 'resp_3' });
        assert.equal(await store.responses.inputItems('resp_3', 'key:b'), undefined);
        // Nothing was deleted by the foreign delete.
        assert.equal((await store.responses.get('resp_3', 'key:a'))?.id, 'resp_3');
      });
    });

    test('delete removes the response once', async () => {
      await withStore(async (store) => {
        await conversation(store);
        assert.equal(await store.responses.delete('resp_2', 'key:a'), true);
        assert.equal(await store.responses.get('resp_2', 'key:a'), undefined);
        assert.equal(await store.responses.delete('resp_2', 'key:a'), false);
        assert.equal((await store.responses.get('resp_1', 'key:a'))?.id, 'resp_1');
      });
    });

    test('history: every turn oldest first, each its input items then its output items', async () => {
      await withStore(async (store) => {
        const { t1, t2, t3 } = await conversation(store);
        const expected = [...t1.input, ...(t1.response.output as StoredItem[]), ...t2.input, ...(t2.response.output as StoredItem[]), ...t3.input, ...(t3.response.output as StoredItem[])];
        assert.deepEqual(await store.responses.history('resp_3', 'key:a'), { ok: true, items: expected, turns: 3 });
        assert.deepEqual(await store.responses.history('resp_1', 'key:a'), { ok: true, items: [...t1.input, ...(t1.response.output as StoredItem[])], turns: 1 });
      });
    });

    test('history names the first link that is gone: unknown, deleted, expired or foreign', async () => {
      await withStore(async (store) => {
        await conversation(store);
        assert.deepEqual(await store.responses.history('resp_nope', 'key:a'), { ok: false, reason: 'not_found', missingId: 'resp_nope' });
        await store.responses.delete('resp_2', 'key:a');
        assert.deepEqual(await store.responses.history('resp_3', 'key:a'), { ok: false, reason: 'not_found', missingId: 'resp_2' });
        await store.responses.put(turn('resp_old', null, [userMessage('old')], [], { expiresAt: Date.now() - 1 }));
        await store.responses.put(turn('resp_next', 'resp_old', [userMessage('next')], []));
        assert.deepEqual(await store.responses.history('resp_next', 'key:a'), { ok: false, reason: 'not_found', missingId: 'resp_old' });
        await store.responses.put(turn('resp_b1', null, [userMessage('b')], [], { owner: 'key:b' }));
        await store.responses.put(turn('resp_a2', 'resp_b1', [userMessage('a continues b')], []));
        assert.deepEqual(await store.responses.history('resp_a2', 'key:a'), { ok: false, reason: 'not_found', missingId: 'resp_b1' });
      });
    });

    test('history is bounded by turns: the bound is reported, and a chain of exactly the bound passes', async () => {
      await withStore(async (store) => {
        const { t1, t2, t3 } = await conversation(store);
        assert.deepEqual(await store.responses.history('resp_3', 'key:a', { maxTurns: 2 }), { ok: false, reason: 'too_long', bound: 'turns', limit: 2 });
        const ok = await store.responses.history('resp_3', 'key:a', { maxTurns: 3 });
        assert.equal(ok.ok && ok.turns, 3);
        // A bound also holds for the links a caller asks beyond: the store's own cap is 1000 turns.
        const capped = await store.responses.history('resp_3', 'key:a', { maxTurns: 5000 });
        assert.equal(capped.ok && capped.items.length, t1.input.length + t2.input.length + t3.input.length + 3);
      });
    });

    test('history is bounded by UTF-8 bytes of the stored turns: exactly the total passes, one byte less does not', async () => {
      await withStore(async (store) => {
        const { t1, t2, t3 } = await conversation(store);
        const total = bytesOf(t1) + bytesOf(t2) + bytesOf(t3);
        assert.equal((await store.responses.history('resp_3', 'key:a', { maxBytes: total })).ok, true);
        assert.deepEqual(await store.responses.history('resp_3', 'key:a', { maxBytes: total - 1 }), { ok: false, reason: 'too_long', bound: 'bytes', limit: total - 1 });
        assert.deepEqual(await store.responses.history('resp_1', 'key:a', { maxBytes: bytesOf(t1) - 1 }), { ok: false, reason: 'too_long', bound: 'bytes', limit: bytesOf(t1) - 1 });
      });
    });

    test('a cycle of links ends at the turn bound instead of walking forever', async () => {
      await withStore(async (store) => {
        await store.responses.put(turn('resp_c1', 'resp_c2', [userMessage('1')], []));
        await store.responses.put(turn('resp_c2', 'resp_c1', [userMessage('2')], []));
        assert.deepEqual(await store.responses.history('resp_c1', 'key:a', { maxTurns: 10 }), { ok: false, reason: 'too_long', bound: 'turns', limit: 10 });
      });
    });

    test('input items: the conversation before the response and its own input, newest first by default, paged by after', async () => {
      await withStore(async (store) => {
        const { t1, t2, t3 } = await conversation(store);
        const asc = [...t1.input, ...(t1.response.output as StoredItem[]), ...t2.input, ...(t2.response.output as StoredItem[]), ...t3.input];
        const desc = [...asc].reverse();
        const all = await store.responses.inputItems('resp_3', 'key:a');
        assert.deepEqual(all, { object: 'list', data: desc, first_id: desc[0]!.id, last_id: desc[desc.length - 1]!.id, has_more: false });

        for (const [order, expected] of [['asc', asc], ['desc', desc]] as const) {
          const seen: StoredItem[] = [];
          let after: string | undefined;
          for (let page = 0; page < 10; page++) {
            const p = await store.responses.inputItems('resp_3', 'key:a', { order, limit: 2, ...(after === undefined ? {} : { after }) });
            assert.ok(p);
            assert.ok(p.data.length <= 2);
            assert.equal(p.first_id, p.data[0]?.id ?? null);
            assert.equal(p.last_id, p.data[p.data.length - 1]?.id ?? null);
            seen.push(...p.data);
            if (!p.has_more) break;
            after = p.last_id!;
          }
          assert.deepEqual(seen, expected, `${order} pages`);
        }
        // The first response has only its own input.
        assert.deepEqual((await store.responses.inputItems('resp_1', 'key:a', { order: 'asc' }))?.data, t1.input);
      });
    });

    test('input items: limit is clamped to 1..100, after must name a listed item', async () => {
      await withStore(async (store) => {
        const input = Array.from({ length: 120 }, (_, i) => userMessage(`m${i}`));
        await store.responses.put(turn('resp_big', null, input, []));
        assert.equal((await store.responses.inputItems('resp_big', 'key:a', { limit: 500 }))?.data.length, 100);
        assert.equal((await store.responses.inputItems('resp_big', 'key:a', { limit: 0 }))?.data.length, 1);
        assert.equal((await store.responses.inputItems('resp_big', 'key:a'))?.data.length, 20);
        const last = await store.responses.inputItems('resp_big', 'key:a', { order: 'asc', after: input[118]!.id });
        assert.deepEqual(last, { object: 'list', data: [input[119]], first_id: input[119]!.id, last_id: input[119]!.id, has_more: false });
        const empty = await store.responses.inputItems('resp_big', 'key:a', { order: 'asc', after: input[119]!.id });
        assert.deepEqual(empty, { object: 'list', data: [], first_id: null, last_id: null, has_more: false });
        await assert.rejects(store.responses.inputItems('resp_big', 'key:a', { after: 'msg_not_there' }), (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && err.param === 'after');
      });
    });

    test('input items list what remains when an earlier turn is gone', async () => {
      await withStore(async (store) => {
        const { t2, t3 } = await conversation(store);
        await store.responses.delete('resp_1', 'key:a');
        assert.deepEqual((await store.responses.inputItems('resp_3', 'key:a', { order: 'asc', limit: 100 }))?.data, [...t2.input, ...(t2.response.output as StoredItem[]), ...t3.input]);
      });
    });

    test("item: a stored response's input and output items by id, for their owner only", async () => {
      await withStore(async (store) => {
        const { t1, t2, t3 } = await conversation(store);
        const out1 = (t1.response.output as StoredItem[])[0]!;
        const call2 = (t2.response.output as StoredItem[])[0]!;
        assert.deepEqual(await store.responses.item(t1.input[0]!.id, 'key:a'), t1.input[0]);
        assert.deepEqual(await store.responses.item(out1.id, 'key:a'), out1);
        assert.deepEqual(await store.responses.item(t3.input[0]!.id, 'key:a'), t3.input[0]);
        assert.equal(await store.responses.item(out1.id, 'key:b'), undefined);
        assert.equal(await store.responses.item(out1.id, 'user:a'), undefined);
        assert.equal(await store.responses.item('msg_unknown', 'key:a'), undefined);
        const found = await store.responses.items([out1.id, call2.id, 'msg_unknown', out1.id], 'key:a');
        assert.deepEqual([...found.entries()].sort(([a], [b]) => a.localeCompare(b)), [[out1.id, out1], [call2.id, call2]].sort(([a], [b]) => String(a).localeCompare(String(b))));
        assert.equal((await store.responses.items([], 'key:a')).size, 0);
        await assert.rejects(store.responses.items(Array.from({ length: 1001 }, (_, i) => `msg_${i}`), 'key:a'), RangeError);
      });
    });

    test('item: gone with its response on delete; an item another response also holds stays, taken from the newest', async () => {
      await withStore(async (store) => {
        const { t1 } = await conversation(store);
        const out1 = (t1.response.output as StoredItem[])[0]!;
        // A later turn that sent the earlier answer back in full (same id, as resolved references are stored).
        const echoed = { ...out1, status: 'echoed' };
        await store.responses.put(turn('resp_echo', null, [echoed, userMessage('again')], [], { createdAt: t1.createdAt + 1 }));
        assert.deepEqual(await store.responses.item(out1.id, 'key:a'), echoed);
        assert.equal(await store.responses.delete('resp_echo', 'key:a'), true);
        assert.deepEqual(await store.responses.item(out1.id, 'key:a'), out1);
        assert.equal(await store.responses.delete('resp_1', 'key:a'), true);
        assert.equal(await store.responses.item(out1.id, 'key:a'), undefined);
        assert.equal(await store.responses.item(t1.input[0]!.id, 'key:a'), undefined);
      });
    });

    test('item: an expired response holds nothing before the sweep, and after it', async () => {
      await withStore(async (store) => {
        const now = Date.now();
        const gone = userMessage('expired');
        const live = userMessage('live');
        await store.responses.put(turn('resp_gone_items', null, [gone], [], { expiresAt: now - 1 }));
        await store.responses.put(turn('resp_live_items', null, [live], [], { expiresAt: now + DAY }));
        assert.equal(await store.responses.item(gone.id, 'key:a'), undefined);
        assert.equal(await store.responses.sweep(now), 1);
        assert.equal(await store.responses.item(gone.id, 'key:a'), undefined);
        // The same id stored again after the sweep resolves to the new response (no stale row left behind).
        await store.responses.put(turn('resp_again', null, [{ ...gone, status: 'again' }], []));
        assert.deepEqual(await store.responses.item(gone.id, 'key:a'), { ...gone, status: 'again' });
        assert.deepEqual(await store.responses.item(live.id, 'key:a'), live);
        assert.equal(await store.responses.sweep(now + 2 * DAY), 2);
        assert.equal(await store.responses.item(live.id, 'key:a'), undefined);
      });
    });

    test('an expired response is absent before the sweep; the sweep deletes exactly the expired ones', async () => {
      await withStore(async (store) => {
        const now = Date.now();
        await store.responses.put(turn('resp_gone', null, [userMessage('x')], [], { expiresAt: now - 1 }));
        await store.responses.put(turn('resp_live', null, [userMessage('y')], [], { expiresAt: now + DAY }));
        assert.equal(await store.responses.get('resp_gone', 'key:a'), undefined);
        assert.equal(await store.responses.delete('resp_gone', 'key:a'), false);
        assert.equal(await store.responses.inputItems('resp_gone', 'key:a'), undefined);
        assert.equal(await store.responses.sweep(now), 1);
        assert.equal(await store.responses.sweep(now), 0);
        assert.equal((await store.responses.get('resp_live', 'key:a'))?.id, 'resp_live');
        // At its expiry instant a response is swept (expires_at <= now).
        assert.equal(await store.responses.sweep(now + DAY), 1);
        assert.equal(await store.responses.get('resp_live', 'key:a'), undefined);
      });
    });
  });
}
