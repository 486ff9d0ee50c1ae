import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openaiCompatibleChat } from '../../providers/openai-compatible/chat.js';
import type { ChatCompletion } from '../openai.js';
import { chatToMessage, newMessageId, newToolUseId, stopReasonOf, toolInput, usageOf } from './from-chat.js';

const META = { id: 'msg_test', model: 'claude-via-gemini' };

function completion(message: Record<string, unknown>, finish: string | null, usage?: Record<string, unknown>): ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 0,
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finish, logprobs: null }],
    ...(usage ? { usage } : {}),
  } as ChatCompletion;
}

describe('chatToMessage', () => {
  test('text answer: one text block, end_turn, usage with cache counts 0', () => {
    const m = chatToMessage(completion({ content: 'Hello!' }, 'stop', { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 }), META);
    assert.deepEqual(m, {
      id: 'msg_test',
      type: 'message',
      role: 'assistant',
      model: 'claude-via-gemini',
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      stop_details: null,
      container: null,
      usage: { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3 },
    });
  });

  test('tool calls: text then tool_use blocks with the chat ids and parsed input; stop_reason tool_use', () => {
    const m = chatToMessage(
      completion(
        {
          content: 'Checking.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: '', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        'tool_calls',
      ),
      META,
    );
    assert.equal(m.stop_reason, 'tool_use');
    assert.deepEqual(m.content.slice(0, 2), [
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    const last = m.content[2]!;
    assert.ok(last.type === 'tool_use');
    assert.match(last.id, /^toolu_[0-9A-Za-z]{24}$/, 'a call without id gets one');
    assert.deepEqual(last.input, {});
    assert.deepEqual(m.usage, { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }, 'no usage reported');
  });

  test('reasoning_content becomes a first thinking block; refusal text a text block with stop_reason refusal', () => {
    const thought = chatToMessage(completion({ content: '4', reasoning_content: '2+2' }, 'stop'), META);
    assert.deepEqual(thought.content, [
      { type: 'thinking', thinking: '2+2', signature: '' },
      { type: 'text', text: '4' },
    ]);
    const refused = chatToMessage(completion({ refusal: 'I cannot help with that.' }, 'content_filter'), META);
    assert.deepEqual(refused.content, [{ type: 'text', text: 'I cannot help with that.' }]);
    assert.equal(refused.stop_reason, 'refusal');
  });

  test('an empty answer has no blocks; length is max_tokens', () => {
    const m = chatToMessage(completion({ content: '' }, 'length'), META);
    assert.deepEqual(m.content, []);
    assert.equal(m.stop_reason, 'max_tokens');
  });

  test('through an OpenAI-compatible translator: a recorded-shape answer with cached tokens', () => {
    const body = {
      id: 'chatcmpl-2',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306, prompt_tokens_details: { cached_tokens: 1920 } },
    };
    const chat = openaiCompatibleChat({ model: 'gpt-4o', id: 'x', created: 0, stream: false, includeUsage: false }).response(Buffer.from(JSON.stringify(body)));
    const m = chatToMessage(chat, META);
    assert.deepEqual(m.usage, { input_tokens: 86, cache_creation_input_tokens: 0, cache_read_input_tokens: 1920, output_tokens: 300 });
    assert.deepEqual(m.content, [{ type: 'text', text: 'Hi' }]);
  });
});

describe('helpers', () => {
  test('stopReasonOf', () => {
    assert.equal(stopReasonOf('stop', false), 'end_turn');
    assert.equal(stopReasonOf('stop', true), 'tool_use', 'some providers finish tool calls with stop');
    assert.equal(stopReasonOf('length', true), 'max_tokens', 'a call cut short is max_tokens, as Anthropic says');
    assert.equal(stopReasonOf('tool_calls', false), 'tool_use');
    assert.equal(stopReasonOf('content_filter', false), 'refusal');
  });

  test('toolInput: a JSON object, else {} (not JSON, an array, a string, truncated)', () => {
    assert.deepEqual(toolInput('{"a":[1,{"b":null}]}'), { a: [1, { b: null }] });
    for (const bad of ['', '  ', '{"a":', '[1]', '"x"', 'null', 'not json']) assert.deepEqual(toolInput(bad), {}, bad);
    assert.deepEqual(toolInput('['.repeat(300) + ']'.repeat(300)), {}, 'too deep is not an input');
  });

  test('usageOf never reports more cached than prompt tokens, nor negative counts', () => {
    assert.deepEqual(usageOf({ prompt_tokens: 5, completion_tokens: -1, prompt_tokens_details: { cached_tokens: 9 } }), { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 5, output_tokens: 0 });
    assert.deepEqual(usageOf(undefined), { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
  });

  test('ids look like Anthropic ids and differ', () => {
    const a = newMessageId();
    assert.match(a, /^msg_[0-9A-Za-z]{24}$/);
    assert.notEqual(a, newMessageId());
    assert.match(newToolUseId(), /^toolu_[0-9A-Za-z]{24}$/);
  });
});
