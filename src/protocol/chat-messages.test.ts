import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { eachMessage, eachPart, type MessageHandlers, type MessageWalk } from './chat-messages.js';

/** Handlers that record what they were called with, and return `role@where`. */
function recording(withTool = true): { handlers: MessageHandlers<string>; calls: Array<[string, string, number, unknown]> } {
  const calls: Array<[string, string, number, unknown]> = [];
  const record = (role: string) => (msg: { content?: unknown; tool_call_id?: unknown }, where: string, i: number): string => {
    calls.push([role, where, i, role === 'tool' ? msg.tool_call_id : msg.content]);
    return `${role}@${where}`;
  };
  const handlers: MessageHandlers<string> = { system: record('system'), user: record('user'), assistant: record('assistant') };
  if (withTool) handlers.tool = record('tool');
  return { handlers, calls };
}

const WALK: MessageWalk = { unsupportedRole: (role, where) => `${where}.role ${JSON.stringify(role)} is not supported here` };

/** A 400 refusal with this message and param. */
const refused = (message: string, param: string) => (err: unknown) => {
  assert.ok(err instanceof GatewayError, String(err));
  assert.equal(err.code, 'invalid_request');
  assert.equal(err.message, message);
  assert.equal(err.param, param);
  return true;
};

describe('eachMessage', () => {
  test('calls each role’s handler in order with the message, its place and index, and returns their results', () => {
    const { handlers, calls } = recording();
    const out = eachMessage(
      [
        { role: 'system', content: 's' },
        { role: 'developer', content: 'd' },
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'a' },
        { role: 'tool', tool_call_id: 'call_1', content: 't' },
      ],
      handlers,
      WALK,
    );
    assert.deepEqual(out, ['system@messages[0]', 'system@messages[1]', 'user@messages[2]', 'assistant@messages[3]', 'tool@messages[4]']);
    assert.deepEqual(calls, [
      ['system', 'messages[0]', 0, 's'],
      ['system', 'messages[1]', 1, 'd'],
      ['user', 'messages[2]', 2, 'u'],
      ['assistant', 'messages[3]', 3, 'a'],
      ['tool', 'messages[4]', 4, 'call_1'],
    ]);
  });

  test('a message that is not an object is refused before any handler runs for it', () => {
    const { handlers, calls } = recording();
    assert.throws(() => eachMessage([{ role: 'user', content: 'u' }, 'hi'], handlers, WALK), refused('messages[1] must be an object', 'messages[1]'));
    assert.throws(() => eachMessage([null], handlers, WALK), refused('messages[0] must be an object', 'messages[0]'));
    assert.throws(() => eachMessage([[]], handlers, WALK), refused('messages[0] must be an object', 'messages[0]'));
    assert.deepEqual(calls.map((c) => c[0]), ['user']);
  });

  test('a tool message without a tool_call_id is refused, in the default or the translator’s wording', () => {
    const { handlers, calls } = recording();
    for (const tool_call_id of [undefined, null, '', 7]) {
      assert.throws(() => eachMessage([{ role: 'tool', content: 'x', tool_call_id }], handlers, WALK), refused('messages[0].tool_call_id is required', 'messages[0].tool_call_id'));
    }
    const worded: MessageWalk = { ...WALK, missingToolCallId: (where) => `${where}.tool_call_id is required for a tool message` };
    assert.throws(() => eachMessage([{ role: 'user' }, { role: 'tool' }], handlers, worded), refused('messages[1].tool_call_id is required for a tool message', 'messages[1].tool_call_id'));
    assert.deepEqual(calls.map((c) => c[0]), ['user']);
  });

  test('a role no handler takes is refused with the translator’s message; tool is one when there is no tool handler', () => {
    const { handlers } = recording(false);
    assert.throws(() => eachMessage([{ role: 'function', content: 'x' }], handlers, WALK), refused('messages[0].role "function" is not supported here', 'messages[0].role'));
    assert.throws(() => eachMessage([{ role: 'user' }, { role: 'tool', tool_call_id: 'c' }], handlers, WALK), refused('messages[1].role "tool" is not supported here', 'messages[1].role'));
    assert.throws(() => eachMessage([{ content: 'x' }], handlers, WALK), refused('messages[0].role undefined is not supported here', 'messages[0].role'));
  });

  test('droppedName is called once, at the first message with a name; null and absent names do not count', () => {
    const { handlers, calls } = recording();
    const seen: string[] = [];
    const walk: MessageWalk = { ...WALK, droppedName: () => seen.push(`name before ${calls.length} handler calls`) };
    eachMessage(
      [
        { role: 'system', content: 's', name: null },
        { role: 'user', content: 'u', name: 'ann' },
        { role: 'assistant', content: 'a', name: 'bot' },
      ],
      handlers,
      walk,
    );
    assert.deepEqual(seen, ['name before 1 handler calls']);
    assert.doesNotThrow(() => eachMessage([{ role: 'user', name: 'ann' }], handlers, WALK), 'without droppedName a name is left to the handlers');
  });

  test('check runs on every message before its role is dispatched, and its refusal wins', () => {
    const { handlers, calls } = recording();
    const checked: number[] = [];
    const noTools: MessageWalk = {
      ...WALK,
      check: (msg, where, i) => {
        checked.push(i);
        if (msg.role === 'tool') throw new GatewayError('invalid_request', `${where}: no tools here`);
      },
    };
    eachMessage([{ role: 'system' }, { role: 'user' }], handlers, noTools);
    assert.deepEqual(checked, [0, 1]);
    // Refused by check although the tool_call_id is missing too.
    assert.throws(() => eachMessage([{ role: 'tool' }], handlers, noTools), /messages\[0\]: no tools here/);
    assert.equal(calls.length, 2);
  });
});

describe('eachPart', () => {
  const collect = (content: unknown): Array<[unknown, string]> => {
    const parts: Array<[unknown, string]> = [];
    eachPart(content as never, 'messages[2]', (part, at) => parts.push([part, at]));
    return parts;
  };

  test('a string is one text part, null and absent content none, an array its parts with their places', () => {
    assert.deepEqual(collect('hi'), [[{ type: 'text', text: 'hi' }, 'messages[2].content']]);
    assert.deepEqual(collect(''), [[{ type: 'text', text: '' }, 'messages[2].content']]);
    assert.deepEqual(collect(null), []);
    assert.deepEqual(collect(undefined), []);
    assert.deepEqual(collect([{ type: 'text', text: 'a' }, { type: 'image_url' }]), [
      [{ type: 'text', text: 'a' }, 'messages[2].content[0]'],
      [{ type: 'image_url' }, 'messages[2].content[1]'],
    ]);
  });

  test('other content, and a part that is not an object, are refused when reached', () => {
    assert.throws(() => collect(5), refused('messages[2].content must be a string or an array of parts', 'messages[2].content'));
    assert.throws(() => collect({ type: 'text' }), refused('messages[2].content must be a string or an array of parts', 'messages[2].content'));
    const seen: string[] = [];
    assert.throws(
      () => eachPart([{ type: 'text', text: 'a' }, 'b', { type: 'text', text: 'c' }] as never, 'messages[0]', (_part, at) => seen.push(at)),
      refused('messages[0].content[1] must be an object', 'messages[0].content[1]'),
    );
    assert.deepEqual(seen, ['messages[0].content[0]'], 'the parts before the bad one were written, none after');
  });
});
