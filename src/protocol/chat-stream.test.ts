import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChatStream, ToolCallIndexes, type FailurePolicy, type StreamMapping, type StreamOutput } from './chat-stream.js';
import { StreamIncomplete, type TranslatorOptions } from './translator.js';

const OPTIONS: TranslatorOptions = { model: 'm', id: 'chatcmpl-1', created: 1, stream: true, includeUsage: true };

/** A toy provider: 'text:x' is content, 'done' finishes choice 0 with usage, 'boom' fails. */
class ToyEvents implements StreamMapping<string> {
  event(ev: string, out: StreamOutput): void {
    if (ev === 'boom') throw new StreamIncomplete('toy failure');
    if (ev === 'done') {
      out.choices.finish(0);
      out.usage = { inputTokens: 2, outputTokens: 3 };
      out.emit(0, {}, 'stop');
      return;
    }
    const first = out.choices.start(0);
    out.emit(0, first ? { role: 'assistant', content: ev.slice(5) } : { content: ev.slice(5) });
  }

  end(out: StreamOutput): void {
    out.choices.assertComplete('toy');
  }
}

const stream = (policy: FailurePolicy, options = OPTIONS) => new ChatStream(options, new ToyEvents(), policy);

describe('ChatStream', () => {
  test('chunks carry usage: null, and the usage chunk comes last, once, with no choices', () => {
    const s = stream('at-once');
    const out = [...s.translate(() => ['text:a', 'text:b', 'done']), ...s.end()];
    assert.deepEqual(
      out.map((c) => [c.choices[0]?.delta, c.choices[0]?.finish_reason, c.usage]),
      [
        [{ role: 'assistant', content: 'a' }, null, null],
        [{ content: 'b' }, null, null],
        [{}, 'stop', null],
        [undefined, undefined, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 }],
      ],
    );
    assert.deepEqual(s.usage(), { inputTokens: 2, outputTokens: 3 });
  });

  test('without include_usage there is no usage field and no usage chunk', () => {
    const s = stream('at-once', { ...OPTIONS, includeUsage: false });
    const out = [...s.translate(() => ['text:a', 'done']), ...s.end()];
    assert.equal(out.length, 2);
    assert.ok(out.every((c) => !('usage' in c)));
  });

  test('an end before the provider finished throws StreamIncomplete', () => {
    const s = stream('at-once');
    s.translate(() => ['text:a']);
    assert.throws(() => s.end(), StreamIncomplete);
    assert.throws(() => stream('at-once').end(), /before any choice/);
  });

  test('at-once: a failure throws now, losing the chunks of that read', () => {
    const s = stream('at-once');
    assert.throws(() => s.translate(() => ['text:a', 'boom']), /toy failure/);
  });

  test('after-chunks: the chunks of that read go out first, the failure on the next call', () => {
    const s = stream('after-chunks');
    assert.equal(s.translate(() => ['text:a', 'boom']).length, 1);
    assert.throws(() => s.translate(() => ['text:b']), /toy failure/);
  });

  test('a failed stream stays failed, whatever the policy', () => {
    for (const policy of ['at-once', 'after-chunks'] as const) {
      const s = stream(policy);
      assert.throws(() => s.translate(() => ['boom']), /toy failure/);
      assert.throws(() => s.translate(() => ['text:a']), /toy failure/);
      assert.throws(() => s.end(), /toy failure/);
    }
  });

  test('a decoder failure inside translate follows the policy too', () => {
    const s = stream('after-chunks');
    assert.throws(() =>
      s.translate(() => {
        throw new StreamIncomplete('cut frame');
      }),
    /cut frame/);
    assert.throws(() => s.end(), /cut frame/);
  });
});

describe('ToolCallIndexes', () => {
  test('each choice numbers its calls from 0; a key finds its latest call', () => {
    const t = new ToolCallIndexes();
    assert.equal(t.open(0, 'block-3'), 0);
    assert.equal(t.open(1, 'call_a'), 0);
    assert.equal(t.open(0, 'block-5'), 1);
    assert.equal(t.indexOf(0, 'block-5'), 1);
    assert.equal(t.indexOf(0, 'block-9'), undefined);
    assert.equal(t.lastKey(0), 'block-5');
    assert.equal(t.lastKey(2), undefined);
    assert.deepEqual([t.count(0), t.count(1), t.count(2)], [2, 1, 0]);
  });
});
