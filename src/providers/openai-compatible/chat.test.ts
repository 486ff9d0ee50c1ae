import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StreamIncomplete } from '../../protocol/translator.js';
import { openaiCompatibleChat } from './chat.js';

const OPTIONS = { model: 'gpt-4o', id: 'chatcmpl-test', created: 0, stream: true, includeUsage: false };
const chunk = (content: string) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o', choices: [{ index: 0, delta: { content }, finish_reason: null, logprobs: null }] })}\n\n`;

describe('openaiCompatibleChat streams', () => {
  test('a complete stream ends at [DONE]; without it, end() throws StreamIncomplete', () => {
    const ok = openaiCompatibleChat(OPTIONS);
    assert.deepEqual(ok.push(Buffer.from(chunk('Hel') + chunk('lo') + 'data: [DONE]\n\n')).map((c) => c.choices[0]?.delta.content), ['Hel', 'lo']);
    assert.deepEqual(ok.end(), []);
    const cut = openaiCompatibleChat(OPTIONS);
    cut.push(Buffer.from(chunk('Hel')));
    assert.throws(() => cut.end(), StreamIncomplete);
  });

  test('an error event after chunks in the same read: the chunks first, then the error, whatever the split', () => {
    const bytes = chunk('Hel') + chunk('lo') + `data: ${JSON.stringify({ error: { message: 'overloaded' } })}\n\n`;
    for (const cutAt of [bytes.length, 10, bytes.indexOf('data: {"error"')]) {
      const t = openaiCompatibleChat(OPTIONS);
      const seen: string[] = [];
      let failure: unknown;
      try {
        for (const part of [bytes.slice(0, cutAt), bytes.slice(cutAt)]) for (const c of t.push(Buffer.from(part))) seen.push(c.choices[0]!.delta.content!);
        t.end();
      } catch (err) {
        failure = err;
      }
      assert.deepEqual(seen, ['Hel', 'lo'], `split at ${cutAt}`);
      assert.ok(failure instanceof StreamIncomplete && /overloaded/.test(failure.message), `split at ${cutAt}`);
    }
  });
});
