import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateInputTokens } from './estimate.js';
import { checkCountTokensRequest } from './schema.js';

const estimate = (body: Record<string, unknown>) => estimateInputTokens(checkCountTokensRequest({ model: 'm', ...body }));

test('text: 3 per request + 4 per message + ceil(chars / 4) over the whole request', () => {
  assert.equal(estimate({ messages: [{ role: 'user', content: 'Hello, world' }] }), 3 + 4 + 3);
  // 'abcde' (5) + 'fg' (2) = 7 chars → 2 tokens, counted together, not per piece.
  assert.equal(estimate({ system: 'abcde', messages: [{ role: 'user', content: [{ type: 'text', text: 'fg' }] }] }), 3 + 4 + 2);
});

test('images and non-text documents are 1,600 each; plain-text documents count their text', () => {
  const png = { type: 'base64', media_type: 'image/png', data: 'A'.repeat(4000) };
  assert.equal(estimate({ messages: [{ role: 'user', content: [{ type: 'image', source: png }, { type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] }), 3 + 4 + 3200);
  assert.equal(estimate({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }] }] }), 3 + 4 + 1600);
  assert.equal(estimate({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: '12345678' } }] }] }), 3 + 4 + 2);
});

test('tool use and results count their names, inputs and texts; tools add 350 and their JSON', () => {
  const messages = [
    { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'abcd', input: { a: 1 } }] }, // 'abcd' + '{"a":1}' = 11
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'x' }] }] }, // 1
  ];
  assert.equal(estimate({ messages }), 3 + 8 + 3);
  const tool = { name: 'n', input_schema: { type: 'object' } };
  const toolChars = JSON.stringify(tool).length;
  assert.equal(estimate({ messages: [{ role: 'user', content: 'abcd' }], tools: [tool] }), 3 + 4 + 350 + Math.ceil((4 + toolChars) / 4));
});

test('grows with the text: a long conversation estimates more than a short one', () => {
  const short = estimate({ messages: [{ role: 'user', content: 'hi' }] });
  const long = estimate({ messages: [{ role: 'user', content: 'hi '.repeat(1000) }] });
  assert.equal(long - short, Math.ceil(3000 / 4) - 1);
});
