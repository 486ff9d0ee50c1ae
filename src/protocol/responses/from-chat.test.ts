import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { anthropicChat } from '../anthropic-messages/index.js';
import type { ChatCompletion, FinishReason, ToolCall } from '../openai.js';
import { chatToResponse, responseUsage } from './from-chat.js';
import { checkResponsesRequest } from './schema.js';
import type { ResponseMeta } from './types.js';

function counter(): (prefix: string) => string {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

function meta(fields: Record<string, unknown> = {}): ResponseMeta {
  return { id: 'resp_1', createdAt: 1700000000, completedAt: 1700000002, model: 'my-alias', request: checkResponsesRequest({ model: 'my-alias', input: 'hi', ...fields }) };
}

function completion(content: string | null, finish: FinishReason | null, toolCalls: ToolCall[] = [], usage?: ChatCompletion['usage'], refusal: string | null = null): ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1700000001,
    model: 'provider-model',
    choices: [{ index: 0, message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), refusal }, finish_reason: finish, logprobs: null }],
    ...(usage ? { usage } : {}),
  };
}

const call = (id: string, name: string, args: string): ToolCall => ({ id, type: 'function', function: { name, arguments: args } });

describe('chatToResponse', () => {
  test('a text answer: one completed message, usage, the request echoed with OpenAI defaults', () => {
    const r = chatToResponse(completion('Hello!', 'stop', [], { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }), meta(), counter());
    assert.deepEqual(r, {
      id: 'resp_1',
      object: 'response',
      created_at: 1700000000,
      status: 'completed',
      completed_at: 1700000002,
      background: false,
      error: null,
      incomplete_details: null,
      instructions: null,
      max_output_tokens: null,
      max_tool_calls: null,
      model: 'my-alias',
      output: [{ id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Hello!' }] }],
      parallel_tool_calls: true,
      previous_response_id: null,
      prompt_cache_key: null,
      reasoning: { effort: null, summary: null },
      safety_identifier: null,
      service_tier: 'default',
      store: true,
      temperature: 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: 'auto',
      tools: [],
      top_logprobs: 0,
      top_p: 1,
      truncation: 'disabled',
      usage: { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 7 },
      user: null,
      metadata: {},
    });
  });

  test('the request settings the client set are echoed as set', () => {
    const tools = [{ type: 'function', name: 'f', parameters: { type: 'object' }, strict: true }];
    const format = { type: 'json_schema', name: 'a', schema: { type: 'object' } };
    const r = chatToResponse(
      completion('{}', 'stop'),
      meta({ instructions: 'Be brief.', tools, tool_choice: 'required', temperature: 0.3, top_p: 0.5, max_output_tokens: 9, metadata: { k: 'v' }, parallel_tool_calls: false, previous_response_id: 'resp_0', store: false, text: { format, verbosity: 'low' }, reasoning: { effort: 'low', summary: 'auto' }, truncation: 'auto', user: 'u' }),
      counter(),
    );
    assert.equal(r.instructions, 'Be brief.');
    assert.deepEqual(r.tools, tools);
    assert.equal(r.tool_choice, 'required');
    assert.deepEqual([r.temperature, r.top_p, r.max_output_tokens, r.parallel_tool_calls, r.previous_response_id, r.store, r.truncation, r.user], [0.3, 0.5, 9, false, 'resp_0', false, 'auto', 'u']);
    assert.deepEqual(r.metadata, { k: 'v' });
    assert.deepEqual(r.text, { format, verbosity: 'low' });
    assert.deepEqual(r.reasoning, { effort: 'low', summary: 'auto' });
  });

  test('text then tool calls: a message, then function_call items in order (no message when there is no text)', () => {
    const calls = [call('call_a', 'get_weather', '{"city":"Paris"}'), call('call_b', 'get_time', '{}')];
    const r = chatToResponse(completion('Checking.', 'tool_calls', calls), meta(), counter());
    assert.deepEqual(r.output, [
      { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Checking.' }] },
      { id: 'fc_2', type: 'function_call', status: 'completed', arguments: '{"city":"Paris"}', call_id: 'call_a', name: 'get_weather' },
      { id: 'fc_3', type: 'function_call', status: 'completed', arguments: '{}', call_id: 'call_b', name: 'get_time' },
    ]);
    assert.deepEqual(chatToResponse(completion(null, 'tool_calls', calls), meta(), counter()).output.map((i) => i.type), ['function_call', 'function_call']);
  });

  test('finish_reason length: incomplete (max_output_tokens), the last item incomplete, no completed_at', () => {
    const r = chatToResponse(completion('Once upon a', 'length'), meta({ max_output_tokens: 3 }), counter());
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.output[0]!.status, 'incomplete');
    assert.equal('completed_at' in r, false);
  });

  test('finish_reason content_filter: incomplete (content_filter)', () => {
    const r = chatToResponse(completion('', 'content_filter'), meta(), counter());
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'content_filter' });
  });

  test('a refusal is a refusal part; an empty answer is still one (empty) message', () => {
    const r = chatToResponse(completion(null, 'stop', [], undefined, 'I cannot help with that.'), meta(), counter());
    assert.deepEqual(r.output, [{ id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot help with that.' }] }]);
    const empty = chatToResponse(completion(null, 'stop'), meta(), counter());
    assert.deepEqual(empty.output.map((i) => (i.type === 'message' ? i.content : [])), [[{ type: 'output_text', annotations: [], logprobs: [], text: '' }]]);
  });

  test('usage: cached and reasoning tokens when the provider reports them, zeros when it reports nothing', () => {
    assert.deepEqual(responseUsage({ prompt_tokens: 100, completion_tokens: 40, total_tokens: 140, prompt_tokens_details: { cached_tokens: 80 }, completion_tokens_details: { reasoning_tokens: 30 } }), {
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 80 },
      output_tokens: 40,
      output_tokens_details: { reasoning_tokens: 30 },
      total_tokens: 140,
    });
    assert.deepEqual(responseUsage(undefined), { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 });
  });

  test('through the Anthropic translator: a tool_use answer becomes a function_call with its call id', () => {
    const translator = anthropicChat({ model: 'claude-test-1', id: 'chatcmpl-1', created: 1700000001, stream: false, includeUsage: false });
    const answer = {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: 'claude-test-1',
      content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 10 },
    };
    const r = chatToResponse(translator.response(Buffer.from(JSON.stringify(answer))), meta(), counter());
    assert.equal(r.status, 'completed');
    assert.deepEqual(r.output.map((i) => (i.type === 'function_call' ? [i.call_id, i.name, JSON.parse(i.arguments)] : [i.content[0]])), [
      [{ type: 'output_text', annotations: [], logprobs: [], text: 'Let me check.' }],
      ['toolu_1', 'get_weather', { city: 'Paris' }],
    ]);
    assert.deepEqual([r.usage?.input_tokens, r.usage?.output_tokens, r.usage?.total_tokens], [20, 10, 30]);
  });
});
