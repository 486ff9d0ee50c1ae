import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { checkChatRequest, checkEmbeddingsRequest, paramOf } from './openai-schema.js';

const user = { role: 'user', content: 'hi' };
const chat = (fields: Record<string, unknown>) => ({ model: 'm', messages: [user], ...fields });

/** Asserts `run` throws a 400 invalid_request naming `param`, whose message starts with `"param"`. */
function refused(run: () => unknown, param: string, message?: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.code, 'invalid_request');
    assert.equal(err.status, 400);
    assert.equal(err.param, param);
    assert.ok(err.message.startsWith(`"${param}" `), err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('chat request schema: hostile bodies are 400s naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['messages: [null]', { messages: [null] }, 'messages[0]', /must be an object, not null/],
    ['messages missing', { messages: undefined }, 'messages', /^"messages" must be a non-empty array$/],
    ['messages: []', { messages: [] }, 'messages', /^"messages" must be a non-empty array$/],
    ['messages: "x"', { messages: 'x' }, 'messages', /^"messages" must be a non-empty array$/],
    ['an unknown role', { messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role', /must be "system" or "developer" or "user" or "assistant" or "tool" or "function"/],
    ['content: 42', { messages: [{ role: 'user', content: 42 }] }, 'messages[0].content', /must be a string, an array of content parts, or null/],
    ['content: {}', { messages: [{ role: 'user', content: { type: 'text', text: 'x' } }] }, 'messages[0].content', /must be a string, an array of content parts, or null/],
    ['content: [null]', { messages: [{ role: 'user', content: [null] }] }, 'messages[0].content[0]', /content part object/],
    ['a part of an unknown type', { messages: [{ role: 'user', content: [{ type: 'video', video: 'x' }] }] }, 'messages[0].content[0].type', /must be one of "text", "image_url", "refusal", "input_audio", "file"/],
    ['text: 5', { messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }, 'messages[0].content[0].text', /must be a string, not an integer/],
    ['image_url: null', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: null }] }] }, 'messages[0].content[0].image_url', /must be an object, not null/],
    ['image_url.url missing', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages[0].content[0].image_url.url', /is required/],
    ['tools: "x"', { tools: 'x' }, 'tools', /must be an array, not a string/],
    ['tools: [null]', { tools: [null] }, 'tools[0]', /must be a tool object/],
    ['a tool of an unknown type', { tools: [{ type: 'web_search' }] }, 'tools[0].type', /must be one of "function", "custom"/],
    ['a function tool without its function', { tools: [{ type: 'function' }] }, 'tools[0].function', /is required/],
    ['parameters that are not an object', { tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] }, 'tools[0].function.parameters', /JSON Schema object/],
    ['tool_calls: "x"', { messages: [user, { role: 'assistant', tool_calls: 'x' }] }, 'messages[1].tool_calls', /must be an array/],
    ['tool_calls of the wrong type', { messages: [user, { role: 'assistant', tool_calls: [{ id: 'c', type: 'tool', function: { name: 'f', arguments: '{}' } }] }] }, 'messages[1].tool_calls[0].type', /must be one of "function", "custom"/],
    ['a tool call without an id', { messages: [user, { role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] }] }, 'messages[1].tool_calls[0].id', /is required/],
    ['arguments as an object', { messages: [user, { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: {} } }] }] }, 'messages[1].tool_calls[0].function.arguments', /must be a string, not an object/],
    ['tool_call_id: 7', { messages: [user, { role: 'tool', tool_call_id: 7, content: 'x' }] }, 'messages[1].tool_call_id', /must be a string/],
    ['tool_choice: "sometimes"', { tool_choice: 'sometimes' }, 'tool_choice', /must be "none", "auto", "required", or an object/],
    ['tool_choice without a function', { tool_choice: { type: 'function' } }, 'tool_choice.function', /is required/],
    ['response_format json_schema without its schema object', { response_format: { type: 'json_schema' } }, 'response_format.json_schema', /is required/],
    ['n: 0', { n: 0 }, 'n', /must be at least 1/],
    ['n: 129', { n: 129 }, 'n', /must be at most 128/],
    ['max_tokens: 1.5', { max_tokens: 1.5 }, 'max_tokens', /must be an integer/],
    ['temperature: "hot"', { temperature: 'hot' }, 'temperature', /must be a number, not a string/],
    ['stream: "yes"', { stream: 'yes' }, 'stream', /must be a boolean/],
    ['stop: [1]', { stop: [1] }, 'stop[0]', /must be a string/],
    ['stream_options.include_usage: 1', { stream_options: { include_usage: 1 } }, 'stream_options.include_usage', /must be a boolean/],
    ['logit_bias values that are not numbers', { logit_bias: { '50256': 'x' } }, 'logit_bias["50256"]', /must be a number/],
  ];
  for (const [name, fields, param, message] of cases) test(name, () => refused(() => checkChatRequest(chat(fields)), param, message));
});

describe('chat request schema: valid bodies pass unchanged', () => {
  const valid: Array<[string, Record<string, unknown>]> = [
    ['the minimum', {}],
    ['nulls for optional fields', { stream: null, tools: null, tool_choice: null, stop: null, n: null, response_format: null, user: null, temperature: null }],
    ['unknown top-level fields (OpenAI adds them)', { service_tier: 'auto', prompt_cache_key: 'k', some_future_field: { a: [1] } }],
    ['every role and part type', {
      messages: [
        { role: 'system', content: [{ type: 'text', text: 's' }] },
        { role: 'developer', content: 'd' },
        { role: 'user', name: 'u', content: [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }, { type: 'input_audio', input_audio: { data: 'AA==', format: 'wav' } }, { type: 'file', file: { file_id: 'f' } }] },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }], tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }, { id: 'c2', type: 'custom', custom: { name: 'g', input: 'x' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'r' },
        { role: 'assistant', content: null },
      ],
    }],
    ['tools, tool_choice and response_format', {
      tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' }, strict: true } }, { type: 'custom', custom: { name: 'g' } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object' }, strict: true } },
    }],
    ['allowed_tools', { tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'f' } }] } } }],
    ['sampling parameters', { max_tokens: 10, max_completion_tokens: 20, temperature: 0.5, top_p: 1, n: 128, stop: ['a', 'b'], seed: 3, presence_penalty: 0.1, frequency_penalty: -0.1, logprobs: false, top_logprobs: 0, logit_bias: { '1': -100 } }],
  ];
  for (const [name, fields] of valid) {
    test(name, () => {
      const body = chat(fields);
      const checked = checkChatRequest(body);
      // The client's own object: its fields keep their order (translators report dropped ones in it).
      assert.equal(checked, body);
      assert.deepEqual(Object.keys(checked), Object.keys(body));
    });
  }
});

describe('embeddings request schema', () => {
  const input = '"input" must be a string, a non-empty array of strings, or token ids (an array of integers, or of arrays of integers)';
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['no input', { model: 'e' }, 'input', input],
    ['input: []', { model: 'e', input: [] }, 'input', input],
    ['input: [1.5]', { model: 'e', input: [1.5] }, 'input', input],
    ['input: {}', { model: 'e', input: {} }, 'input', input],
    ['encoding_format: "hex"', { model: 'e', input: 'x', encoding_format: 'hex' }, 'encoding_format', '"encoding_format" must be "float" or "base64"'],
    ['dimensions: 0', { model: 'e', input: 'x', dimensions: 0 }, 'dimensions', '"dimensions" must be a positive integer'],
    ['dimensions: 1.5', { model: 'e', input: 'x', dimensions: 1.5 }, 'dimensions', '"dimensions" must be a positive integer'],
    ['user: 1', { model: 'e', input: 'x', user: 1 }, 'user', '"user" must be a string, not an integer'],
  ];
  for (const [name, body, param, message] of cases) test(`refused: ${name}`, () => refused(() => checkEmbeddingsRequest(body), param, new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)));
  for (const body of [{ model: 'e', input: 'x' }, { model: 'e', input: ['a', 'b'], encoding_format: 'base64', dimensions: 8 }, { model: 'e', input: [1, 2] }, { model: 'e', input: [[1], [2, 3]], encoding_format: null, extra: true }]) {
    test(`accepted: ${JSON.stringify(body)}`, () => assert.equal(checkEmbeddingsRequest(body), body));
  }
});

test('paramOf spells paths as OpenAI does', () => {
  assert.equal(paramOf(['messages', 1, 'tool_calls', 0, 'type']), 'messages[1].tool_calls[0].type');
  assert.equal(paramOf(['logit_bias', '50256']), 'logit_bias["50256"]');
  assert.equal(paramOf(['a b']), '["a b"]');
  assert.equal(paramOf([]), '');
});
