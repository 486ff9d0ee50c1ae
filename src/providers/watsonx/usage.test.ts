import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import { UsageObserver } from '../usage.js';
import { watsonxUsage } from './usage.js';

const SUB = 'wire/watsonx';

function observe(contentType: string, chunks: Uint8Array[]) {
  const observer = UsageObserver.for(watsonxUsage, contentType)!;
  for (const c of chunks) observer.push(Buffer.from(c));
  return observer.end();
}

describe('watsonx usage in transparent mode', () => {
  const recorded: Array<[string, string, number, number]> = [
    ['chat_response_multiple_choices.json', 'ibm/granite-4-h-small', 34, 36],
    ['chat_response_multiple_choices_with_tools.json', 'ibm/granite-3-8b-instruct', 85, 45],
    ['chat_streaming_response_multiple_choices.txt', 'openai/gpt-oss-120b', 77, 92],
    ['chat_streaming_response_multiple_choices_with_tools.txt', 'openai/gpt-oss-120b', 158, 138],
    ['granite_thinking_streaming_response.txt', 'ibm/granite-3-3-8b-instruct', 195, 157],
  ];
  for (const [file, model, input, output] of recorded) {
    test(`${file}: ${input} in, ${output} out`, { skip: testdataSkip(SUB) }, () => {
      const bytes = readTestdata(SUB, file);
      const type = file.endsWith('.json') ? 'application/json' : 'text/event-stream';
      assert.deepEqual(observe(type, [bytes]), { model, inputTokens: input, outputTokens: output });
      assert.deepEqual(observe(type, randomChunks(bytes, 7)), { model, inputTokens: input, outputTokens: output });
    });
  }

  test('text generation and embeddings report token counts of their own', () => {
    const generation = { model_id: 'ibm/granite-13b', results: [{ generated_text: 'x', generated_token_count: 9, input_token_count: 5, stop_reason: 'eos_token' }] };
    assert.deepEqual(observe('application/json', [Buffer.from(JSON.stringify(generation))]), { model: 'ibm/granite-13b', inputTokens: 5, outputTokens: 9 });
    const embeddings = { model_id: 'ibm/slate-30m-english-rtrvr', results: [{ embedding: [0.1] }, { embedding: [0.2] }], input_token_count: 8 };
    assert.deepEqual(observe('application/json; charset=utf-8', [Buffer.from(JSON.stringify(embeddings))]), { model: 'ibm/slate-30m-english-rtrvr', inputTokens: 8, outputTokens: 0 });
    assert.equal(observe('application/json', [Buffer.from('{"errors":[{"code":"x","message":"y"}],"status_code":400}')]), undefined);
  });
});
