import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claudeCodeTurn, FIRST_LINE_PREFIX, readTask } from './claude-script.js';

const NOTE = '/tmp/work/note.txt';
const MODEL = 'claude-opus-4-8';

/** The first user turn as Claude Code sends it: system reminders, then the prompt, as text blocks. */
const USER = { role: 'user', content: [{ type: 'text', text: '<system-reminder>\nContext.\n</system-reminder>' }, { type: 'text', text: readTask(NOTE) }] };

function toolUseOf(turn: ReturnType<typeof claudeCodeTurn>): { id: string; name: string; input: unknown } {
  const block = turn?.message.content[0] as { type: string; id: string; name: string; input: unknown };
  assert.equal(block.type, 'tool_use');
  return block;
}

function answered(result: Record<string, unknown>): ReturnType<typeof claudeCodeTurn> {
  const first = claudeCodeTurn({ messages: [USER] }, MODEL);
  const call = toolUseOf(first);
  return claudeCodeTurn({
    messages: [USER, { role: 'system', content: 'Mid-conversation instruction.' }, { role: 'assistant', content: [call] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, ...result }] }],
  }, MODEL);
}

describe('claude-script: the scripted Read task', () => {
  test('other conversations are not scripted', () => {
    for (const body of [{}, { messages: [] }, { messages: [{ role: 'user', content: 'What is the weather in Paris?' }] }, { messages: [{ role: 'user', content: 'Use the Read tool to read note.txt and reply with its first line.' }] }]) {
      assert.equal(claudeCodeTurn(body, MODEL), undefined, JSON.stringify(body));
    }
  });

  test('the first turn calls Read on the absolute path named in the prompt (string or text blocks)', () => {
    for (const user of [USER, { role: 'user', content: readTask(NOTE) }]) {
      const turn = claudeCodeTurn({ messages: [user] }, MODEL);
      const call = toolUseOf(turn);
      assert.equal(call.name, 'Read');
      assert.deepEqual(call.input, { file_path: NOTE });
      assert.equal(turn?.message['stop_reason'], 'tool_use');
      assert.equal(turn?.message['model'], MODEL);
    }
  });

  test("once Read's result is back, the answer carries its first line without Read's line number", () => {
    for (const content of ['     1\tthe line\n     2\tnext', [{ type: 'text', text: '1→the line\n2→next' }], 'the line\nnext']) {
      const turn = answered({ content });
      assert.deepEqual(turn?.message.content, [{ type: 'text', text: `${FIRST_LINE_PREFIX}the line` }], JSON.stringify(content));
      assert.equal(turn?.message['stop_reason'], 'end_turn');
    }
  });

  test('a failed Read is reported, not answered as a line', () => {
    const turn = answered({ content: 'File does not exist.', is_error: true });
    assert.deepEqual(turn?.message.content, [{ type: 'text', text: 'The Read tool failed: File does not exist.' }]);
  });

  test('a tool_result for a call the script did not make does not count as the Read result', () => {
    const turn = claudeCodeTurn({
      messages: [USER, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_other', name: 'Bash', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_other', content: 'x' }] }],
    }, MODEL);
    assert.equal(toolUseOf(turn).name, 'Read');
  });

  test('the stream events rebuild the message in the API order', () => {
    for (const turn of [claudeCodeTurn({ messages: [USER] }, MODEL), answered({ content: '1\tthe line' })]) {
      const events = turn!.events;
      assert.deepEqual(events.map((e) => e['type']), ['message_start', 'content_block_start', ...events.slice(2, -3).map(() => 'content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
      const start = events[1]!['content_block'] as Record<string, unknown>;
      const deltas = events.slice(2, -3).map((e) => e['delta'] as { type: string; text?: string; partial_json?: string });
      const block = turn!.message.content[0]!;
      if (block['type'] === 'tool_use') {
        assert.deepEqual(start, { ...block, input: {} });
        assert.ok(deltas.every((d) => d.type === 'input_json_delta'));
        assert.deepEqual(JSON.parse(deltas.map((d) => d.partial_json).join('')), block['input']);
      } else {
        assert.deepEqual(start, { type: 'text', text: '' });
        assert.equal(deltas.map((d) => d.text).join(''), block['text']);
      }
      assert.equal((events.at(-2)!['delta'] as { stop_reason: string }).stop_reason, turn!.message['stop_reason']);
    }
  });
});
