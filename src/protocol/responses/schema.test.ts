import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { checkResponsesRequest } from './schema.js';

const body = (fields: Record<string, unknown>) => ({ model: 'm', input: 'hi', ...fields });

/** Asserts `run` throws a 400 invalid_request naming `param`, whose message starts with `"param"` and says `message`. */
function refused(run: () => unknown, param: string, message: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.code, 'invalid_request');
    assert.equal(err.status, 400);
    assert.equal(err.param, param);
    assert.ok(err.message.startsWith(`"${param}" `), err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe('responses request schema: malformed bodies are 400s naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['no model', { model: undefined }, 'model', /is required/],
    ['input: 5', { input: 5 }, 'input', /must be a string or an array of input items/],
    ['input: [null]', { input: [null] }, 'input[0]', /must be an input item object/],
    ['a message of an unknown role', { input: [{ role: 'robot', content: 'x' }] }, 'input[0].role', /must be "user" or "assistant" or "system" or "developer"/],
    ['typed message content: 7', { input: [{ type: 'message', role: 'user', content: 7 }] }, 'input[0].content', /must be a string or an array of content parts/],
    ['a part of an unknown type', { input: [{ role: 'user', content: [{ type: 'video' }] }] }, 'input[0].content[0].type', /must be one of "input_text", "input_image", "input_file", "output_text", "refusal"/],
    ['input_text without text', { input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, 'input[0].content[0].text', /is required \(a string\)/],
    ['input_image without image_url or file_id', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_image' }] }] }, 'input[0].content[1].image_url', /is required \(a URL or a data URL\) unless file_id is set/],
    ['input_image with a numeric image_url', { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 1 }] }] }, 'input[0].content[0].image_url', /must be a string, not an integer/],
    ['function_call without arguments', { input: [{ type: 'function_call', call_id: 'c', name: 'f' }] }, 'input[0].arguments', /is required \(a string\)/],
    ['function_call with object arguments', { input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: {} }] }, 'input[0].arguments', /must be a string, not an object/],
    ['function_call_output of 3', { input: [{ type: 'function_call_output', call_id: 'c', output: 3 }] }, 'input[0].output', /must be a string or an array of content parts/],
    ['an item of a non-string type', { input: [{ type: 5 }] }, 'input[0].type', /must be a string: an item type such as "message"/],
    ['a tool of a non-string type', { tools: [{ type: 5 }] }, 'tools[0].type', /must be a string: "function" or a built-in tool type/],
    ['an item reference without id', { input: [{ type: 'item_reference' }] }, 'input[0].id', /is required/],
    ['instructions: []', { instructions: [] }, 'instructions', /must be a string, not an array/],
    ['tools: [null]', { tools: [null] }, 'tools[0]', /must be a tool object with a "type"/],
    ['a function tool without a name', { tools: [{ type: 'function' }] }, 'tools[0].name', /is required/],
    ['a function tool with array parameters', { tools: [{ type: 'function', name: 'f', parameters: [] }] }, 'tools[0].parameters', /JSON Schema object/],
    ['tool_choice: "sometimes"', { tool_choice: 'sometimes' }, 'tool_choice', /must be "none", "auto", "required", or an object/],
    ['tool_choice function without a name', { tool_choice: { type: 'function' } }, 'tool_choice.name', /is required/],
    ['text.format of an unknown type', { text: { format: { type: 'yaml' } } }, 'text.format.type', /must be one of "text", "json_object", "json_schema"/],
    ['json_schema without its schema', { text: { format: { type: 'json_schema', name: 'x' } } }, 'text.format.schema', /must be a JSON Schema object/],
    ['max_output_tokens: 0', { max_output_tokens: 0 }, 'max_output_tokens', /must be at least 1/],
    ['max_output_tokens: 1.5', { max_output_tokens: 1.5 }, 'max_output_tokens', /must be an integer/],
    ['temperature: "hot"', { temperature: 'hot' }, 'temperature', /must be a number, not a string/],
    ['reasoning.effort: 1', { reasoning: { effort: 1 } }, 'reasoning.effort', /must be a string/],
    ['metadata with a number', { metadata: { a: 1 } }, 'metadata.a', /must be a string, not an integer/],
    ['metadata with 17 keys', { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', /must have at most 16 keys/],
    ['metadata with a long value', { metadata: { a: 'x'.repeat(513) } }, 'metadata.a', /at most 512 characters/],
    ['store: "yes"', { store: 'yes' }, 'store', /must be a boolean/],
    ['truncation: "middle"', { truncation: 'middle' }, 'truncation', /must be "auto" or "disabled"/],
    ['include: "x"', { include: 'x' }, 'include', /must be an array/],
    ['top_logprobs: 21', { top_logprobs: 21 }, 'top_logprobs', /must be at most 20/],
    ['conversation: 3', { conversation: 3 }, 'conversation', /must be a conversation id or an object/],
  ];
  for (const [name, fields, param, message] of cases) test(name, () => refused(() => checkResponsesRequest(body(fields)), param, message));
});

describe('responses request schema: valid bodies pass unchanged', () => {
  const valid: Array<[string, Record<string, unknown>]> = [
    ['a string input', {}],
    ['no input (previous_response_id carries the conversation)', { input: undefined, previous_response_id: 'resp_1' }],
    ['nulls for optional fields', { input: null, instructions: null, tools: null, tool_choice: null, text: null, reasoning: null, metadata: null, store: null, stream: null, truncation: null }],
    ['unknown fields (OpenAI adds them)', { prompt_cache_retention: '24h', context_management: [{ type: 'compaction' }], some_future_field: { a: [1] } }],
    ['every item the hub reads', {
      input: [
        { role: 'developer', content: 'be brief' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_image', image_url: 'https://x/y.png', detail: 'low' }, { type: 'input_image', file_id: 'file-1' }, { type: 'input_file', file_id: 'file-2' }] },
        { type: 'message', role: 'assistant', id: 'msg_1', status: 'completed', content: [{ type: 'output_text', text: 'b', annotations: [] }, { type: 'refusal', refusal: 'no' }] },
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'x' },
        { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{}', status: 'completed' },
        { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: 'r' }] },
        { type: 'item_reference', id: 'msg_0' },
        { id: 'msg_00' },
      ],
    }],
    ['items and tools only OpenAI runs (checked by the hub, not the schema)', {
      input: [{ type: 'computer_call_output', call_id: 'c', output: { type: 'computer_screenshot' } }],
      tools: [{ type: 'web_search' }, { type: 'mcp', server_label: 'x' }, { type: 'custom', name: 'g' }],
      tool_choice: { type: 'web_search_preview' },
    }],
    ['tools, tool_choice, text and reasoning', {
      tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' }, strict: true }],
      tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'f' }] },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'n', schema: { type: 'object' }, strict: true }, verbosity: 'low' },
      reasoning: { effort: 'high', summary: 'auto' },
    }],
    ['the rest', { max_output_tokens: 10, temperature: 0.5, top_p: 1, metadata: { a: 'b' }, store: false, stream: true, stream_options: { include_obfuscation: false }, user: 'u', safety_identifier: 's', prompt_cache_key: 'k', truncation: 'auto', include: ['reasoning.encrypted_content'], service_tier: 'flex', background: false, max_tool_calls: 2, top_logprobs: 0 }],
  ];
  for (const [name, fields] of valid) {
    test(name, () => {
      const b = body(fields);
      const checked = checkResponsesRequest(b);
      // The client's own object (the shorthands' defaulted `type` was only validated).
      assert.equal(checked, b);
      assert.deepEqual(Object.keys(checked), Object.keys(b));
    });
  }
});
